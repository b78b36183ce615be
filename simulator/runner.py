"""A whole simulation in one process: the simulated cloud plus N simulated clusters.

Cloud-linked ("eks", mode nodeless) clusters get a VPC, subnets, a cluster security group, an EKS
cluster and an interruption queue in the simulated cloud (no launch template: the product creates
its own), and their nodes join only as a real kubelet would (`EksNodeGate`); their nodes come from the EC2 instances tagged
`kubernetes.io/cluster/<name>`, and they accept EKS tokens of the control-plane role. Static
("on-prem") clusters have fixed nodes and no cloud link. Every component shares one clock.

    with Simulation(SimulationSpec(eks_clusters=2, onprem_clusters=1), workdir) as simulation:
        print(simulation.descriptor_path, simulation.kubeconfig_path)
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from simulator.auth import READ_ONLY
from simulator.catalog import load_catalog
from simulator.clock import Clock, ScaledClock
from simulator.cloud.eks_access import POLICY_PREFIX
from simulator.cloud.simulated_cloud import (
    VENDOR_ACCESS_KEY_ID,
    VENDOR_SECRET_ACCESS_KEY,
    CloudConfig,
    SimulatedCloud,
)
from simulator.cluster import ClusterConfig, SimulatedCluster
from simulator.controllers.static_nodes import StaticNodePool
from simulator.descriptor import (
    AwsDescriptor,
    ClusterDescriptor,
    SimulationDescriptor,
    write_kubeconfig,
    write_private,
)

DEFAULT_ONPREM_POOLS = (
    StaticNodePool("onprem-cpu", 4, cpu=16, memory_mib=65536, zone="onprem-a"),
    StaticNodePool(
        "onprem-gpu",
        1,
        cpu=32,
        memory_mib=262144,
        gpus=4,
        zone="onprem-a",
        labels={"nvidia.com/gpu.product": "T4"},
    ),
)


@dataclass(frozen=True)
class SimulationSpec:
    eks_clusters: int = 2
    onprem_clusters: int = 1
    region: str = "us-east-1"
    speed: float = 1.0
    boot_delay: float = 5.0
    pod_start_delay: float = 1.0
    node_removal_delay: float = 30.0
    cloud_poll_interval: float = 10.0
    onprem_pools: tuple[StaticNodePool, ...] = DEFAULT_ONPREM_POOLS
    tls: bool = True
    record_events: bool = True
    seed: int | None = None
    eks_names: tuple[str, ...] = field(default_factory=tuple)  # default eks-1, eks-2, ...
    onprem_names: tuple[str, ...] = field(default_factory=tuple)  # default onprem-1, ...

    def names(self) -> tuple[list[str], list[str]]:
        eks = list(self.eks_names) or [f"eks-{n}" for n in range(1, self.eks_clusters + 1)]
        onprem = list(self.onprem_names) or [f"onprem-{n}" for n in range(1, self.onprem_clusters + 1)]
        return eks[: self.eks_clusters], onprem[: self.onprem_clusters]


class Simulation:
    def __init__(self, spec: SimulationSpec, workdir: Path, clock: Clock | None = None) -> None:
        self.spec = spec
        self.workdir = workdir
        self.clock = clock or ScaledClock(spec.speed)
        self.catalog = load_catalog()
        self.cloud: SimulatedCloud | None = None
        self.clusters: dict[str, SimulatedCluster] = {}
        self.descriptor_path = workdir / "simulation.json"
        self.kubeconfig_path = workdir / "kubeconfig"
        self.eks_endpoints_path = workdir / "eks-endpoints.json"
        self.descriptor: SimulationDescriptor | None = None
        self._stopped = threading.Event()

    def _cluster_config(self, name: str, *, eks: bool) -> ClusterConfig:
        spec = self.spec
        return ClusterConfig(
            name=name,
            kind="eks" if eks else "static",
            mode="nodeless" if eks else "onprem",
            region=spec.region,
            tls=spec.tls,
            static_pools=() if eks else spec.onprem_pools,
            pod_start_delay=spec.pod_start_delay,
            boot_delay=spec.boot_delay,
            node_removal_delay=spec.node_removal_delay,
            cloud_poll_interval=spec.cloud_poll_interval,
            record_events=spec.record_events,
            extra_tokens={secrets.token_urlsafe(24): READ_ONLY},
        )

    def start(self) -> SimulationDescriptor:
        eks_names, onprem_names = self.spec.names()
        descriptors: list[ClusterDescriptor] = []
        aws: AwsDescriptor | None = None
        eks_endpoints: dict[str, dict[str, str]] = {}
        try:
            if eks_names:
                self.cloud = SimulatedCloud(
                    CloudConfig(region=self.spec.region, seed=self.spec.seed), self.clock, self.catalog
                )
                self.cloud.start()
                admin = self.cloud.customer_admin_credentials()
                aws = AwsDescriptor(
                    endpoint_url=self.cloud.endpoint_url,
                    region=self.spec.region,
                    vendor_account_id=self.cloud.vendor_account_id,
                    vendor_access_key_id=VENDOR_ACCESS_KEY_ID,
                    vendor_secret_access_key=VENDOR_SECRET_ACCESS_KEY,
                    customer_account_id=self.cloud.customer_account_id,
                    role_arn=self.cloud.role_arn,
                    external_id=self.cloud.external_id,
                    customer_admin_access_key_id=admin["aws_access_key_id"],
                    customer_admin_secret_access_key=admin["aws_secret_access_key"],
                    customer_admin_session_token=admin["aws_session_token"],
                    console_url=f"{self.cloud.endpoint_url}/console",
                )
            for name in eks_names:
                descriptor = self._start_eks_cluster(name)
                descriptors.append(descriptor)
                eks_endpoints[f"{descriptor.region}/{name}"] = {
                    "endpoint": descriptor.endpoint,
                    "ca_pem": descriptor.ca_pem,
                }
            for name in onprem_names:
                cluster = SimulatedCluster(
                    self._cluster_config(name, eks=False), self.clock, catalog=self.catalog
                )
                cluster.start()
                self.clusters[name] = cluster
                descriptors.append(self._describe(cluster))
        except BaseException:
            self.stop()
            raise
        self.descriptor = SimulationDescriptor(
            aws,
            tuple(descriptors),
            str(self.kubeconfig_path),
            self.spec.speed,
            eks_endpoints=eks_endpoints,
            eks_endpoints_file=str(self.eks_endpoints_path),
        )
        write_kubeconfig(self.kubeconfig_path, self.descriptor.clusters)
        write_private(self.eks_endpoints_path, json.dumps(eks_endpoints, indent=2))
        write_private(self.descriptor_path, self.descriptor.to_json())
        return self.descriptor

    def _start_eks_cluster(self, name: str) -> ClusterDescriptor:
        assert self.cloud is not None
        cloud_cluster = self.cloud.add_cluster(name, self.spec.region)
        cluster = SimulatedCluster(
            self._cluster_config(name, eks=True),
            self.clock,
            instance_source=self.cloud.instance_source(cloud_cluster),
            sts_endpoint=self.cloud.endpoint_url,
            catalog=self.catalog,
            node_gate=self.cloud.node_gate(cloud_cluster),
        )
        self.cloud.eks_access.register(name, cluster.access_entries)
        self.cloud.eks_access.grant(name, self.cloud.role_arn, POLICY_PREFIX + "AmazonEKSClusterAdminPolicy")
        self.cloud.on_instances_changed(cluster.controllers.poke)
        self.cloud.eks_fargate.attach(name, cluster)
        cluster.start()
        self.clusters[name] = cluster
        base = self._describe(cluster)
        return dataclasses.replace(
            base,
            ec2_tag_key=cloud_cluster.tag_key,
            ec2_tag_value=cloud_cluster.tag_value,
            interruption_queue_url=cloud_cluster.interruption_queue_url,
            account_id=cloud_cluster.account_id,
            eks_arn=cloud_cluster.eks_arn,
        )

    @staticmethod
    def _describe(cluster: SimulatedCluster) -> ClusterDescriptor:
        readonly = next(iter(cluster.config.extra_tokens), "")
        return ClusterDescriptor(
            name=cluster.name,
            kind=cluster.config.kind,
            mode=cluster.config.mode,
            region=cluster.config.region,
            endpoint=cluster.url,
            ca_pem=cluster.ca_pem,
            admin_token=cluster.admin_token,
            readonly_token=readonly,
        )

    def stop(self) -> None:
        for cluster in self.clusters.values():
            cluster.stop()
        self.clusters.clear()
        if self.cloud is not None:
            self.cloud.stop()
            self.cloud = None
        self._stopped.set()

    def memory_census(self) -> str:
        """What the simulation holds, for a long run whose memory grows: objects and watch history
        per cluster and resource, then the most numerous Python object types (gc-tracked)."""
        lines = []
        for name, cluster in list(self.clusters.items()):
            for key, table in cluster.store.tables.items():
                if table.objects or table.log_events:
                    lines.append(
                        f"{name} {key}: {len(table.objects)} objects, {len(table.log_events)} events"
                    )
        counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
        lines.extend(f"{count:>10} {kind}" for kind, count in counts.most_common(40))
        return "\n".join(lines) + "\n"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until `stop()` (from a signal handler or another thread)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Simulation:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
