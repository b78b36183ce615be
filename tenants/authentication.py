"""`Authorization: Bearer nls_…` for the REST API."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from tenants.models import ApiToken
from tenants.selectors import api_token_by_hash
from tenants.services import api_token_touch
from tenants.tokens import PREFIX, hash_token, is_well_formed


class TokenUser:
    """Stands in for request.user on token requests: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_token_user = True

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.pk = f"token:{token.pk}"
        self.email = ""

    def __str__(self) -> str:
        return f"API token {self.token.masked}"


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != "bearer":
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Send exactly one token: 'Authorization: Bearer nls_…'.")
        value = header[1]
        if not is_well_formed(value):
            raise AuthenticationFailed(
                f"That is not a Nodeless API token: tokens start with {PREFIX!r} and end in a checksum. "
                "Copy the whole token, or create a new one in Settings → API tokens."
            )
        found = api_token_by_hash(hash_token(value))
        if found is None:
            raise AuthenticationFailed("This API token does not exist; it may have been mistyped.")
        token, creator_role = found
        if token.revoked_at is not None:
            raise AuthenticationFailed(
                f"This API token was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC; create a new one."
            )
        if token.expires_at is not None and token.expires_at <= timezone.now():
            raise AuthenticationFailed(
                f"This API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC; create a new one."
            )
        token.granted = token.granted_scopes(creator_role)  # type: ignore[attr-defined]
        if not token.granted:  # type: ignore[attr-defined]
            raise AuthenticationFailed(
                "This API token's creator is no longer a member of its organization, so the token can do "
                "nothing; a current member can create a new one."
            )
        api_token_touch(token)
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="nodeless"'
