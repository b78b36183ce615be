from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import ApiToken, Organization
from tenants.models.security import TokenScope
from tenants.tokens import generate_token, hash_token

MAX_TOKEN_LIFETIME = timedelta(days=366)


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    valid = set(TokenScope.values)
    unknown = [scope for scope in scopes if scope not in valid]
    if unknown:
        raise ValidationError(
            {"scopes": f"Unknown scope {unknown[0]!r}; use {', '.join(TokenScope.values)}."}
        )
    if not scopes:
        raise ValidationError({"scopes": "Choose at least one scope: read, write or admin."})
    # Write and admin imply read: a token that can change things must be able to see them.
    if "read" not in scopes:
        scopes.insert(0, "read")
    return [scope for scope in TokenScope.values if scope in scopes]


def _check_within_parent(parent: ApiToken, scopes: list[str], expires_at: datetime | None) -> None:
    """A token that mints a token gives it no more than it has: no scope it may not use, no life
    beyond its own."""
    extra = [scope for scope in scopes if not parent.has_scope(scope)]
    if extra:
        raise ValidationError(
            {
                "scopes": f"This token may not grant {', '.join(extra)}: a token only grants scopes it has itself."
            }
        )
    if parent.expires_at is not None and (expires_at is None or expires_at > parent.expires_at):
        raise ValidationError(
            {
                "expires_at": f"This token expires on {parent.expires_at:%Y-%m-%d %H:%M} UTC; the tokens it "
                "creates must expire no later."
            }
        )


@transaction.atomic
def api_token_create(
    organization: Organization,
    *,
    actor: Actor,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token. Returns the row and the plaintext token, which is never available again."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the token after what uses it, e.g. 'CI deploys'."})
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    clean_scopes = _clean_scopes(scopes)
    if expires_at is not None:
        now = timezone.now()
        if expires_at <= now:
            raise ValidationError({"expires_at": "The expiry must be in the future."})
        if expires_at > now + MAX_TOKEN_LIFETIME:
            raise ValidationError({"expires_at": "Tokens can live at most one year; pick an earlier date."})
    if actor.token is not None:
        _check_within_parent(actor.token, clean_scopes, expires_at)
    creator = actor.user or (actor.token.created_by if actor.token is not None else None)
    plaintext = generate_token()
    token = ApiToken.objects.create(
        organization=organization,
        name=name,
        token_hash=hash_token(plaintext),
        last_four=plaintext[-4:],
        scopes=clean_scopes,
        created_by=creator,
        expires_at=expires_at,
    )
    audit_record(
        organization,
        actor=actor,
        action="api_token.create",
        target=token,
        metadata={"scopes": clean_scopes, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return token, plaintext


@transaction.atomic
def api_token_revoke(organization: Organization, *, token: ApiToken, actor: Actor) -> ApiToken:
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = actor.user
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(organization, actor=actor, action="api_token.revoke", target=token)
    return token


def api_token_touch(token: ApiToken) -> None:
    """Record use, at most once per resolution window, with one conditional UPDATE."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is not None and token.last_used_at > stale_before:
        return
    ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=stale_before).update(last_used_at=now)
    token.last_used_at = now
