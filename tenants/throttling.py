"""The API's rate limit, per API token (`NODELESS_API_TOKEN_RATE`, e.g. "1200/min").

Browser sessions are not throttled here: sign-in is (django-axes), and a person clicking is not
what floods an API. A throttled call gets 429 with `Retry-After` and the API's one error body.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiToken


class ApiTokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self) -> str:
        # Read when a request is checked, not when the class is imported: settings can change.
        return str(settings.NODELESS_API_TOKEN_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": str(request.auth.pk)}
