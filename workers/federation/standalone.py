"""The stand-alone objects' step of a pass (``policies.kubeapi.standalone``): apply each object to
the clusters its policy names and delete it where it no longer goes, every call within the member's
API budget, members in parallel, each member's calls in order over its one client; then read what
the members report of the Ingresses, LoadBalancer Services and HPAs applied there
(``Propagation.status``, gathered on the objects as a companion's is)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from clusters.kube.access import ClusterCredentialsError, cluster_api
from clusters.kube.api import ClusterRefused, ClusterUnreachable
from clusters.models import Cluster, ClusterStatus
from policies.kubeapi.standalone import (
    OBJECT_ID_LABEL,
    StandaloneAction,
    StandaloneOutcome,
    standalone_actions,
    standalone_outcomes_record,
)
from policies.models import Propagation
from workers.federation.apply import MemberClient
from workers.federation.companion_statuses import STATUS_KINDS, labelled_statuses
from workers.federation.observe import in_parallel
from workers.provisioning.budget import ApiBudgetSpent


def _cluster(cluster: Cluster, actions: Sequence[StandaloneAction]) -> list[StandaloneOutcome]:
    try:
        member = MemberClient(cluster_api(cluster), str(cluster.pk))
    except ClusterCredentialsError as error:
        return [StandaloneOutcome(action, done=False, problem=str(error)) for action in actions]
    outcomes: list[StandaloneOutcome] = []
    for index, action in enumerate(actions):
        try:
            if action.obj is None:
                member.delete(action.kind, action.namespace, action.name, api_version=action.api_version)
            else:
                member.ensure_namespace(action.namespace)
                member.apply(action.obj)
        except (ApiBudgetSpent, ClusterUnreachable) as stopped:
            # Nothing more there this pass. The rest is recorded as not done, so an organization
            # with nothing but stand-alone objects is still passed over by beat and tries again.
            # A spent budget is our own pacing, not the member's refusal: the member was not asked,
            # so what it said last stays (the object reads as applying, not refused, there); an
            # unreachable member is a problem worth showing.
            if isinstance(stopped, ApiBudgetSpent):
                outcomes += [StandaloneOutcome(rest, done=False, attempted=False) for rest in actions[index:]]
            else:
                outcomes += [
                    StandaloneOutcome(rest, done=False, problem=str(stopped)) for rest in actions[index:]
                ]
            break
        except ClusterRefused as refused:
            member.forget_namespace(action.namespace)
            outcomes.append(StandaloneOutcome(action, done=False, problem=str(refused)))
        else:
            outcomes.append(StandaloneOutcome(action, done=True))
    return outcomes


def run_standalone(organization_id: str) -> int:
    """Apply and delete the organization's stand-alone objects; how many calls were made."""
    work = standalone_actions(organization_id)
    by_cluster: dict[str, list[StandaloneAction]] = {}
    for action in work.actions:
        by_cluster.setdefault(action.cluster_id, []).append(action)
    results = in_parallel(
        lambda item: _cluster(work.clusters[item[0]], item[1]),
        list(by_cluster.items()),
        threads=settings.NODELESS_FEDERATION_APPLY_THREADS,
    )
    outcomes = [outcome for found in results for outcome in found]
    standalone_outcomes_record(organization_id, outcomes)
    _statuses_read(organization_id)
    return len(outcomes)


def _member_statuses(cluster: Cluster, kinds: set[str]) -> dict[tuple[str, str, str], dict[str, Any]] | None:
    """(kind, namespace, name) -> what is gathered of our stand-alone objects of ``kinds`` there;
    None when the member cannot be read (what it said last stays)."""
    try:
        statuses, _ = labelled_statuses(cluster, cluster_api(cluster), kinds, OBJECT_ID_LABEL)
    except (ClusterCredentialsError, ClusterRefused, ClusterUnreachable):
        return None
    return {(kind, str(meta.get("namespace")), str(meta.get("name"))): kept for kind, meta, kept in statuses}


def _statuses_read(organization_id: str) -> None:
    """Each applied stand-alone Ingress's, Service's and HPA's status as its member reports it (one
    statement when the organization sends none)."""
    rows = list(
        Propagation.objects.filter(
            organization_id=organization_id,
            kind__in=STATUS_KINDS,
            api_version="",
            applied_version__gt=0,
            cluster__status=ClusterStatus.CONNECTED,
        ).select_related("cluster__organization", "cluster__cloud_account")
    )
    by_cluster: dict[str, list[Propagation]] = {}
    for row in rows:
        by_cluster.setdefault(str(row.cluster_id), []).append(row)
    read = in_parallel(
        lambda group: (group, _member_statuses(group[0].cluster, {row.kind for row in group})),
        list(by_cluster.values()),
    )
    for group, statuses in read:
        if statuses is None:
            continue
        for row in group:
            status = statuses.get((row.kind, row.namespace, row.name), {})
            if status != row.status:
                Propagation.objects.filter(pk=row.pk).update(status=status)
