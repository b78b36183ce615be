"""The node class port of a pass: whether the cluster's nodes can be launched at all (its node class
has no problem), which zones have a subnet, and the launch template version and subnet each offering
of a launch starts from. The real one reads (and when stale, refreshes) the cluster's `NodeClass`;
`OpenNodeClass` serves passes whose cloud is a test fake."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Protocol

from django.utils import timezone

from clusters.cloud.interface import LaunchRequest, Placement
from clusters.cloud.nodeadm import KubeletShape, Taint
from clusters.models import Cluster, NodeClass
from clusters.services.node_classes import (
    REFRESH_EVERY,
    TemplateSpec,
    ami_variant,
    node_class_of,
    node_class_refresh,
    node_class_templates,
)
from engines.planner import Catalog, InstanceType, PlannerPolicy
from engines.planner.table import runs_unlimited

EC2_ARCHITECTURES = {"amd64": "x86_64", "arm64": "arm64"}


class NodeClassPort(Protocol):
    def problem(self) -> str:
        """Why no instance can be launched for the cluster now; "" when launches may go ahead."""
        ...

    def zones(self) -> frozenset[str] | None:
        """The zones with a usable subnet (None: every zone)."""
        ...

    def place(self, request: LaunchRequest, catalog: Catalog, policy: PlannerPolicy) -> LaunchRequest:
        """The request with a placement per offering (offerings no subnet serves are dropped)."""
        ...


class OpenNodeClass:
    def problem(self) -> str:
        return ""

    def zones(self) -> frozenset[str] | None:
        return None

    def place(self, request: LaunchRequest, catalog: Catalog, policy: PlannerPolicy) -> LaunchRequest:
        placements = tuple(Placement("lt-test", 1, f"subnet-{o.zone}") for o in request.offerings)
        return replace(request, placements=placements)


def template_spec(shape: InstanceType, request: LaunchRequest, policy: PlannerPolicy) -> TemplateSpec:
    max_pods = min(shape.max_pods, policy.max_pods_per_node or shape.max_pods)
    kubelet = KubeletShape(
        labels=tuple(sorted(request.node_labels.items())),
        taints=tuple(Taint(k, v, e) for k, v, e in request.node_taints),
        max_pods=max_pods,
        vcpu=shape.vcpu,
    )
    variant = ami_variant(shape.name, gpus=shape.gpus)
    return TemplateSpec(
        EC2_ARCHITECTURES.get(shape.architecture, shape.architecture),
        variant,
        kubelet,
        max(20, math.ceil(shape.ephemeral_mib / 1024)),
        cpu_credits=cpu_credits(shape, policy),
    )


def cpu_credits(shape: InstanceType, policy: PlannerPolicy) -> str:
    """The credit mode a burstable node must run in to be what the planner priced: unlimited only
    where the policy opted in (and the surcharge was priced), else standard, so pods are never billed
    for credits nobody planned; "" for fixed-performance types."""
    if not shape.burstable:
        return ""
    return "unlimited" if runs_unlimited(shape, policy) else "standard"


class ClusterNodeClass:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        node_class = node_class_of(cluster)
        if node_class.refreshed_at is None or timezone.now() - node_class.refreshed_at > REFRESH_EVERY:
            node_class = node_class_refresh(cluster)
        self.node_class: NodeClass = node_class

    def problem(self) -> str:
        return self.node_class.problem

    def zones(self) -> frozenset[str] | None:
        # With a problem nothing launches anyway: the pods are planned and held with its reason.
        return None if self.node_class.problem else frozenset(self.node_class.subnets)

    def place(self, request: LaunchRequest, catalog: Catalog, policy: PlannerPolicy) -> LaunchRequest:
        shapes = {t.name: t for t in catalog.instance_types}
        subnets = self.node_class.subnets
        offerings = [o for o in request.offerings if o.zone in subnets and o.instance_type in shapes]
        specs = {o: template_spec(shapes[o.instance_type], request, policy) for o in offerings}
        versions = node_class_templates(self.cluster, specs={spec.key: spec for spec in specs.values()})
        placements = tuple(
            Placement(versions[specs[o].key].template_id, versions[specs[o].key].version, subnets[o.zone])
            for o in offerings
        )
        return replace(request, offerings=tuple(offerings), placements=placements)
