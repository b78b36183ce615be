"""Rate limits: the API's, per API token (`NODELESS_API_TOKEN_RATE`, e.g. "1200/min"), and the
anonymous forms' (sign-up, password reset), per client address and per e-mail.

Browser sessions are not throttled by the API's limit: sign-in is (django-axes), and a person
clicking is not what floods an API. A throttled API call gets 429 with `Retry-After` and the API's
one error body; a throttled form gets a 429 page. The per-e-mail limits answer as if the request
went through (no one learns anything about the address) but send nothing more: otherwise anyone
could flood a stranger's inbox through us.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from nodeless_saas.proxies import client_ip
from tenants.models import ApiToken

# Per client address: a person signs up or resets a password a few times an hour, a script more.
FORM_RATE_PER_ADDRESS = "10/h"
# Per e-mail: the mails one address can be sent through the anonymous forms.
MAILS_PER_ADDRESS_RATE = "3/h"


class ApiTokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self) -> str:
        # Read when a request is checked, not when the class is imported: settings can change.
        return str(settings.NODELESS_API_TOKEN_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": str(request.auth.pk)}


def _client_address(group: str, request: HttpRequest) -> str:
    return client_ip(request) or "unknown"


def form_throttled(request: HttpRequest, *, form: str) -> bool:
    """True when this client address has posted `form` too often (counts this request)."""
    return bool(
        is_ratelimited(
            request,
            group=f"{form}:address",
            key=_client_address,
            rate=FORM_RATE_PER_ADDRESS,
            method="POST",
            increment=True,
        )
    )


def mails_throttled(request: HttpRequest, *, form: str) -> bool:
    """True when the e-mail posted in `form` was sent enough mail lately (counts this request)."""
    return bool(
        is_ratelimited(
            request,
            group=f"{form}:email",
            key=_posted_email,
            rate=MAILS_PER_ADDRESS_RATE,
            method="POST",
            increment=True,
        )
    )


def _posted_email(group: str, request: HttpRequest) -> str:
    return str(request.POST.get("email", "")).strip().lower()
