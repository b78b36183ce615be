"""Fixed capacity for an "on-prem" cluster: the configured nodes exist, Ready, for ever.

A static node that is deleted comes back on the next pass, as a kubelet re-registers its node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.api import ClusterApi
from simulator.catalog import AwsCatalog
from simulator.nodes import (
    LABEL_INSTANCE_TYPE,
    LABEL_REGION,
    LABEL_ZONE,
    NodeResources,
    NodeTemplate,
    node_object,
    node_resources,
)
from simulator.quantity import format_memory
from simulator.resources import NODES


@dataclass(frozen=True)
class StaticNodePool:
    """`count` identical nodes, sized by an EC2 type from the catalog or by explicit cpu/memory."""

    name_prefix: str
    count: int
    instance_type: str = ""
    cpu: int = 0
    memory_mib: int = 0
    max_pods: int = 110
    gpus: int = 0
    zone: str = "onprem-a"
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()

    def resources(self, catalog: AwsCatalog) -> NodeResources:
        if self.instance_type:
            return node_resources(catalog.instance_type(self.instance_type))
        extended = {"nvidia.com/gpu": str(self.gpus)} if self.gpus else {}
        capacity = {
            "cpu": str(self.cpu),
            "memory": format_memory(self.memory_mib * 1024 * 1024),
            "pods": str(self.max_pods),
            "ephemeral-storage": "100Gi",
            **extended,
        }
        return NodeResources(capacity, dict(capacity))

    def templates(self, catalog: AwsCatalog) -> list[NodeTemplate]:
        resources = self.resources(catalog)
        architecture = (
            catalog.instance_type(self.instance_type).kubernetes_arch if self.instance_type else "amd64"
        )
        shape = self.instance_type or f"onprem-{self.cpu}c{self.memory_mib // 1024}g"
        labels = {LABEL_INSTANCE_TYPE: shape, LABEL_ZONE: self.zone, LABEL_REGION: "onprem", **self.labels}
        return [
            NodeTemplate(
                name=f"{self.name_prefix}-{index}",
                resources=resources,
                labels=labels,
                taints=self.taints,
                internal_ip=f"192.168.{index // 250}.{index % 250 + 2}",
                architecture=architecture,
            )
            for index in range(self.count)
        ]


class StaticCapacity:
    name = "static-capacity"
    watches = frozenset({NODES.key})

    def __init__(self, api: ClusterApi, catalog: AwsCatalog, pools: tuple[StaticNodePool, ...]) -> None:
        self.api = api
        self.templates = [t for pool in pools for t in pool.templates(catalog)]

    def reconcile(self, now: float) -> float | None:
        for template in self.templates:
            if self.api.store.try_get(NODES, "", template.name) is None:
                self.api.create(NODES, "", node_object(template, now))
        return None
