"""Clusters: how Nodeless reaches a customer's cluster, its mode and its health."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from clusters.models.accounts import CloudAccount
from tenants.models import Organization


class ClusterConnection(models.TextChoices):
    EKS = "eks", "EKS through a cloud account"
    KUBECONFIG = "kubeconfig", "Kubeconfig"


class ClusterMode(models.TextChoices):
    NODELESS = "nodeless", "Nodeless (we provision its compute)"
    OBSERVE = "observe", "Observe (read and place federated workloads)"


class ClusterHealth(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    UNREACHABLE = "unreachable", "Unreachable"


class ClusterStatus(models.TextChoices):
    """Whether the cluster is in service. A connection is verified by a worker (`clusters.services.
    checks`), never in the request that asked for it: until then the cluster is connecting, and the
    loops (health, metering, provisioning) leave it alone; a first verification that fails leaves it
    failed, with why in `health_problem`, until it is checked again or removed."""

    CONNECTING = "connecting", "Connecting"
    CONNECTED = "connected", "Connected"
    FAILED = "failed", "Could not connect"


class ClusterCheckStep(models.TextChoices):
    """Where a check a person asked for (connecting, "Check now") is; the page shows it as progress."""

    QUEUED = "queued", "Waiting for a worker"
    PROBING = "probing", "Reaching the API server and checking permissions"
    LISTING = "listing", "Listing nodes and pods"


class Cluster(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="clusters")
    name = models.CharField(max_length=100)
    connection = models.CharField(max_length=16, choices=ClusterConnection.choices)
    cloud_account = models.ForeignKey(
        CloudAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="clusters"
    )
    eks_cluster_name = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=32, blank=True)
    endpoint = models.URLField(max_length=500, blank=True)
    ca_pem = models.TextField(blank=True)  # a CA certificate is public; it is not a secret
    kubeconfig_ciphertext = models.TextField(blank=True)
    kubeconfig_context = models.CharField(max_length=200, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=16, choices=ClusterMode.choices, default=ClusterMode.OBSERVE)
    # A row made directly (the admin, fixtures) is taken as in service; the services connect as CONNECTING.
    status = models.CharField(max_length=16, choices=ClusterStatus.choices, default=ClusterStatus.CONNECTED)
    # A check someone asked for: when it was asked (None when none is in flight) and its step.
    check_started_at = models.DateTimeField(null=True, blank=True)
    check_step = models.CharField(max_length=16, choices=ClusterCheckStep.choices, blank=True)
    health = models.CharField(max_length=16, choices=ClusterHealth.choices, default=ClusterHealth.UNKNOWN)
    health_problem = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_healthy_at = models.DateTimeField(null=True, blank=True)
    kubernetes_version = models.CharField(max_length=40, blank=True)
    node_count = models.PositiveIntegerField(default=0)
    pod_count = models.PositiveIntegerField(default=0)
    capacity = models.JSONField(default=dict, blank=True)
    permissions = models.JSONField(default=dict, blank=True)
    # Nodeless provisioning (EKS clusters): the SQS queue EventBridge sends spot interruption warnings
    # to (defaults by naming convention). Launch templates are the node class's (`NodeClass`).
    interruption_queue_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "name"], name="unique_cluster_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_nodeless(self) -> bool:
        return self.mode == ClusterMode.NODELESS

    @property
    def is_checking(self) -> bool:
        return self.check_started_at is not None
