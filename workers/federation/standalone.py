"""The stand-alone objects' step of a pass (``policies.kubeapi.standalone``): apply each object to
the clusters its policy names and delete it where it no longer goes, every call within the member's
API budget, members in parallel, each member's calls in order over its one client; then read what
the members report of the Ingresses, LoadBalancer Services, HPAs and custom resources applied there
(``Propagation.status``, gathered on the objects as a companion's is)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import Q

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
from workers.federation.companion_statuses import STATUS_KINDS, kept_custom_status, labelled_statuses
from workers.federation.observe import in_parallel
from workers.provisioning.budget import ApiBudgetSpent

Reported = tuple[str, str, str]  # kind, namespace, name


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


def _member_statuses(cluster: Cluster, rows: Sequence[Propagation]) -> dict[Reported, dict[str, Any]] | None:
    """(kind, namespace, name) -> what is gathered of our stand-alone objects ``rows`` there: the
    built-in kinds' from the member's watches, the custom resources' listed by kind (their status
    whole, ``kept_custom_status``); None when the member cannot be read (what it said last stays)."""
    builtin = {row.kind for row in rows if not row.api_version}
    custom = {(row.api_version, row.kind) for row in rows if row.api_version}
    try:
        api = cluster_api(cluster)
        statuses, _ = labelled_statuses(cluster, api, builtin, OBJECT_ID_LABEL) if builtin else ([], True)
        found = {
            (kind, str(meta.get("namespace")), str(meta.get("name"))): kept for kind, meta, kept in statuses
        }
        for api_version, kind in sorted(custom):
            try:
                objects = list(api.list(kind, api_version=api_version, label_selector=OBJECT_ID_LABEL))
            except ClusterRefused as refused:
                if refused.status != 404:
                    raise
                continue  # the member does not serve the kind (the row says why it was not applied)
            for obj in objects:
                meta = obj.get("metadata") or {}
                found[(kind, str(meta.get("namespace")), str(meta.get("name")))] = kept_custom_status(obj)
    except (ClusterCredentialsError, ClusterRefused, ClusterUnreachable):
        return None
    return found


def _statuses_read(organization_id: str) -> None:
    """Each applied stand-alone Ingress's, Service's, HPA's and custom resource's status as its
    member reports it (one statement when the organization sends none)."""
    rows = list(
        Propagation.objects.filter(
            Q(kind__in=STATUS_KINDS, api_version="") | ~Q(api_version=""),
            organization_id=organization_id,
            applied_version__gt=0,
            cluster__status=ClusterStatus.CONNECTED,
        ).select_related("cluster__organization", "cluster__cloud_account")
    )
    by_cluster: dict[str, list[Propagation]] = {}
    for row in rows:
        by_cluster.setdefault(str(row.cluster_id), []).append(row)
    read = in_parallel(
        lambda group: (group, _member_statuses(group[0].cluster, group)),
        list(by_cluster.values()),
    )
    for group, statuses in read:
        if statuses is None:
            continue
        for row in group:
            status = statuses.get((row.kind, row.namespace, row.name), {})
            if status != row.status:
                Propagation.objects.filter(pk=row.pk).update(status=status)
