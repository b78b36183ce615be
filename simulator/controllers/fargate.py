"""The Fargate side of a simulated EKS cluster: the admission step that routes new pods, and the
Fargate scheduler that gives each of them a node of its own.

As EKS does it (https://docs.aws.amazon.com/eks/latest/userguide/fargate.html, fargate-pod-configuration.html):

- **At creation only.** A pod created while an ACTIVE Fargate profile matches it (namespace, and
  every label of one of the profile's selectors) gets `spec.schedulerName: fargate-scheduler` and the
  label `eks.amazonaws.com/fargate-profile`. A pod created before is not converted: the scheduler
  name is immutable, so it stays with the default scheduler.
- **One node per pod.** The Fargate scheduler sizes the pod (its effective requests, plus 256 MiB for
  the kubelet, kube-proxy and containerd), rounds it up to the first Fargate shape that holds it
  (`data/fargate_shapes.csv`, smallest vCPU first), and registers a node `fargate-ip-…` of that
  shape in one of the profile's subnets' zones, labelled `eks.amazonaws.com/compute-type: fargate`
  and tainted `eks.amazonaws.com/compute-type=fargate:NoSchedule`; the pod is bound to it and
  annotated `CapacityProvisioned`. When the pod ends or is deleted, the node goes away.
- Pods Fargate cannot run (GPUs, privileged containers, host networking, or larger than every shape)
  stay pending with the reason.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from simulator.api import ClusterApi
from simulator.api_support import set_condition
from simulator.errors import ApiError
from simulator.nodes import LABEL_REGION, LABEL_ZONE, NodeResources, NodeTemplate, node_object
from simulator.quantity import pod_requests
from simulator.resources import NODES, PODS, ResourceType

FARGATE_SCHEDULER = "fargate-scheduler"
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
PROFILE_LABEL = "eks.amazonaws.com/fargate-profile"
CAPACITY_ANNOTATION = "CapacityProvisioned"
# Which pod a Fargate node carries (the simulator's own bookkeeping).
POD_ANNOTATION = "sim.nodeless.io/fargate-pod"
MEMORY_OVERHEAD_MIB = 256
SHAPES_CSV = Path(__file__).resolve().parents[2] / "data" / "fargate_shapes.csv"
MIB = 1024**2


@dataclass(frozen=True)
class FargateMatch:
    profile: str
    zones: tuple[str, ...]


Router = Callable[[str, dict[str, str]], FargateMatch | None]


@cache
def fargate_shapes() -> tuple[tuple[float, int], ...]:
    """(vCPU, memory MiB) pairs Fargate offers, smallest vCPU then memory first."""
    with SHAPES_CSV.open(newline="") as handle:
        rows = [
            (float(r["vcpu"]), int(r["memory_mib"]))
            for r in csv.DictReader(handle)
            if "linux" in r["os_support"]
        ]
    return tuple(sorted(set(rows)))


def fargate_shape(requests: dict[str, float]) -> tuple[float, int] | None:
    cpu = requests.get("cpu", 0.0)
    memory_mib = requests.get("memory", 0.0) / MIB + MEMORY_OVERHEAD_MIB
    for vcpu, shape_mib in fargate_shapes():
        if vcpu + 1e-9 >= cpu and shape_mib + 1e-9 >= memory_mib:
            return vcpu, shape_mib
    return None


def fargate_admission(route: Router) -> Callable[[ResourceType, dict[str, Any]], None]:
    """The mutating step EKS runs on every pod creation."""

    def mutate(resource: ResourceType, obj: dict[str, Any]) -> None:
        if resource.key != PODS.key:
            return
        spec, meta = obj.get("spec") or {}, obj.get("metadata") or {}
        if spec.get("nodeName") or spec.get("schedulerName", "default-scheduler") != "default-scheduler":
            return
        if any(ref.get("kind") == "DaemonSet" for ref in meta.get("ownerReferences") or ()):
            return  # Fargate runs no DaemonSets
        match = route(meta.get("namespace", ""), dict(meta.get("labels") or {}))
        if match is None:
            return
        spec["schedulerName"] = FARGATE_SCHEDULER
        meta["labels"] = {**(meta.get("labels") or {}), PROFILE_LABEL: match.profile}

    return mutate


def _unsupported(spec: dict[str, Any], requests: dict[str, float]) -> str:
    if any(name.endswith("/gpu") and value > 0 for name, value in requests.items()):
        return "Pod not supported on Fargate: GPUs are not supported"
    if spec.get("hostNetwork"):
        return "Pod not supported on Fargate: fields not supported: HostNetwork"
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    if any((c.get("securityContext") or {}).get("privileged") for c in containers):
        return "Pod not supported on Fargate: invalid SecurityContext fields: Privileged"
    return ""


class FargateScheduler:
    name = FARGATE_SCHEDULER
    watches = frozenset({PODS.key, NODES.key})

    def __init__(
        self,
        api: ClusterApi,
        now: Callable[[], float],
        zones_of: Callable[[str], tuple[str, ...]],
        region: str = "us-east-1",
    ) -> None:
        """`zones_of(profile)`: the zones of the profile's subnets (where its pods may run)."""
        self.api, self.now, self.zones_of, self.region = api, now, zones_of, region
        self._addresses = itertools.count(10)

    def reconcile(self, now: float) -> float | None:
        pods = {}
        for stored in self.api.store.list(PODS).items:
            pod = stored.obj
            if (pod.get("spec") or {}).get("schedulerName") != FARGATE_SCHEDULER:
                continue
            meta = pod["metadata"]
            pods[(meta["namespace"], meta["name"], meta["uid"])] = pod
            if not pod["spec"].get("nodeName") and not meta.get("deletionTimestamp"):
                self._schedule(pod, now)
        for stored in self.api.store.list(NODES).items:
            node = stored.obj
            if (node["metadata"].get("labels") or {}).get(COMPUTE_TYPE_LABEL) != "fargate":
                continue
            carried = (node["metadata"].get("annotations") or {}).get(POD_ANNOTATION, "")
            namespace, _, rest = carried.partition("/")
            name, _, uid = rest.partition("/")
            carried_pod = pods.get((namespace, name, uid))
            if carried_pod is None or (carried_pod.get("status") or {}).get("phase") in (
                "Succeeded",
                "Failed",
            ):
                with contextlib.suppress(ApiError):
                    self.api.delete(NODES, "", node["metadata"]["name"])
        return None

    def _schedule(self, pod: dict[str, Any], now: float) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        requests = pod_requests(spec)
        problem = _unsupported(spec, requests)
        shape = None if problem else fargate_shape(requests)
        if shape is None:
            self._pending(
                pod, problem or "Pod not supported on Fargate: no Fargate configuration holds its requests"
            )
            return
        zones = self.zones_of(meta.get("labels", {}).get(PROFILE_LABEL, "")) or (f"{self.region}a",)
        number = next(self._addresses)
        zone = zones[number % len(zones)]
        address = f"10.0.{1 + number // 250 % 250}.{number % 250 + 2}"
        name = f"fargate-ip-{address.replace('.', '-')}.ec2.internal"
        vcpu, memory_mib = shape
        cpu = str(int(vcpu)) if vcpu == int(vcpu) else f"{int(vcpu * 1000)}m"
        resources = NodeResources(
            capacity={"cpu": cpu, "memory": f"{memory_mib}Mi", "pods": "1", "ephemeral-storage": "20Gi"},
            allocatable={"cpu": cpu, "memory": f"{memory_mib}Mi", "pods": "1", "ephemeral-storage": "20Gi"},
        )
        template = NodeTemplate(
            name=name,
            resources=resources,
            labels={
                COMPUTE_TYPE_LABEL: "fargate",
                LABEL_ZONE: zone,
                LABEL_REGION: self.region,
                "failure-domain.beta.kubernetes.io/zone": zone,
            },
            taints=({"key": COMPUTE_TYPE_LABEL, "value": "fargate", "effect": "NoSchedule"},),
            provider_id=f"aws:///{zone}/{secrets.token_hex(16)}/{name}",
            internal_ip=address,
            annotations={POD_ANNOTATION: f"{meta['namespace']}/{meta['name']}/{meta['uid']}"},
        )
        gb = f"{memory_mib / 1024:g}"
        try:
            self.api.create(NODES, "", node_object(template, now))
            self.api.update(
                PODS,
                meta["namespace"],
                meta["name"],
                lambda copy: (
                    copy["metadata"]
                    .setdefault("annotations", {})
                    .update({CAPACITY_ANNOTATION: f"{vcpu:g}vCPU {gb}GB"})
                ),
            )
            self.api.bind(meta["namespace"], meta["name"], name, expected_uid=meta["uid"])
        except ApiError:
            return  # the pod went meanwhile: its node is collected on the next pass

    def _pending(self, pod: dict[str, Any], reason: str) -> None:
        meta = pod["metadata"]
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "PodScheduled" and c.get("message") == reason for c in conditions):
            return

        def mark(copy: dict[str, Any]) -> None:
            set_condition(
                copy, "PodScheduled", "False", now=self.now(), reason="Unschedulable", message=reason
            )

        try:
            self.api.update(PODS, meta["namespace"], meta["name"], mark, subresource="status")
        except ApiError:
            return

    @staticmethod
    def delete_profile_pods(api: ClusterApi, profile: str) -> None:
        for stored in api.store.list(PODS).items:
            meta = stored.obj["metadata"]
            if (meta.get("labels") or {}).get(PROFILE_LABEL) == profile:
                try:
                    api.delete(PODS, meta["namespace"], meta["name"])
                except ApiError:
                    continue
