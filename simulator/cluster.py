"""One simulated Kubernetes cluster: object store, API server, auth and controllers, in-process.

    cluster = SimulatedCluster(ClusterConfig(name="onprem", static_pools=(StaticNodePool("n", 3, "m5.large"),)))
    cluster.start()          # https://127.0.0.1:<port>, CA in cluster.ca_pem, token cluster.admin_token
    ...
    cluster.stop()

A cloud-linked cluster also gets an `InstanceSource` (EC2 instances tagged for it) and an STS
endpoint to check EKS tokens against; the simulation runner wires both from the simulated cloud.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

from simulator.api import ClusterApi
from simulator.auth import (
    CLUSTER_ADMIN,
    AccessEntries,
    AccessEntry,
    ClusterAuth,
    Identity,
    PermissionSet,
    StaticTokens,
    TokenAuthenticator,
)
from simulator.catalog import AwsCatalog, load_catalog
from simulator.clock import Clock, ScaledClock
from simulator.controllers.autoscalers import HorizontalPodAutoscalerController
from simulator.controllers.base import Controller, ControllerManager
from simulator.controllers.cloud_nodes import CloudNodeLifecycle, InstanceSource, NodeGate
from simulator.controllers.cronjobs import CronJobController
from simulator.controllers.housekeeping import DisruptionController, EventReaper, PodGarbageCollector
from simulator.controllers.jobs import JobController
from simulator.controllers.kubelet import Kubelet
from simulator.controllers.load_balancers import LoadBalancerController
from simulator.controllers.scheduler import Scheduler
from simulator.controllers.sets import DaemonSetController, StatefulSetController
from simulator.controllers.static_nodes import StaticCapacity, StaticNodePool
from simulator.controllers.volumes import VolumeController
from simulator.controllers.workloads import DeploymentController, ReplicaSetController
from simulator.crds import CrdController
from simulator.eks_tokens import EksTokenAuthenticator, EksTokenVerifier
from simulator.handlers import RequestHandler
from simulator.messages import BOOKMARK_INTERVAL_SECONDS
from simulator.resources import ResourceRegistry
from simulator.server import ApiServer
from simulator.store import ObjectStore
from simulator.store_table import DEFAULT_EVENT_LOG_SIZE
from simulator.tls import ServerCertificate, issue_server_certificate

ClusterKind = Literal["eks", "static"]
ClusterMode = Literal["nodeless", "onprem"]


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    kind: ClusterKind = "static"
    mode: ClusterMode = "onprem"
    region: str = "us-east-1"
    tls: bool = True
    # Without TLS and with `anonymous_admin`, requests need no token (handy for benchmarks).
    anonymous_admin: bool = False
    admin_token: str = ""
    static_pools: tuple[StaticNodePool, ...] = ()
    pod_start_delay: float = 1.0
    default_job_seconds: float = 30.0
    boot_delay: float = 5.0
    node_removal_delay: float = 30.0
    cloud_poll_interval: float = 10.0
    scheduler_retry_seconds: float = 30.0
    record_events: bool = True
    run_controllers: bool = True
    # Controllers that give LoadBalancer Services and Ingresses their addresses run (the AWS Load
    # Balancer Controller on EKS, MetalLB and ingress-nginx elsewhere; ``load_balancers``).
    load_balancers: bool = True
    seed: int = 0
    # Watch history kept per resource type (a watch from before it gets 410 Gone).
    event_log_size: int = DEFAULT_EVENT_LOG_SIZE
    # Real seconds between watch bookmarks (kube-apiserver: about a minute).
    bookmark_interval: float = BOOKMARK_INTERVAL_SECONDS
    extra_tokens: dict[str, PermissionSet] = field(default_factory=dict)


class SimulatedCluster:
    def __init__(
        self,
        config: ClusterConfig,
        clock: Clock | None = None,
        *,
        instance_source: InstanceSource | None = None,
        sts_endpoint: str | None = None,
        catalog: AwsCatalog | None = None,
        node_gate: NodeGate | None = None,
    ) -> None:
        self.config = config
        self.node_gate = node_gate
        self.name = config.name
        self.clock = clock or ScaledClock()
        self.catalog = catalog or load_catalog()
        self.store = ObjectStore(self.clock, seed=config.seed, event_log_size=config.event_log_size)
        self.api = ClusterApi(self.store, self.clock, record_events=config.record_events)
        self.admin_token = config.admin_token or secrets.token_urlsafe(24)
        self.tokens = StaticTokens(
            {
                self.admin_token: Identity(
                    "cluster-admin", CLUSTER_ADMIN, groups=("system:masters", "system:authenticated")
                )
            }
        )
        for token, permissions in config.extra_tokens.items():
            self.tokens.add(token, Identity(f"token-{permissions.name}", permissions))
        self.access_entries = AccessEntries()
        authenticators: list[TokenAuthenticator] = [] if config.anonymous_admin else [self.tokens]
        self.eks_authenticator: EksTokenAuthenticator | None = None
        if sts_endpoint is not None:
            self.eks_authenticator = EksTokenAuthenticator(
                EksTokenVerifier(config.name, sts_endpoint), self.access_entries
            )
            authenticators.append(self.eks_authenticator)
        self.auth = ClusterAuth(authenticators)
        self.certificate: ServerCertificate | None = (
            issue_server_certificate(config.name) if config.tls else None
        )
        # What this cluster serves: the built-in kinds, and those its CRDs define. The apiextensions
        # controllers are the API server's own: they run whether or not the other controllers do.
        self.registry = ResourceRegistry()
        self.apiextensions = ControllerManager(
            self.store, self.clock, [CrdController(self.api, self.registry)]
        )
        handler = RequestHandler(self.api, self.auth, self.registry)
        handler.bookmark_interval = config.bookmark_interval
        self.server = ApiServer(handler, self.certificate.server_context() if self.certificate else None)
        self.controllers = ControllerManager(self.store, self.clock, self._controllers(instance_source))
        self._started = False

    def _controllers(self, instance_source: InstanceSource | None) -> list[Controller]:
        config = self.config
        if not config.run_controllers:
            return []
        controllers: list[Controller] = [
            Scheduler(self.api, retry_seconds=config.scheduler_retry_seconds),
            Kubelet(
                self.api, start_delay=config.pod_start_delay, default_job_seconds=config.default_job_seconds
            ),
            ReplicaSetController(self.api),
            DeploymentController(self.api),
            JobController(self.api),
            VolumeController(self.api, catalog=self.catalog),
            StatefulSetController(self.api),
            DaemonSetController(self.api),
            CronJobController(self.api),
            HorizontalPodAutoscalerController(self.api),
            DisruptionController(self.api),
            PodGarbageCollector(self.api),
            EventReaper(self.api),
        ]
        if config.load_balancers:
            controllers.append(
                LoadBalancerController(
                    self.api, cluster=config.name, eks=config.kind == "eks", region=config.region
                )
            )
        if config.static_pools:
            controllers.append(StaticCapacity(self.api, self.catalog, config.static_pools))
        if instance_source is not None:
            controllers.append(
                CloudNodeLifecycle(
                    self.api,
                    instance_source,
                    self.catalog,
                    config.region,
                    boot_delay=config.boot_delay,
                    removal_delay=config.node_removal_delay,
                    poll_interval=config.cloud_poll_interval,
                    gate=self.node_gate,
                )
            )
        return controllers

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def refused_instances(self) -> dict[str, str]:
        """Instances whose kubelet could not join, with why (empty without cloud nodes)."""
        for controller in self.controllers.controllers:
            if isinstance(controller, CloudNodeLifecycle):
                return dict(controller.refused)
        return {}

    @property
    def ca_pem(self) -> str:
        return self.certificate.ca_pem if self.certificate else ""

    def grant(
        self,
        principal_arn: str,
        permissions: PermissionSet,
        *,
        username: str = "",
        groups: tuple[str, ...] = (),
    ) -> None:
        """Add an EKS access entry: tokens of `principal_arn` act with `permissions`."""
        self.access_entries.put(AccessEntry(principal_arn, username or principal_arn, permissions, groups))

    def add_token(self, token: str, identity: Identity) -> None:
        self.tokens.add(token, identity)

    def start(self) -> None:
        if self._started:
            return
        self.server.start()
        self.apiextensions.start()
        if self.config.run_controllers:
            self.controllers.run_once()  # static nodes exist before anyone connects
            self.controllers.start()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        self.controllers.stop()
        self.apiextensions.stop()
        self.server.stop()
        self._started = False

    def __enter__(self) -> SimulatedCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
