from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from clusters.models import Cluster
from tenants.models import Organization, User


class FailureBehaviour(models.TextChoices):
    STICKY = "sticky", "Sticky: stay in the cluster and wait"
    RESCHEDULE = "reschedule", "Reschedule: move after the grace period"


class FederationPolicy(models.Model):
    """Where federated workloads run. `spec` is the engine's PlacementPolicy as JSON (strategy,
    cluster selector, spread, tiers, pinned clusters, egress weight), validated by building it;
    `policies.federation.spec` documents the shape and maps it onto the engine."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="federation_policies"
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    workload_namespaces = models.JSONField(default=list, blank=True)
    workload_labels = models.JSONField(default=dict, blank=True)
    spec = models.JSONField(default=dict)
    on_failure = models.CharField(
        max_length=12, choices=FailureBehaviour.choices, default=FailureBehaviour.RESCHEDULE
    )
    grace_period_seconds = models.PositiveIntegerField(default=120)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "name"], name="unique_federation_policy_name"),
        ]

    def __str__(self) -> str:
        return self.name


class WorkloadKind(models.TextChoices):
    DEPLOYMENT = "Deployment", "Deployment"
    JOB = "Job", "Job"
    STATEFULSET = "StatefulSet", "StatefulSet"
    DAEMONSET = "DaemonSet", "DaemonSet"
    CRONJOB = "CronJob", "CronJob"


class WorkloadStatus(models.TextChoices):
    PENDING = "pending", "Pending placement"
    PLACED = "placed", "Placed, starting"
    RUNNING = "running", "Running"
    DEGRADED = "degraded", "Degraded"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    UNSCHEDULABLE = "unschedulable", "Cannot be placed"
    DELETING = "deleting", "Being removed"


class Workload(models.Model):
    """A manifest submitted for federation: one Deployment or Job plus the ConfigMaps, Secrets and
    Services it needs. Secrets' data is kept encrypted (`objects_ciphertext`) and never shown."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workloads")
    policy = models.ForeignKey(FederationPolicy, on_delete=models.PROTECT, related_name="workloads")
    name = models.CharField(max_length=253)
    namespace = models.CharField(max_length=63, default="default")
    kind = models.CharField(max_length=16, choices=WorkloadKind.choices)
    labels = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField()  # the Deployment/Job
    companion_summary = models.JSONField(default=list, blank=True)  # [{"kind", "name"}] of the other objects
    objects_ciphertext = models.TextField(blank=True)  # every other object, encrypted (may hold Secrets)
    desired_replicas = models.PositiveIntegerField(default=1)
    cpu_millis = models.PositiveIntegerField(default=0)
    memory_mib = models.PositiveIntegerField(default=0)
    gpus = models.PositiveIntegerField(default=0)
    egress_gb_per_hour = models.DecimalField(max_digits=10, decimal_places=3, default=0)
    data_location = models.CharField(max_length=64, blank=True)  # "cloud/region" the workload talks to
    completions = models.PositiveIntegerField(null=True, blank=True)  # a Job's total completions
    generation = models.PositiveIntegerField(default=1)
    scheduled_generation = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=WorkloadStatus.choices, default=WorkloadStatus.PENDING)
    status_message = models.CharField(max_length=500, blank=True)
    ready_replicas = models.PositiveIntegerField(default=0)
    available_replicas = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Written by the federation loop only: when the placement last changed (the burst return rule
    # waits on it) and the clusters it gave up on for this workload ({cluster id: until, ISO}).
    placement_changed_at = models.DateTimeField(null=True, blank=True)
    avoid_clusters = models.JSONField(default=dict, blank=True)
    # Written by the API only: deletion was asked for; the loop removes it from every member first.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["namespace", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organization", "namespace", "name", "kind"], name="unique_workload"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"


class PlacementState(models.TextChoices):
    PENDING = "pending", "Waiting to be applied"
    APPLIED = "applied", "Applied"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILING = "failing", "Failing"
    FAILED = "failed", "Failed"
    UNREACHABLE = "unreachable", "Cluster unreachable"
    REMOVING = "removing", "Being removed"


# An HPA's conditions worth showing: a problem, or a count held at a bound.
_AUTOSCALER_NEWS = {("AbleToScale", "False"), ("ScalingActive", "False"), ("ScalingLimited", "True")}


class Placement(models.Model):
    """A share of a workload in one member cluster."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="placements")
    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="placements")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="placements")
    replicas = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(null=True, blank=True)  # a Job's share of completions
    state = models.CharField(max_length=16, choices=PlacementState.choices, default=PlacementState.PENDING)
    applied_generation = models.PositiveIntegerField(default=0)
    applied_replicas = models.PositiveIntegerField(default=0)
    ready_replicas = models.PositiveIntegerField(default=0)
    available_replicas = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=500, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    unreachable_since = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # The member object's status as its cluster last reported it (Karmada's aggregatedStatus item):
    # the endpoint aggregates each kind's own fields from these (currentRevision, numberReady,
    # lastScheduleTime, ...).
    member_status = models.JSONField(default=dict, blank=True)
    # What the member reports of the workload's companions there that have a status the endpoint
    # gathers (``workers.federation.companion_statuses``): "Kind/name" -> the status of an
    # Ingress's or LoadBalancer Service's load balancer, or of an HPA.
    companion_statuses = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["cluster__name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["workload", "cluster"], name="unique_placement"),
        ]

    def __str__(self) -> str:
        return f"{self.workload} on {self.cluster}: {self.replicas}"

    @property
    def companion_notes(self) -> list[tuple[str, str]]:
        """("Kind/name", what the member reports of it, in words) for each companion there with a
        status the endpoint gathers: a load balancer's addresses, an HPA's count and conditions."""
        notes = []
        for name, reported in sorted((self.companion_statuses or {}).items()):
            if reported.get("ingress"):
                addresses = (str(e.get("ip") or e.get("hostname") or "") for e in reported["ingress"])
                notes.append((name, ", ".join(addresses)))
            elif "currentReplicas" in reported:
                told = [
                    f"{c.get('type')}: {c.get('message')}"
                    for c in reported.get("conditions") or []
                    if (c.get("type"), c.get("status")) in _AUTOSCALER_NEWS
                ]
                scaled = f"scales to {reported.get('desiredReplicas', 0)} (now {reported['currentReplicas']})"
                notes.append((name, "; ".join([scaled, *told])))
        return notes
