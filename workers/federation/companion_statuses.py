"""What members report of the companions whose status the endpoint gathers on the federated object
(``policies.kubeapi.companion_status``), as Karmada aggregates these kinds' statuses:

- an Ingress's or LoadBalancer Service's ``status.loadBalancer`` (the addresses the member's
  controllers gave it);
- a HorizontalPodAutoscaler's replica counts, metrics and conditions (the member's HPA scales its
  own copy of the workload);
- a PersistentVolumeClaim's phase, capacity and access modes (the member binds its own copy).

Read only when some workload of the organization takes such a companion with it, from a watch of
our objects of that kind (labelled ``nodeless.io/workload-id``), listed directly while the watch is
not listed yet. A companion several workloads use is labelled with one of them: its status is
reported under that one, and the endpoint gathers statuses per member, not per workload.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from clusters.kube.api import ClusterApi
from clusters.models import Cluster
from clusters.observation.reading import read_labelled
from engines.kube.labels import GENERATION_ANNOTATION, WORKLOAD_ID
from policies.models import Workload

Json = dict[str, Any]
STATUS_KINDS = ("HorizontalPodAutoscaler", "Ingress", "PersistentVolumeClaim", "Service")
# What is kept of an HPA's status (its observedGeneration is the member's own).
_AUTOSCALER_FIELDS = ("currentReplicas", "desiredReplicas", "currentMetrics", "conditions", "lastScaleTime")


def status_kinds(workloads: Iterable[Workload]) -> frozenset[str]:
    """Of ``STATUS_KINDS``, those some live workload takes with it."""
    kinds: set[str] = set()
    for workload in workloads:
        if workload.deleted_at is None:
            kinds.update(str(c.get("kind")) for c in workload.companion_summary or [])
    return frozenset(kinds & set(STATUS_KINDS))


def kept_status(kind: str, status: Json) -> Json:
    """What is gathered of a member object's status; empty when there is nothing (most Services
    never get an address: they are left out)."""
    if kind == "HorizontalPodAutoscaler":
        return {key: status[key] for key in _AUTOSCALER_FIELDS if key in status}
    if kind == "PersistentVolumeClaim":
        return {key: status[key] for key in ("phase", "capacity", "accessModes") if key in status}
    balancer = status.get("loadBalancer") or {}
    return dict(balancer) if balancer.get("ingress") else {}


def labelled_statuses(
    cluster: Cluster, api: ClusterApi, kinds: Collection[str], label: str
) -> tuple[list[tuple[str, Json, Json]], bool]:
    """(kind, metadata, what is gathered of its status) of the member's objects of ``kinds`` that
    carry ``label``, from the member's watches (listed directly while one is not listed yet); and
    whether they all came from the watches."""
    found: list[tuple[str, Json, Json]] = []
    watched = True
    for kind in sorted(kinds):
        objects = read_labelled(cluster, kind, label)
        if objects is None:
            objects, watched = list(api.list(kind, label_selector=label)), False
        found += [
            (kind, obj.get("metadata") or {}, kept_status(kind, obj.get("status") or {})) for obj in objects
        ]
    return found, watched


def member_companion_statuses(
    cluster: Cluster, api: ClusterApi, kinds: Collection[str]
) -> tuple[dict[str, dict[str, Json]], bool]:
    """By workload id, "Kind/name" -> what is gathered of our objects of ``kinds`` in the member;
    and whether they all came from the member's watches."""
    found: dict[str, dict[str, Json]] = {}
    statuses, watched = labelled_statuses(cluster, api, kinds, WORKLOAD_ID)
    for kind, metadata, kept in statuses:
        if kept:
            owner = str((metadata.get("labels") or {}).get(WORKLOAD_ID))
            found.setdefault(owner, {})[f"{kind}/{metadata.get('name')}"] = kept
    return found, watched


# A custom resource's status is kept whole up to this size; a larger one keeps its conditions and
# observedGeneration only (what Argo CD's and Flux's health checks read).
MAX_CUSTOM_STATUS_BYTES = 16 * 1024


def kept_custom_status(obj: Json) -> Json:
    """What is gathered of a member's copy of a custom resource (``policies.kubeapi.custom_status``):
    its status, its generation there, and which of the endpoint's generations it is."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if len(json.dumps(status)) > MAX_CUSTOM_STATUS_BYTES:
        status = {key: status[key] for key in ("conditions", "observedGeneration") if key in status}
    return {
        "status": status,
        "generation": int(metadata.get("generation") or 0),
        "endpointGeneration": int((metadata.get("annotations") or {}).get(GENERATION_ANNOTATION) or 0),
    }
