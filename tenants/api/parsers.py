"""The one parser of API request bodies: JSON, bounded in size and depth, without NUL characters.

DRF's own JSONParser lets a deeply nested body raise RecursionError (a 500) and takes NaN, NUL
characters and integers of any length. This one answers 400 with the API's error body instead.
Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE before it is parsed (the error handler
makes that a 413); the parser checks the size again for a stream that did not come through it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

from nodeless_saas.documents import DocumentError, load_json

# A 1 MB manifest sent as a JSON string grows with its escapes; 2.5 MB is Django's own default.
DEFAULT_MAX_BODY_BYTES = 2_621_440


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None) or DEFAULT_MAX_BODY_BYTES
        raw: bytes = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit // 1000} kB.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(f"The request body is not {encoding} text.")
        try:
            return load_json(text, what="The request body", max_bytes=limit)
        except DocumentError as error:
            raise exceptions.ParseError(str(error))
