"""Everything one reconcile pass of a nodeless cluster works with, resolved once: the policy, the
catalog, and the ports it acts through (the cloud provider and the kube port)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

from clusters.cloud.aws_provider import AwsCloudProvider, AwsProviderConfig
from clusters.cloud.interface import CloudProvider
from clusters.kube.access import cluster_api
from clusters.models import Cluster, ManagedNode
from clusters.onboarding.aws import assume_role, endpoints
from clusters.pricing.catalogs import market_catalog
from clusters.selectors import stack_queue_url
from clusters.services.managed_nodes import cluster_interruption_queue_found
from engines.planner import Catalog, Discount, PlannerPolicy
from policies.provisioning_settings import planner_policy
from policies.selectors import (
    PolicyInForce,
    provisioning_policies_in_force_of,
    provisioning_policy_in_force,
)
from workers.provisioning.budget import metered, take_many
from workers.provisioning.fargate import ServerlessTarget, serverless_target_for
from workers.provisioning.kube import KubeOps
from workers.provisioning.node_class import ClusterNodeClass, NodeClassPort, OpenNodeClass
from workers.provisioning.ports import KubePort
from workers.provisioning.records import ClusterFacts
from workers.provisioning.rows import active_rows_of

# Karpenter keeps an offering that reported no capacity out of plans for 3 minutes.
FAILED_OFFERING_SECONDS = 180
# The calls every pass makes first, paid for from the cluster's API budget together (a batch's clusters
# in one round trip, `SharedReads.read`): the cluster read, the interruption notices and the instance
# listing (`reads`; when the listing is not due, the pass's next call spends the third token).
FIRST_READS = 3


@dataclass
class ReconcileContext:
    cluster: Cluster
    settings: dict[str, Any]
    policy: PlannerPolicy
    policy_version: str
    catalog: Catalog
    provider: CloudProvider
    kube: KubePort
    now: datetime
    node_class: NodeClassPort
    serverless: ServerlessTarget | None = None  # None: serverless pods cannot be launched here

    @property
    def scale_down_delay(self) -> float:
        return float(self.settings["scale_down_delay_seconds"])

    @property
    def consolidation_min_saving_share(self) -> float:
        # Revisions saved before the setting existed have no value: the default applies.
        return float(self.settings.get("consolidation_min_saving_pct", 10)) / 100

    @property
    def facts(self) -> ClusterFacts:
        cluster = self.cluster
        return ClusterFacts(
            id=str(cluster.pk),
            organization_id=str(cluster.organization_id),
            name=cluster.name,
            region=cluster.region,
            eks_cluster_name=cluster.eks_cluster_name,
        )


_sessions_lock = threading.Lock()
_sessions: dict[tuple[str, str, str], Any] = {}


def _session(role_arn: str, external_id: str, region: str) -> Any:
    # Assumed-role sessions refresh their own credentials: keep one per role and region.
    key = (role_arn, external_id, region)
    with _sessions_lock:
        if key not in _sessions:
            _sessions[key] = assume_role(
                role_arn=role_arn, external_id=external_id, region=region, session_name="nodeless-provisioner"
            )
        return _sessions[key]


_providers_lock = threading.Lock()
_providers: dict[tuple[Any, ...], CloudProvider] = {}


def _provider(cluster: Cluster, role_arn: str, interruption_queue_url: str) -> CloudProvider:
    """The cluster's provider, kept for the life of the worker: building boto3 clients loads their
    service models (tens of milliseconds each), which a pass that must answer within a second
    cannot pay every time. Any change to what the provider is built from makes a new one."""
    external_id = cluster.organization.external_id
    session = _session(role_arn, external_id, cluster.region)
    config = AwsProviderConfig(
        region=cluster.region,
        interruption_queue_url=interruption_queue_url,
        role_arn=role_arn,
    )
    aws = endpoints()
    # Keyed by process too: a forked worker must not share its parent's HTTP connections.
    key = (
        os.getpid(),
        cluster.pk,
        external_id,
        config,
        aws.endpoint_url,
        tuple(sorted(aws.per_service.items())),
    )
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _providers[key] = AwsCloudProvider(session, config, aws)
        return provider


def cloud_provider_for(cluster: Cluster) -> CloudProvider:
    """The cluster's provider, reading its interruption queue: the cluster's setting, else the queue its
    account's onboarding stack outputs name for the cluster's region, else the queue the provider finds
    for it by the older per-cluster name (remembered on the cluster once found)."""
    account = cluster.cloud_account
    if account is None:
        raise ValueError(f"{cluster.name} has no cloud account; nodeless mode needs one")
    provider = _provider(cluster, account.role_arn, cluster.interruption_queue_url)
    if cluster.interruption_queue_url:
        return provider
    found = stack_queue_url(account, region=cluster.region) or provider.find_interruption_queue(
        cluster.eks_cluster_name
    )
    if not found:
        return provider
    cluster_interruption_queue_found(cluster, url=found)
    return _provider(cluster, account.role_arn, found)


_kube_lock = threading.Lock()
_kube: dict[tuple[int, Any], KubeOps] = {}


def kube_ops_for(cluster: Cluster) -> KubeOps:
    """The cluster's kube port, on the cluster's API client (`clusters.kube.access.cluster_api`),
    which is kept while its credentials stay the same: a new client opens new TLS connections, and a
    pass that binds a few dozen pods in parallel would pay a handshake for each of them, every pass.
    A refreshed EKS token or a new kubeconfig makes a new client, and so a new port."""
    api = cluster_api(cluster)
    key = (os.getpid(), cluster.pk)  # by process too: a forked worker must not share sockets
    with _kube_lock:
        known = _kube.get(key)
        if known is None or known.api is not api:
            known = _kube[key] = KubeOps(cluster, api)
        return known


def _failed_key(cluster: Cluster) -> str:
    return f"provisioning:failed-offerings:{cluster.pk}"


def remember_failed_offerings(cluster: Cluster, offerings: list[tuple[str, str, str]], now: float) -> None:
    known: dict[str, float] = cache.get(_failed_key(cluster)) or {}
    for instance_type, zone, capacity_type in offerings:
        known[f"{instance_type}|{zone}|{capacity_type}"] = now + FAILED_OFFERING_SECONDS
    cache.set(_failed_key(cluster), known, FAILED_OFFERING_SECONDS)


def failed_offerings(cluster: Cluster, now: float) -> set[str]:
    known: dict[str, float] = cache.get(_failed_key(cluster)) or {}
    return {key for key, until in known.items() if until > now}


def catalog_for(
    cluster: Cluster,
    now: float,
    zones: frozenset[str] | None = None,
    *,
    shared: SharedReads | None = None,
) -> Catalog:
    """The cluster's priced catalog, less the offerings that failed lately and those in zones with no
    usable subnet (`zones`; None: every zone). `shared`: what a batch of passes read for all of them."""
    discount = _discount(cluster)
    if shared is None:
        catalog = market_catalog(cluster.region, discount)
        failed = failed_offerings(cluster, now)
    else:
        catalog = shared.catalog(cluster.region, discount)
        failed = shared.failed_offerings(cluster, now)
    if not failed and zones is None:
        return catalog
    from dataclasses import replace

    return replace(
        catalog,
        offerings=tuple(
            o
            for o in catalog.offerings
            if f"{o.instance_type}|{o.zone}|{o.capacity_type.value}" not in failed
            and (zones is None or not o.capacity_type.is_instance or o.zone in zones)
        ),
    )


def _discount(cluster: Cluster) -> Discount:
    account = cluster.cloud_account
    return Discount(
        on_demand_pct=float(account.on_demand_discount_pct) if account else 0.0,
        spot_pct=float(account.spot_discount_pct) if account else 0.0,
        serverless_pct=float(account.serverless_discount_pct) if account else 0.0,
    )


@dataclass
class SharedReads:
    """What a batch of passes (`reconcile.reconcile_batch`) reads once for all its clusters instead of
    once per pass: the policies in force and the active rows (one query each), the offerings that
    failed lately (one cache read) and the market catalogs (one cache read per region and discount)."""

    policies: Mapping[Any, PolicyInForce]
    failed: Mapping[str, dict[str, float]]  # by cluster id: offering → until when it counts as failed
    # By cluster id: its active rows, read once the batch holds the clusters' leases (so no other pass
    # writes them; launch tasks may record an instance meanwhile, which a pass tolerates whenever it
    # reads them: the node registers on a later pass, and garbage collection reads afresh).
    rows: Mapping[str, list[ManagedNode]]
    catalogs: dict[tuple[str, Discount], Catalog] = field(default_factory=dict)
    # By cluster id: the wait for the first calls of its pass, taken from its API budget with the
    # other clusters' (`budget.take_many`, one round trip), and how many calls that paid for.
    prepaid: Mapping[str, float] = field(default_factory=dict)
    prepaid_calls: int = 0

    @classmethod
    def read(cls, clusters: Sequence[Cluster], *, prepaid_calls: int = FIRST_READS) -> SharedReads:
        keys = {_failed_key(cluster): str(cluster.pk) for cluster in clusters}
        found = cache.get_many(list(keys))
        ids = [str(cluster.pk) for cluster in clusters]
        waits = dict(zip(ids, take_many(ids, cost=prepaid_calls), strict=True)) if prepaid_calls else {}
        shared = cls(
            policies=provisioning_policies_in_force_of(clusters),
            failed={keys[key]: value for key, value in found.items() if value},
            rows=active_rows_of(clusters),
            prepaid=waits,
            prepaid_calls=prepaid_calls,
        )
        for cluster in clusters:  # here, not in the passes' threads, which would all build each one
            shared.catalog(cluster.region, _discount(cluster))
        return shared

    def catalog(self, region: str, discount: Discount) -> Catalog:
        key = (region, discount)
        if key not in self.catalogs:
            self.catalogs[key] = market_catalog(region, discount)
        return self.catalogs[key]

    def failed_offerings(self, cluster: Cluster, now: float) -> set[str]:
        return {key for key, until in self.failed.get(str(cluster.pk), {}).items() if until > now}


def build_context(
    cluster: Cluster,
    now: datetime,
    policy_version: str | None = None,
    *,
    shared: SharedReads | None = None,
) -> ReconcileContext:
    """The context of a pass; `policy_version` names the policy the decisions are recorded under (the
    one in force, unless a launch recorded earlier under another); `shared`: what a batch of passes
    read for all of them (and the first calls it paid for from each cluster's API budget)."""
    if shared is None:
        in_force = provisioning_policy_in_force(cluster)
        provider, kube = cluster_ports(cluster)
    else:
        in_force = shared.policies[cluster.pk]
        provider, kube = cluster_ports(cluster, shared.prepaid_calls, shared.prepaid.get(str(cluster.pk)))
    node_class = node_class_for(cluster)
    return ReconcileContext(
        cluster=cluster,
        settings=in_force.settings,
        policy=planner_policy(in_force.settings),
        policy_version=in_force.version_label if policy_version is None else policy_version,
        catalog=catalog_for(cluster, now.timestamp(), node_class.zones(), shared=shared),
        provider=provider,
        kube=kube,
        now=now,
        node_class=node_class,
        serverless=serverless_for(cluster, node_class),
    )


def serverless_for(cluster: Cluster, node_class: NodeClassPort) -> ServerlessTarget | None:
    """Where the cluster's serverless pods go: its EKS Fargate profiles, in the node class's
    subnets (None for passes on test fakes, and for clusters not on EKS)."""
    account = cluster.cloud_account
    if (
        settings.NODELESS_PROVISIONING_PORTS
        or account is None
        or not isinstance(node_class, ClusterNodeClass)
    ):
        return None
    session = _session(account.role_arn, cluster.organization.external_id, cluster.region)
    subnets = sorted(set(node_class.node_class.subnets.values()))
    return serverless_target_for(cluster, session, subnets)


def node_class_for(cluster: Cluster) -> NodeClassPort:
    """The cluster's node class; passes on test fakes (`NODELESS_PROVISIONING_PORTS`) have an open one."""
    if settings.NODELESS_PROVISIONING_PORTS:
        return OpenNodeClass()
    return ClusterNodeClass(cluster)


PortsFactory = Callable[[Cluster], tuple[CloudProvider, KubePort]]


def cluster_ports(
    cluster: Cluster, prepaid_calls: int = 0, taken: float | None = None
) -> tuple[CloudProvider, KubePort]:
    """How a pass reaches the cluster: its cloud account and API server (or the ports
    `NODELESS_PROVISIONING_PORTS` names), every call within the cluster's API budget (`prepaid_calls`
    of them paid for at once, or already: `taken`, see `budget.metered`)."""
    if settings.NODELESS_PROVISIONING_PORTS:
        factory: PortsFactory = import_string(settings.NODELESS_PROVISIONING_PORTS)
        provider, kube = factory(cluster)
    else:
        provider, kube = cloud_provider_for(cluster), kube_ops_for(cluster)
    return metered(str(cluster.pk), provider, kube, prepaid=prepaid_calls, taken=taken)


def build_launch_context(cluster: Cluster, now: datetime, policy_version: str) -> ReconcileContext:
    """What the launch of a row recorded under `policy_version` needs."""
    return build_context(cluster, now, policy_version)
