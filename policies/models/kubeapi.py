"""The organization's Kubernetes API (``policies.kubeapi``): every object sent to it, the change log
that watches read, and the counter that gives each change its ``resourceVersion``.

Objects are stored as the API serves them, less what the server computes when it renders one
(name, namespace, uid, resourceVersion, generation, timestamps). A Secret's object is stored only
encrypted (``ciphertext``), in the change log too. A Deployment or Job is linked to the federated
``Workload`` it became, so the pages, the REST API and the federation loop work on the same row.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from clusters.models import Cluster
from policies.models.federation import Workload
from tenants.models import Organization


class KubeCounter(models.Model):
    """One per organization: the last resourceVersion given out, and the oldest one the change log
    still holds (a watch from before it gets 410 Gone). Writes lock this row, so the organization's
    changes commit in resourceVersion order and a watch never skips one."""

    organization = models.OneToOneField(
        Organization, primary_key=True, on_delete=models.CASCADE, related_name="kube_counter"
    )
    resource_version = models.BigIntegerField(default=0)
    compacted_version = models.BigIntegerField(default=0)
    # Not a column: set once this locked row has compacted the change log (``store``), so a
    # transaction writing a thousand objects looks for old events once, not once per write.
    compaction_done = False

    def __str__(self) -> str:
        return f"resourceVersion {self.resource_version}"


class KubeObject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # metadata.uid
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="kube_objects")
    group = models.CharField(max_length=253, blank=True)
    version = models.CharField(max_length=63)
    kind = models.CharField(max_length=63)
    resource = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63, blank=True)  # blank: cluster-scoped
    name = models.CharField(max_length=253)
    labels = models.JSONField(default=dict, blank=True)  # copied out of the object, for selectors
    body = models.JSONField(default=dict)  # the object without status (empty for a Secret)
    status = models.JSONField(default=dict, blank=True)
    ciphertext = models.TextField(blank=True)  # a Secret's body, encrypted
    resource_version = models.BigIntegerField()
    generation = models.BigIntegerField(default=1)
    workload = models.ForeignKey(
        Workload, null=True, blank=True, on_delete=models.SET_NULL, related_name="kube_objects"
    )
    # The workload generation this object's spec says; a later one was made on the pages or through
    # the REST API, and the loop copies it back into the object.
    workload_generation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # When the object itself (not its status) was last written. An Event expires one TTL after
    # that, as kube-apiserver's etcd lease (renewed on every write) makes it do.
    written_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)  # metadata.deletionTimestamp

    class Meta:
        ordering: ClassVar = ["namespace", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organization", "group", "resource", "namespace", "name"], name="unique_kube_object"
            ),
        ]
        indexes: ClassVar = [
            # The pass looks for expired events every few seconds: this reads only those.
            models.Index(
                fields=["organization", "written_at"],
                name="kube_object_event_written",
                condition=models.Q(group="", resource="events"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource}/{self.namespace}/{self.name}"


class KubeEvent(models.Model):
    """One change, as a watch sends it: the object after it (before it, for DELETED)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    resource_version = models.BigIntegerField()
    group = models.CharField(max_length=253, blank=True)
    resource = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63, blank=True)
    name = models.CharField(max_length=253)
    type = models.CharField(max_length=10)  # ADDED, MODIFIED, DELETED
    object = models.JSONField(default=dict)  # empty for a Secret: see ciphertext
    ciphertext = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["resource_version"]
        indexes: ClassVar = [
            models.Index(fields=["organization", "resource_version"], name="kube_event_org_rv"),
            # Compaction looks for the events older than the history on every write: by age, it
            # reads only those (usually none); by version it walked every recent event.
            models.Index(fields=["organization", "created_at"], name="kube_event_org_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.resource}/{self.namespace}/{self.name} at {self.resource_version}"


class Propagation(models.Model):
    """A stand-alone object (one no workload uses) as applied to one member cluster of the policy it
    names: what was applied there (the object's resourceVersion), and what to delete there once the
    object is gone or no longer goes to that cluster (kind, namespace and name outlive the object)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # The object's uid, not a foreign key: deleting the object on the endpoint must not write these
    # rows (the pass writes them, and a cascade from the endpoint's transaction deadlocked with it).
    object_uid = models.UUIDField(null=True, blank=True)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=63)
    api_version = models.CharField(max_length=317, blank=True)  # group/version (blank: built-in kind)
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    applied_version = models.BigIntegerField(default=0)
    problem = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # What the member reports of an Ingress, LoadBalancer Service or HPA sent there (its load
    # balancer's addresses, the autoscaler's counts), gathered on the object as a companion's is.
    status = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["cluster", "kind", "namespace", "name"], name="unique_propagation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name} on {self.cluster_id}"


class KubeRevision(models.Model):
    """An earlier pod template of a Deployment on the endpoint, and the annotations it had then: what
    a cluster's deployment controller keeps as an old ReplicaSet (``policies.kubeapi.revisions``),
    so ``kubectl rollout history`` lists it and ``kubectl rollout undo`` goes back to it."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="kube_revisions")
    kube_object = models.ForeignKey(KubeObject, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    template = models.JSONField()
    annotations = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["revision"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["kube_object", "revision"], name="unique_kube_revision"),
        ]

    def __str__(self) -> str:
        return f"revision {self.revision} of {self.kube_object_id}"
