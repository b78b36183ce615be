from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from clusters.models import Cluster
from clusters.pricing.catalogs import list_price_catalog
from policies.models import ProvisioningPolicy, ProvisioningPolicyRevision
from policies.provisioning_settings import EDITABLE_FIELDS, clean_settings, policy_settings
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization
from tenants.races import StaleVersion


class PolicyExists(Exception):
    """Creating a policy where one is already in force for the same scope."""


def provisioning_policy_save(
    organization: Organization,
    *,
    actor: Actor,
    cluster: Cluster | None,
    data: Mapping[str, Any],
    keep_unsent: bool = False,
    sent_version: int | None = None,
    create_only: bool = False,
) -> ProvisioningPolicy:
    """Validate and save the organization default (cluster=None) or a cluster's own policy.
    Each save is a new version with a revision row; nothing is saved when validation fails.

    `data` replaces every setting (what it leaves out takes the built-in default), or with
    `keep_unsent` changes only the settings it holds, merged into the policy as it is under its
    row lock (two concurrent changes of different settings both land). `sent_version`: the
    version the caller edited; another save since raises StaleVersion."""
    catalog = list_price_catalog(cluster.region if cluster is not None and cluster.region else "us-east-1")
    with transaction.atomic():
        policy = (
            ProvisioningPolicy.objects.select_for_update()
            .filter(organization=organization, cluster=cluster)
            .first()
        )
        created = policy is None
        if policy is not None and create_only:
            raise PolicyExists(
                f"{policy} already exists (id {policy.pk}, version {policy.version}); change it with PUT or PATCH."
            )
        if sent_version is not None and sent_version != (policy.version if policy else 0):
            raise StaleVersion(
                str(policy or "The policy"), sent=sent_version, current=policy.version if policy else 0
            )
        merged = {**policy_settings(policy), **data} if keep_unsent and policy is not None else dict(data)
        settings = clean_settings(merged, catalog)
        if policy is None:
            policy = ProvisioningPolicy(organization=organization, cluster=cluster, version=1)
        else:
            policy.version += 1
        for field in EDITABLE_FIELDS:
            setattr(policy, field, settings[field])
        policy.updated_at = timezone.now()
        policy.updated_by = actor.user
        policy.save()
        ProvisioningPolicyRevision.objects.create(
            organization=organization,
            policy=policy,
            version=policy.version,
            settings=policy_settings(policy),
            created_by=actor.user,
        )
        audit_record(
            organization,
            actor=actor,
            action="provisioning_policy.create" if created else "provisioning_policy.update",
            target=policy,
            target_label=str(policy),
            metadata={"version": policy.version},
        )
    return policy


@transaction.atomic
def provisioning_policy_reset(organization: Organization, *, actor: Actor, cluster: Cluster) -> None:
    """Drop a cluster's own policy so it follows the organization default again."""
    policy = ProvisioningPolicy.objects.filter(organization=organization, cluster=cluster).first()
    if policy is None:
        return
    audit_record(
        organization, actor=actor, action="provisioning_policy.reset", target=policy, target_label=str(policy)
    )
    policy.delete()
