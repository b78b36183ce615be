"""The addresses members give our companions: each Ingress's and LoadBalancer Service's
``status.loadBalancer``, as the member's controllers wrote it, so the endpoint can show it on the
federated object (``policies.kubeapi.load_balancers``) as Karmada aggregates these statuses.

Read only when some workload of the organization takes an Ingress or a Service with it, from a
watch of our objects of that kind (labelled ``nodeless.io/workload-id``), listed directly while the
watch is not listed yet. A companion several workloads use is labelled with one of them: its
address is reported under that one, and the endpoint gathers addresses per member, not per
workload.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from clusters.kube.api import ClusterApi
from clusters.models import Cluster
from clusters.observation.reading import read_labelled
from engines.kube.labels import WORKLOAD_ID
from policies.models import Workload

Json = dict[str, Any]
LOAD_BALANCER_KINDS = ("Ingress", "Service")


def load_balancer_kinds(workloads: Iterable[Workload]) -> frozenset[str]:
    """Of ``LOAD_BALANCER_KINDS``, those some live workload takes with it."""
    kinds: set[str] = set()
    for workload in workloads:
        if workload.deleted_at is None:
            kinds.update(str(c.get("kind")) for c in workload.companion_summary or [])
    return frozenset(kinds & set(LOAD_BALANCER_KINDS))


def member_load_balancers(
    cluster: Cluster, api: ClusterApi, kinds: Collection[str]
) -> tuple[dict[str, dict[str, Json]], bool]:
    """By workload id, "Kind/name" -> ``status.loadBalancer`` of our objects of ``kinds`` in the
    member that have an address (an object without one is left out: most Services never get one);
    and whether they all came from the member's watches."""
    found: dict[str, dict[str, Json]] = {}
    watched = True
    for kind in sorted(kinds):
        objects = read_labelled(cluster, kind, WORKLOAD_ID)
        if objects is None:
            objects, watched = list(api.list(kind, label_selector=WORKLOAD_ID)), False
        for obj in objects:
            balancer = (obj.get("status") or {}).get("loadBalancer") or {}
            if not balancer.get("ingress"):
                continue
            metadata = obj.get("metadata") or {}
            owner = str((metadata.get("labels") or {}).get(WORKLOAD_ID))
            found.setdefault(owner, {})[f"{kind}/{metadata.get('name')}"] = dict(balancer)
    return found, watched
