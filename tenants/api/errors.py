"""One error body for every API 4xx: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from tenants.api.parsers import BodyTooLarge
from tenants.races import StaleVersion, race_message

_CODES = {
    400: "invalid",
    401: "authentication_failed",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


class Conflict(exceptions.APIException):
    """The request is valid but clashes with the current state (in use, already exists)."""

    status_code = 409
    default_detail = "The object is in use."
    default_code = "conflict"


def _flatten(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [message for item in value for message in _flatten(item)]
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, item in value.items() for message in _flatten(item)]
    return [str(value)]


def error_body(
    status: int, message: str, fields: dict[str, list[str]] | None = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {"code": code or _CODES.get(status, "error"), "message": message, "fields": fields or {}}
    }


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    race = race_message(exc)
    if race is not None:
        set_rollback()
        if isinstance(exc, StaleVersion):  # the request's If-Match no longer holds
            return Response(error_body(412, race, code="precondition_failed"), status=412)
        return Response(error_body(409, race), status=409)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("No such object in this organization.")
    elif isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1000} kB."
        )
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    status = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields: dict[str, list[str]] = {}
        general: list[str] = []
        if isinstance(detail, dict):
            for key, value in detail.items():
                if key in ("non_field_errors", "__all__"):
                    general.extend(_flatten(value))
                else:
                    fields[str(key)] = _flatten(value)
        else:
            general.extend(_flatten(detail))
        if general:
            message = " ".join(general)
        elif fields:
            first = next(iter(fields))
            message = f"Invalid {first}: {fields[first][0]}"
        else:
            message = "The request is invalid."
        response.data = error_body(status, message, fields)
    else:
        error_detail: Any = getattr(exc, "detail", None) or str(exc)
        message = " ".join(_flatten(error_detail))
        response.data = error_body(status, message, code=str(getattr(exc, "default_code", "")) or None)
    return response


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(404, f"No API endpoint at {request.path}; see /api/v1/docs/."), status=404)
