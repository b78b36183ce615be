from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from clusters.models import Cluster
from engines.kube.capacity import CapacityType
from tenants.models import Organization, User

# The largest value of the integer columns below (PostgreSQL `integer`): forms, the API and the
# settings validation refuse anything larger with a message instead of a database error.
MAX_INTEGER_COLUMN = 2**31 - 1


class ObjectiveChoice(models.TextChoices):
    COST = "cost", "Cost: cheapest effective price"
    BALANCED = "balanced", "Balanced: pay a little more to avoid interruptions"
    AVAILABILITY = "availability", "Availability: strongly avoid interruptions"


class CapacityTypeChoice(models.TextChoices):
    ON_DEMAND = CapacityType.ON_DEMAND.value, "On-demand"
    SPOT = CapacityType.SPOT.value, "Spot"
    SERVERLESS = CapacityType.SERVERLESS.value, "Serverless (Fargate-like)"


class PackingChoice(models.TextChoices):
    PACK = "pack", "Pack pods onto shared nodes (bin-packing)"
    ISOLATE = "isolate", "A node per pod (bin-selection)"


def default_capacity_types() -> list[str]:
    return [CapacityType.ON_DEMAND.value, CapacityType.SPOT.value]


class ProvisioningPolicy(models.Model):
    """What Nodeless may launch for a nodeless cluster, and how it packs. `cluster` empty: the
    organization's default, used by every cluster without its own. Every save bumps `version`
    and keeps a revision, so each decision names the exact policy it was made under."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="provisioning_policies"
    )
    cluster = models.OneToOneField(
        Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="provisioning_policy"
    )
    version = models.PositiveIntegerField(default=1)
    objective = models.CharField(max_length=16, choices=ObjectiveChoice.choices, default=ObjectiveChoice.COST)
    capacity_types = models.JSONField(default=default_capacity_types)
    families_allow = models.JSONField(default=list, blank=True)
    families_deny = models.JSONField(default=list, blank=True)
    architectures = models.JSONField(default=list, blank=True)
    current_generation_only = models.BooleanField(default=False)
    min_vcpu = models.PositiveIntegerField(null=True, blank=True)
    max_vcpu = models.PositiveIntegerField(null=True, blank=True)
    min_memory_gib = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_memory_gib = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    gpu_models = models.JSONField(default=list, blank=True)
    packing = models.CharField(max_length=8, choices=PackingChoice.choices, default=PackingChoice.PACK)
    isolate_namespaces = models.JSONField(default=list, blank=True)
    isolate_label_selectors = models.JSONField(default=list, blank=True)
    isolate_cpu_millicores = models.PositiveIntegerField(null=True, blank=True)
    isolate_memory_mib = models.PositiveIntegerField(null=True, blank=True)
    isolate_gpu_pods = models.BooleanField(default=True)
    # Pods Nodeless never plans for nor touches (left to another autoscaler, or to nobody).
    exclude_namespaces = models.JSONField(default=list, blank=True)
    exclude_label_selectors = models.JSONField(default=list, blank=True)
    gpu_sharing = models.BooleanField(default=False)
    # Burstable (T-family) nodes: sized by their baseline CPU unless this opts in to unlimited mode.
    burstable_unlimited = models.BooleanField(default=False)
    max_pods_per_node = models.PositiveIntegerField(null=True, blank=True)
    scale_down_delay_seconds = models.PositiveIntegerField(default=60)
    # Consolidation moves pods only when that saves at least this share of what the nodes moved cost.
    consolidation_min_saving_pct = models.PositiveSmallIntegerField(default=10)
    max_vcpu_total = models.PositiveIntegerField(null=True, blank=True)
    max_nodes = models.PositiveIntegerField(null=True, blank=True)
    max_cost_per_hour = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    spot_max_interruption_bucket = models.PositiveSmallIntegerField(null=True, blank=True)
    spot_fallback_seconds = models.PositiveIntegerField(default=120)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(cluster=None),
                name="one_default_provisioning_policy",
            ),
        ]

    def __str__(self) -> str:
        return f"provisioning policy v{self.version} of {self.cluster or 'the organization'}"


class ProvisioningPolicyRevision(models.Model):
    """The policy as it was at one version (for decisions and the audit trail)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(ProvisioningPolicy, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    settings = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["policy", "version"], name="unique_policy_revision"),
        ]
        ordering: ClassVar = ["-version"]

    def __str__(self) -> str:
        return f"revision {self.version} of {self.policy_id}"
