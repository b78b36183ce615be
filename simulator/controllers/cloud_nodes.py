"""Node lifecycle from the cloud: EC2 instances tagged for the cluster become Nodes.

Each pass reads the cluster's instances from the (simulated) EC2 API and:
1. registers a Node for every pending/running instance once `boot_delay` simulated seconds have
   passed since it was first seen - only when the instance may join (`NodeGate`: its user data is
   a NodeConfig for this cluster, its role has an EC2_LINUX access entry, its AMI fits it), as
   the kubelet does: name = private DNS name, providerID `aws:///<zone>/<id>`, the well-known
   labels, and the labels and taints of its kubelet flags (`--node-labels`,
   `--register-with-taints`, `registerWithTaints`). EC2 tags never become labels;
2. marks the Node of a stopped or terminated instance NotReady (Ready=Unknown, unreachable
   taints) and deletes it `removal_delay` seconds later; its pods are then garbage-collected.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from simulator.api import ClusterApi
from simulator.catalog import AwsCatalog
from simulator.controllers.nodeadm import JoinRefused, KubeletSettings
from simulator.errors import ApiError
from simulator.nodes import (
    LABEL_INSTANCE_TYPE,
    LABEL_REGION,
    LABEL_ZONE,
    NodeResources,
    NodeTemplate,
    node_conditions,
    node_object,
    node_resources,
)
from simulator.resources import NODES

logger = logging.getLogger(__name__)

INSTANCE_ID_ANNOTATION = "sim.nodeless.io/instance-id"
UNREACHABLE_TAINTS = (
    {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
)
LIVE_STATES = ("pending", "running")


@dataclass(frozen=True)
class CloudInstance:
    instance_id: str
    instance_type: str
    zone: str
    state: str  # pending, running, shutting-down, terminated, stopping, stopped
    capacity_type: str  # spot or on-demand
    private_ip: str
    private_dns_name: str
    tags: Mapping[str, str]
    user_data: str = ""  # base64, as the instance metadata service serves it
    role_arn: str = ""  # the role of its instance profile
    image_id: str = ""
    vpc_id: str = ""
    security_group_ids: tuple[str, ...] = ()


class InstanceSource(Protocol):
    def instances(self) -> list[CloudInstance]:
        """Every instance carrying the cluster's tag, in any state."""
        ...


class NodeGate(Protocol):
    def admit(self, instance: CloudInstance) -> KubeletSettings:
        """What the instance's kubelet registers with; raises JoinRefused when it cannot join."""
        ...


class OpenGate:
    """Every instance joins with no kubelet flags (clusters whose nodes nobody configures)."""

    def admit(self, instance: CloudInstance) -> KubeletSettings:
        return KubeletSettings()


