"""Kubernetes API errors as `kind: Status` bodies with the codes and reasons kube-apiserver uses."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API server returns as a `Status` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        list_meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_meta = list_meta  # Status.metadata, e.g. a fresh `continue` token

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_meta or {}),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(kind_plural: str, name: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind_plural}
    if group:
        details["group"] = group
    return details


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(plural, group)} "{name}" not found',
        details=_details(plural, name, group),
    )


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        details=_details(plural, name, group),
    )


def conflict(plural: str, name: str, group: str = "", why: str = "") -> ApiError:
    reason = (
        why or "the object has been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {reason}',
        details=_details(plural, name, group),
    )


# field.ErrorType of a field error, by the words its message starts with (apimachinery's
# validation/field/errors.go), which is the cause's `reason`.
_CAUSE_REASONS = (
    ("Required value", "FieldValueRequired"),
    ("Unsupported value", "FieldValueNotSupported"),
    ("Forbidden", "FieldValueForbidden"),
    ("Duplicate value", "FieldValueDuplicate"),
    ("Too long", "FieldValueTooLong"),
)


def _cause_reason(message: str) -> str:
    return next(
        (reason for words, reason in _CAUSE_REASONS if message.startswith(words)), "FieldValueInvalid"
    )


def invalid(kind: str, name: str, group: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid, with one cause per (field, message), like apimachinery's field.ErrorList
    (several errors print as `[a, b]`, as its aggregate does)."""
    texts = [f"{field}: {message}" for field, message in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": _cause_reason(m), "message": m, "field": f} for f, m in causes],
    }
    if group:
        details["group"] = group
    return ApiError(
        422,
        "Invalid",
        f'{kind}{"." + group if group else ""} "{name}" is invalid: {summary}',
        details=details,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, accepted: str = "") -> ApiError:
    if accepted:  # as for a patch type the resource does not take
        message = (
            f"the body of the request was in an unknown format - accepted media types include: {accepted}"
        )
    else:
        message = f'the body of the request was in an unknown format: "{content_type}"'
    return ApiError(415, "UnsupportedMediaType", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(user: str, verb: str, resource: str, group: str, namespace: str, name: str) -> ApiError:
    """403 with kube-apiserver's RBAC wording, e.g. `nodes "n1" is forbidden: User "x" cannot patch ...`."""
    target = f'{_qualified(resource.split("/")[0], group)} "{name}"' if name else _qualified(resource, group)
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    resource_words = f'resource "{resource.split("/")[0]}"'
    if "/" in resource:
        resource_words += f' with subresource "{resource.split("/", 1)[1]}"'
    message = (
        f'{target} is forbidden: User "{user}" cannot {verb} {resource_words} in API group "{group}"{scope}'
    )
    return ApiError(403, "Forbidden", message, details=_details(resource.split("/")[0], name, group))


def too_many_requests(message: str, causes: list[dict[str, str]]) -> ApiError:
    return ApiError(429, "TooManyRequests", message, details={"causes": causes})


def gone(message: str, list_meta: dict[str, Any] | None = None) -> ApiError:
    """410 with reason Expired, apimachinery's NewResourceExpired (watch and list alike)."""
    return ApiError(410, "Expired", message, list_meta=list_meta)


def too_large_resource_version(wanted: int, current: int) -> ApiError:
    """storage.NewTooLargeResourceVersionError: a read at a revision the server has not reached."""
    return ApiError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {wanted}, current: {current}",
        details={
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        },
    )


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message)
