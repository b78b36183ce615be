from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from tenants.models.accounts import Organization, Role, User


class Invitation(models.Model):
    """An invitation by link. Only a hash of the link's secret is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    secret_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.organization}"

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin"


# What a member of each role may do through a token (owner-only actions are never open to tokens).
SCOPES_OF_ROLE: dict[Role, tuple[str, ...]] = {
    Role.VIEWER: (TokenScope.READ,),
    Role.MEMBER: (TokenScope.READ, TokenScope.WRITE),
    Role.ADMIN: (TokenScope.READ, TokenScope.WRITE, TokenScope.ADMIN),
    Role.OWNER: (TokenScope.READ, TokenScope.WRITE, TokenScope.ADMIN),
}


class ApiToken(models.Model):
    """An organization API token (`nls_…`). Only its SHA-256 and its last four characters are kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    last_four = models.CharField(max_length=4)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (nls_…{self.last_four})"

    @property
    def masked(self) -> str:
        return f"nls_…{self.last_four}"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def granted_scopes(self, creator_role: Role | None) -> list[str]:
        """The scopes the token may use now: its own, capped by what its creator's current role may
        do (a demoted creator's token loses what the creator lost; a creator no longer in the
        organization leaves the token nothing). A token without a creator (one minted by another
        token before creators were recorded) keeps `read` at most."""
        if self.created_by_id is None:
            allowed = {TokenScope.READ.value}
        elif creator_role is None:
            allowed = set()
        else:
            allowed = set(SCOPES_OF_ROLE[creator_role])
        return [scope for scope in self.scopes if scope in allowed]

    def has_scope(self, scope: str) -> bool:
        """Whether the token may use `scope`: after authentication, within what its creator may still
        do (`granted`, set by the authentication); otherwise by its own scopes."""
        return scope in getattr(self, "granted", self.scopes)


class AuditEvent(models.Model):
    """Who (user or token) did what to which object, when and from where. Append-only."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_label}"
