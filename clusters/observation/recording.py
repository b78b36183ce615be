"""Keeping the latest observation of a cluster: the summary pages and previews read, and the counts
the cluster list shows (`Cluster.node_count`, `pod_count`, `capacity`), both from one read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q

from clusters.models import ACTIVE_STATES, Cluster, ClusterObservation, ManagedNode
from clusters.observation.summary import summarize
from engines.kube.cluster import ClusterState

# Workers read a busy cluster several times a second (every pass); its summary is rewritten at most
# this often, which is as fresh as any page needs it.
RECORD_SECONDS = 10


def _due_key(cluster: Cluster) -> str:
    return f"observation-recorded:{cluster.pk}"


def _managed_node_names(cluster: Cluster, state: ClusterState) -> set[str]:
    rows = ManagedNode.objects.filter(cluster=cluster, state__in=ACTIVE_STATES).filter(
        ~Q(node_name="") | ~Q(instance_id="")
    )
    names, instances = set(), set()
    for node_name, instance_id in rows.values_list("node_name", "instance_id"):
        names.add(node_name)
        instances.add(instance_id)
    return names | {
        name
        for name, node in state.nodes.items()
        if node.node.instance_id and node.node.instance_id in instances
    }


def observation_record(cluster: Cluster, state: ClusterState, *, force: bool = False) -> bool:
    """Keep `state` as the cluster's latest observation, unless one was kept within RECORD_SECONDS
    (`force` keeps it anyway). True when it was kept."""
    if force:
        cache.set(_due_key(cluster), 1, timeout=RECORD_SECONDS)
    elif not cache.add(_due_key(cluster), 1, timeout=RECORD_SECONDS):
        return False
    summary = summarize(state, managed=_managed_node_names(cluster, state))
    _observation_write(
        cluster,
        observed_at=state.observed_at,
        attempted_at=state.observed_at,
        problem="",
        summary=summary,
    )
    Cluster.objects.filter(pk=cluster.pk).update(
        node_count=summary["nodes"]["total"],
        pod_count=summary["pods"]["total"],
        capacity={"allocatable": summary["allocatable"], "requested": summary["requested"]},
    )
    return True


def observation_failed(cluster: Cluster, problem: str, now: datetime) -> None:
    """A read failed: say why, and keep the last summary with its time (the page says how old)."""
    _observation_write(cluster, attempted_at=now, problem=problem[:2000])


def _observation_write(cluster: Cluster, **fields: Any) -> None:
    """The cluster's one observation row given ``fields``: an update, which is all but the first read
    of a cluster needs (``update_or_create`` locked the row and took a savepoint first, on each of
    the ~10 rows a busy fleet's passes rewrite every second); a create when there is none yet, and
    an update after all when another worker created it meanwhile."""
    rows = ClusterObservation.objects.filter(cluster=cluster)
    if rows.update(**fields):
        return
    try:
        with transaction.atomic():
            ClusterObservation.objects.create(
                cluster=cluster, organization_id=cluster.organization_id, **fields
            )
    except IntegrityError:
        rows.update(**fields)


def observation_age(observation: ClusterObservation | None, now: datetime) -> timedelta | None:
    if observation is None or observation.observed_at is None:
        return None
    return now - observation.observed_at
