"""Compute Nodeless launched for nodeless clusters."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from clusters.models.clusters import Cluster
from tenants.models import Organization


class NodeState(models.TextChoices):
    LAUNCHING = "launching", "Launching"  # row written, cloud call not confirmed yet
    PENDING = "pending", "Instance running, waiting for the node"
    READY = "ready", "Ready"
    DRAINING = "draining", "Draining"
    TERMINATING = "terminating", "Terminating"
    TERMINATED = "terminated", "Terminated"
    FAILED = "failed", "Launch failed"


ACTIVE_STATES = (
    NodeState.LAUNCHING,
    NodeState.PENDING,
    NodeState.READY,
    NodeState.DRAINING,
    NodeState.TERMINATING,
)


class ManagedNode(models.Model):
    """One instance Nodeless launched, from the decision to launch it until it is gone.

    The row is written before the cloud call, with a deterministic idempotency token, so a worker
    that dies mid-launch leaves a row the next worker resumes instead of a second instance."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="managed_nodes")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="managed_nodes")
    idempotency_token = models.CharField(max_length=64, unique=True)
    plan_node_id = models.CharField(max_length=64, blank=True)  # the planner's id for this node's pods
    state = models.CharField(
        max_length=16, choices=NodeState.choices, default=NodeState.LAUNCHING, db_index=True
    )
    reason = models.CharField(max_length=300, blank=True)
    instance_id = models.CharField(max_length=64, blank=True, db_index=True)
    node_name = models.CharField(max_length=253, blank=True)
    instance_type = models.CharField(max_length=64, blank=True)
    capacity_type = models.CharField(max_length=16, blank=True)
    zone = models.CharField(max_length=32, blank=True)
    price_per_hour = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    list_price_per_hour = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    offerings = models.JSONField(default=list)  # the plan's ordered fallback list
    planned_pods = models.JSONField(default=list)  # [{"uid", "namespace", "name"}] to bind once Ready
    launched_for = models.JSONField(default=list)  # "namespace/name" of the pods it was launched for
    reserved_for_pod = models.CharField(max_length=320, blank=True)  # "namespace/name" (bin-selection)
    allocatable = models.JSONField(default=dict, blank=True)
    policy_version = models.CharField(max_length=60, blank=True)
    interrupted_at = models.DateTimeField(null=True, blank=True)
    # Consolidation: the one node launched to take this one's pods (several nodes may name the same
    # one); this node is drained once that one is Ready. The link lives on the old rows so one
    # replacement can stand for many.
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replacing"
    )
    empty_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    launch_requested_at = models.DateTimeField(null=True, blank=True)  # first call to the cloud
    launched_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]
        indexes: ClassVar = [models.Index(fields=["cluster", "state"])]

    def __str__(self) -> str:
        return self.node_name or self.instance_id or f"node {self.idempotency_token[:12]}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES
