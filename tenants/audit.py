"""The audit log: every write is recorded with its actor, target, time and address."""

from __future__ import annotations

from typing import Any

from django.db import models

from tenants.actors import Actor
from tenants.models import AuditEvent, Organization


def audit_record(
    organization: Organization | None,
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    target_label: str = "",
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        organization=organization,
        actor_user=actor.user,
        actor_token=actor.token,
        actor_label=actor.label[:200],
        action=action,
        target_type=target._meta.model_name or "" if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(target_label or (str(target) if target is not None else ""))[:200],
        ip_address=actor.ip_address,
        metadata=metadata or {},
    )
