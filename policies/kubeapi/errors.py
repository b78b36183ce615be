"""Errors as the Kubernetes API server writes them: a ``Status`` object with a reason and a code, so
kubectl and client libraries print them (and retry, or not) as they would for a real cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]


class KubeError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Json | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Json:
        body: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _qualified(kind_or_resource: str, group: str) -> str:
    return f"{kind_or_resource}.{group}" if group else kind_or_resource


def not_found(resource: str, group: str, name: str) -> KubeError:
    return KubeError(
        404,
        "NotFound",
        f'{_qualified(resource, group)} "{name}" not found',
        {"name": name, "group": group, "kind": resource},
    )


def already_exists(resource: str, group: str, name: str) -> KubeError:
    return KubeError(
        409,
        "AlreadyExists",
        f'{_qualified(resource, group)} "{name}" already exists',
        {"name": name, "group": group, "kind": resource},
    )


def conflict(resource: str, group: str, name: str, why: str) -> KubeError:
    return KubeError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        {"name": name, "group": group, "kind": resource},
    )


def invalid(kind: str, group: str, name: str, causes: Sequence[tuple[str, str]]) -> KubeError:
    """422 Invalid; ``causes`` are (field path, message) pairs, as in ``spec.replicas: Invalid value``."""
    text = ", ".join(f"{field}: {message}" if field else message for field, message in causes)
    return KubeError(
        422,
        "Invalid",
        f'{_qualified(kind, group)} "{name}" is invalid: {text}',
        {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": message, "field": field}
                for field, message in causes
            ],
        },
    )


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def unauthorized(message: str) -> KubeError:
    return KubeError(401, "Unauthorized", message)


def forbidden(message: str) -> KubeError:
    return KubeError(403, "Forbidden", message)


def gone(message: str) -> KubeError:
    return KubeError(410, "Expired", message)


def method_not_allowed(message: str) -> KubeError:
    return KubeError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> KubeError:
    return KubeError(
        415, "UnsupportedMediaType", f'the body of the request was in an unknown format: "{content_type}"'
    )
