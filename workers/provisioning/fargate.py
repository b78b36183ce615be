"""The act step for serverless pods: read the cluster's Fargate profiles, decide (`serverless.
route_serverless`, pure), then create or delete one profile and recreate the pods a profile now
routes. What the pass needs for it (`ServerlessTarget`) exists only for EKS clusters whose node
class found private subnets; elsewhere serverless pods stay pending, saying so."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache

from clusters.cloud.aws_session import AwsEndpoints
from clusters.cloud.errors import CloudError
from clusters.cloud.fargate import AwsFargateProfiles, FargateBusy, FargateProfiles
from clusters.models import Cluster
from clusters.onboarding.aws import endpoints
from clusters.onboarding.cloudformation import CLUSTER_TAG, MANAGED_TAG
from clusters.services.node_classes import fargate_pod_role
from engines.kube import Pod
from engines.kube.cluster import ClusterState
from workers.provisioning.commands import LeavePending
from workers.provisioning.ports import KubePort
from workers.provisioning.serverless import RECREATED, route_serverless

logger = logging.getLogger(__name__)

SERVERLESS_UNAVAILABLE = "serverless capacity is not available for this cluster"
NO_SUBNETS = "serverless capacity needs a private subnet of the cluster for its Fargate profile; the node class found none"
# How long a refused profile creation is remembered (a wrong role or subnet is not fixed in seconds).
REFUSAL_SECONDS = 120
MEMORY_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class ServerlessTarget:
    """Where a cluster's serverless pods go: its Fargate profiles, with what a new profile names."""

    profiles: FargateProfiles
    role_arn: str
    subnets: tuple[str, ...]
    tags: Mapping[str, str]


@dataclass
class ServerlessOutcome:
    pending: list[LeavePending] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)


_clients_lock = threading.Lock()
_clients: dict[tuple[Any, ...], AwsFargateProfiles] = {}


def _profiles_client(session: Any, cluster: Cluster, aws: AwsEndpoints, role_arn: str) -> AwsFargateProfiles:
    # boto3 clients load their service model (tens of ms): one per cluster and worker process.
    key = (os.getpid(), cluster.pk, role_arn, cluster.eks_cluster_name, aws.endpoint_url)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = AwsFargateProfiles(session, cluster.eks_cluster_name, aws, role_arn=role_arn)
        return _clients[key]


def serverless_target_for(cluster: Cluster, session: Any, subnets: Sequence[str]) -> ServerlessTarget | None:
    """The cluster's serverless target, None when the cluster is not on EKS."""
    account = cluster.cloud_account
    if account is None or not cluster.eks_cluster_name:
        return None
    return ServerlessTarget(
        profiles=_profiles_client(session, cluster, endpoints(), account.role_arn),
        role_arn=fargate_pod_role(cluster),
        subnets=tuple(subnets),
        tags={MANAGED_TAG: "nodeless", CLUSTER_TAG: str(cluster.pk)},
    )


def _memory_key(cluster_id: str) -> str:
    return f"provisioning:fargate:{cluster_id}"


def _refusal_key(cluster_id: str) -> str:
    return f"provisioning:fargate-refused:{cluster_id}"


def act_serverless(
    cluster_id: str,
    target: ServerlessTarget | None,
    kube: KubePort,
    pods: Sequence[Pod],
    state: ClusterState,
    *,
    now: datetime,
    keep_seconds: float,
    allowed: bool = True,
) -> ServerlessOutcome:
    """Route `pods` (the planner put them on serverless) and tidy our profiles. Reads the profiles
    only when there are pods to route or profiles of ours remembered, so a cluster that never uses
    serverless makes no Fargate call."""
    if target is None:
        return ServerlessOutcome([LeavePending(p.key, SERVERLESS_UNAVAILABLE, remember=False) for p in pods])
    if pods and not target.subnets:
        return ServerlessOutcome([LeavePending(p.key, NO_SUBNETS) for p in pods])
    remembered: dict[str, float] = cache.get(_memory_key(cluster_id)) or {}
    if not pods and not remembered:
        return ServerlessOutcome()
    refused: str | None = cache.get(_refusal_key(cluster_id))
    try:
        profiles = target.profiles.profiles()
    except CloudError as error:
        return ServerlessOutcome(
            [LeavePending(p.key, f"Fargate profiles could not be read: {error.message}") for p in pods]
        )
    live = [*state.pending, *(pod for pod in state.bound_pods if not pod.is_finished)]
    plan = route_serverless(
        pods,
        profiles,
        live,
        needed_before=remembered,
        now=now.timestamp(),
        keep_seconds=keep_seconds,
        allowed=allowed,
    )
    cache.set(_memory_key(cluster_id), dict(plan.needed), MEMORY_SECONDS)
    outcome = ServerlessOutcome(list(plan.pending))
    if plan.create is not None:
        selector = plan.create
        if refused:
            reason = f"Fargate profile {selector.profile_name} refused: {refused}"
            outcome.pending = [
                LeavePending(p.pod_key, reason) if selector.profile_name in p.reason else p
                for p in outcome.pending
            ]
        else:
            try:
                target.profiles.create(
                    selector, role_arn=target.role_arn, subnets=target.subnets, tags=target.tags
                )
                logger.info(
                    "cluster %s: creating Fargate profile %s for %s",
                    cluster_id,
                    selector.profile_name,
                    selector.describe(),
                )
            except FargateBusy:
                pass  # someone else's profile operation: the next pass tries again
            except CloudError as error:
                cache.set(_refusal_key(cluster_id), error.message, REFUSAL_SECONDS)
                reason = f"Fargate profile {selector.profile_name} refused: {error.message}"
                outcome.pending = [
                    LeavePending(p.pod_key, reason) if selector.profile_name in p.reason else p
                    for p in outcome.pending
                ]
    if plan.delete:
        try:
            target.profiles.delete(plan.delete)
            logger.info("cluster %s: deleting Fargate profile %s (no pod needs it)", cluster_id, plan.delete)
        except CloudError as error:
            logger.info("cluster %s: Fargate profile %s not deleted yet: %s", cluster_id, plan.delete, error)
    for pod in plan.recreate:
        if kube.recreate(pod.namespace, pod.name, pod.uid):
            outcome.recreated.append(pod.key)
            logger.info("cluster %s: %s %s", cluster_id, pod.key, RECREATED.format(profile=pod.profile))
    return outcome
