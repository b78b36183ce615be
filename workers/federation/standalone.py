"""The stand-alone objects' step of a pass (``policies.kubeapi.standalone``): apply each object to
the clusters its policy names and delete it where it no longer goes, every call within the member's
API budget, members in parallel, each member's calls in order over its one client."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from clusters.kube.access import ClusterCredentialsError, cluster_api
from clusters.kube.api import ClusterRefused, ClusterUnreachable
from clusters.models import Cluster
from policies.kubeapi.standalone import (
    StandaloneAction,
    StandaloneOutcome,
    standalone_actions,
    standalone_outcomes_record,
)
from workers.federation.apply import MemberClient
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
    return len(outcomes)