class CloudNodeLifecycle:
    name = "cloud-node-lifecycle"
    watches = frozenset({NODES.key})

    def __init__(
        self,
        api: ClusterApi,
        source: InstanceSource,
        catalog: AwsCatalog,
        region: str,
        *,
        boot_delay: float = 5.0,
        removal_delay: float = 30.0,
        poll_interval: float = 10.0,
        gate: NodeGate | None = None,
    ) -> None:
        self.api = api
        self.source = source
        self.gate = gate or OpenGate()
        # Instances whose kubelet cannot join, with why (what its journal would say).
        self.refused: dict[str, str] = {}
        self.catalog = catalog
        self.region = region
        self.boot_delay = boot_delay
        self.removal_delay = removal_delay
        self.poll_interval = poll_interval
        self._first_seen: dict[str, float] = {}
        self._gone_since: dict[str, float] = {}

    def reconcile(self, now: float) -> float | None:
        instances = {i.instance_id: i for i in self.source.instances()}
        nodes = {
            (s.obj["metadata"].get("annotations") or {}).get(INSTANCE_ID_ANNOTATION): s.obj
            for s in self.api.store.list(NODES).items
        }
        due = [now + self.poll_interval]
        for instance in instances.values():
            if instance.state not in LIVE_STATES or instance.instance_id in nodes:
                continue
            ready_at = self._first_seen.setdefault(instance.instance_id, now) + self.boot_delay
            if now >= ready_at:
                self._register(instance, now)
            else:
                due.append(ready_at)
        for instance_id, node in nodes.items():
            if instance_id is None:
                continue
            current = instances.get(instance_id)
            if current is not None and current.state in LIVE_STATES:
                continue
            removal_at = self._gone_since.setdefault(instance_id, now) + self.removal_delay
            if now >= removal_at:
                self._delete(node)
            else:
                self._mark_not_ready(node, now)
                due.append(removal_at)
        live = {i for i, inst in instances.items() if inst.state in LIVE_STATES}
        self._first_seen = {i: t for i, t in self._first_seen.items() if i in live}
        self.refused = {i: r for i, r in self.refused.items() if i in live}
        return min(due)

    def _register(self, instance: CloudInstance, now: float) -> None:
        try:
            spec = self.catalog.instance_type(instance.instance_type)
        except KeyError:
            logger.warning(
                "instance %s has unknown type %s; no node registered",
                instance.instance_id,
                instance.instance_type,
            )
            return
        try:
            kubelet = self.gate.admit(instance)
        except JoinRefused as refused:
            if self.refused.get(instance.instance_id) != str(refused):
                logger.warning("instance %s cannot join: %s", instance.instance_id, refused)
            self.refused[instance.instance_id] = str(refused)
            return
        self.refused.pop(instance.instance_id, None)
        labels = {
            **kubelet.labels,
            # Set by the kubelet and the AWS cloud controller manager, whatever the flags say.
            LABEL_INSTANCE_TYPE: instance.instance_type,
            "beta.kubernetes.io/instance-type": instance.instance_type,
            LABEL_ZONE: instance.zone,
            LABEL_REGION: self.region,
            "failure-domain.beta.kubernetes.io/zone": instance.zone,
            "failure-domain.beta.kubernetes.io/region": self.region,
        }
        resources = node_resources(spec)
        missing = {"nvidia.com/gpu", "aws.amazon.com/neuron"} - kubelet.accelerators
        pods = {"pods": str(kubelet.max_pods)} if kubelet.max_pods else {}  # the kubelet's maxPods wins
        resources = NodeResources(
            {**{k: v for k, v in resources.capacity.items() if k not in missing}, **pods},
            {**{k: v for k, v in resources.allocatable.items() if k not in missing}, **pods},
        )
        template = NodeTemplate(
            name=instance.private_dns_name or instance.instance_id,
            resources=resources,
            labels=labels,
            taints=kubelet.taints,
            provider_id=f"aws:///{instance.zone}/{instance.instance_id}",
            internal_ip=instance.private_ip,
            architecture=spec.kubernetes_arch,
            annotations={INSTANCE_ID_ANNOTATION: instance.instance_id},
        )
        try:
            self.api.create(NODES, "", node_object(template, now))
        except ApiError as error:
            logger.warning("could not register node for %s: %s", instance.instance_id, error.message)

    def _mark_not_ready(self, node: dict[str, Any], now: float) -> None:
        ready = next((c for c in node["status"].get("conditions") or () if c.get("type") == "Ready"), None)
        if ready is not None and ready.get("status") == "Unknown":
            return
        name = node["metadata"]["name"]

        def not_ready(copy: dict[str, Any]) -> None:
            copy["status"]["conditions"] = node_conditions(ready=False, now=now, reason="InstanceTerminated")

        def unreachable(copy: dict[str, Any]) -> None:
            taints = [
                t
                for t in copy["spec"].get("taints") or ()
                if t.get("key") != "node.kubernetes.io/unreachable"
            ]
            copy["spec"]["taints"] = [*taints, *(dict(t) for t in UNREACHABLE_TAINTS)]

        try:
            self.api.update(NODES, "", name, not_ready, subresource="status")
            self.api.update(NODES, "", name, unreachable)
        except ApiError:
            pass

    def _delete(self, node: dict[str, Any]) -> None:
        instance_id = (node["metadata"].get("annotations") or {}).get(INSTANCE_ID_ANNOTATION, "")
        with contextlib.suppress(ApiError):
            self.api.delete(NODES, "", node["metadata"]["name"])
        self._gone_since.pop(instance_id, None)
