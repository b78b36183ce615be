from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from clusters.models import Cluster, ManagedNode
from tenants.models import Organization


class DecisionKind(models.TextChoices):
    LAUNCH = "launch", "Launch"
    LAUNCH_FALLBACK = "launch_fallback", "Launch fell back"
    BIND = "bind", "Bind"
    PENDING = "pending", "Left pending"
    DRAIN = "drain", "Drain"
    TERMINATE = "terminate", "Terminate"
    CONSOLIDATE = "consolidate", "Consolidate"
    INTERRUPTION = "interruption", "Spot interruption"
    GARBAGE = "garbage", "Garbage collection"
    PLACEMENT = "placement", "Placement"
    FAILOVER = "failover", "Failover"
    AUTOSCALE = "autoscale", "Scaled by HPAs"


class Decision(models.Model):
    """Every provisioning or placement decision: inputs, the chosen option, the runner-ups with
    their prices, and one line a person can read ("why is this pod on a c7g.large spot node?")."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="decisions")
    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="decisions"
    )
    node = models.ForeignKey(
        ManagedNode, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    workload = models.ForeignKey(
        "policies.Workload", null=True, blank=True, on_delete=models.CASCADE, related_name="decisions"
    )
    kind = models.CharField(max_length=20, choices=DecisionKind.choices, db_index=True)
    subject = models.CharField(max_length=320, blank=True)  # pod "ns/name", node name or workload name
    reason = models.CharField(max_length=500)
    chosen = models.JSONField(default=dict, blank=True)
    runner_ups = models.JSONField(default=list, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    cost_per_hour = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    policy_version = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["cluster", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"
