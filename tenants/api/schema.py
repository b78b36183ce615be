"""The OpenAPI schema's additions: token authentication, the error responses every operation can
answer, and decimal fields described exactly."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tenants.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "nls_<43 base62 characters><6-character checksum>",
            "description": "An organization API token from Settings → API tokens.",
        }


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error has this body.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "invalid, not_found, permission_denied, ..."},
                "message": {"type": "string", "description": "What is wrong and what to do, in a sentence."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Problems by field, when a field is at fault.",
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
_ALWAYS = {
    "400": "Invalid parameters or body; `fields` names each problem.",
    "401": "No credentials, or an invalid, expired or revoked token.",
    "403": "The token's scope or the member's role does not allow this.",
    "404": "No such object in this organization.",
    "405": "The method is not allowed here.",
    "406": "The Accept header asks for something other than JSON.",
    "429": "Too many calls for this token; retry after the Retry-After header's seconds.",
}
_WITH_BODY = {
    "409": "The change clashes with the current state (in use, already exists, changed meanwhile).",
    "413": "The body is larger than the limit.",
    "415": "The body is not JSON.",
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the error statuses every operation can answer, with the
    one error body (tenants.api.errors), so clients and schema checks know them."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = dict(_ALWAYS)
            if method in ("post", "put", "patch", "delete"):
                statuses.update(_WITH_BODY)
            for code, description in statuses.items():
                response = operation["responses"].setdefault(code, {"description": description})
                response.setdefault("content", reference)
    return result


class DecimalFieldSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """Decimals travel as strings; drf-spectacular's pattern (``^-?\\d{0,N}(?:\\.\\d{0,M})?$``) also
    matches "" and "-", and ignores the field's bounds. This pattern needs a digit, leaves out the
    sign when the minimum is not negative and the whole digits the maximum cannot have, so a value
    that matches it is one the field accepts."""

    target_class = "rest_framework.fields.DecimalField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        field = self.target
        places = field.decimal_places or 0
        whole = (field.max_digits - places) if field.max_digits is not None else None
        if field.max_value is not None:
            whole = min(whole or 99, len(str(int(abs(field.max_value)))))
        digits = f"\\d{{1,{whole}}}" if whole else "\\d+"
        fraction = f"(?:\\.\\d{{1,{places}}})?" if places else ""
        sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
        schema: dict[str, Any] = {
            "type": "string",
            "format": "decimal",
            "pattern": f"^{sign}{digits}{fraction}$",
        }
        if field.allow_null:
            schema["nullable"] = True
        return schema
