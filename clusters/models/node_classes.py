"""A nodeless cluster's node class (Karpenter's EC2NodeClass is the anchor): what every instance
Nodeless launches for the cluster is made of, as last discovered in the customer's account, and the
launch templates Nodeless owns there."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from clusters.models.clusters import Cluster


class NodeClass(models.Model):
    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="node_class")
    # Set by the customer (the onboarding stack's outputs); empty: the stack's default names.
    node_role_arn = models.CharField(max_length=300, blank=True)
    instance_profile = models.CharField(max_length=128, blank=True)
    # Subnets and security groups carrying this tag (key=value) are used too; empty: none.
    discovery_tag = models.CharField(max_length=300, blank=True)
    # The root volume of every node (GiB); None: sized from the instance type's ephemeral storage.
    root_volume_gib = models.PositiveIntegerField(null=True, blank=True)
    # Discovered (never typed in): the cluster as DescribeCluster reports it.
    kubernetes_version = models.CharField(max_length=20, blank=True)
    endpoint = models.CharField(max_length=500, blank=True)
    certificate_authority = models.TextField(blank=True)  # a CA bundle is public, not a secret
    service_cidr = models.CharField(max_length=64, blank=True)
    vpc_id = models.CharField(max_length=64, blank=True)
    subnets = models.JSONField(default=dict, blank=True)  # zone -> subnet id
    security_group_ids = models.JSONField(default=list, blank=True)
    amis = models.JSONField(default=dict, blank=True)  # "<arch>/<variant>" -> image id
    access_entry = models.CharField(max_length=20, blank=True)  # present, created, or "" (missing)
    # Launch templates Nodeless owns: key -> {id, name, version, digest, ami}.
    launch_templates = models.JSONField(default=dict, blank=True)
    # Why no instance can be launched for the cluster now ("" when it can).
    problem = models.TextField(blank=True)
    # What changed under running nodes (a new AMI rolled the templates forward), for the page.
    drift = models.TextField(blank=True)
    # What works but not fully (a zone with no subnet, an interruption queue EventBridge cannot send
    # to): launches go ahead; the page says what to fix.
    notices = models.JSONField(default=list, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"node class of {self.cluster}"

    @property
    def ready(self) -> bool:
        return self.refreshed_at is not None and not self.problem
