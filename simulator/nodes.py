"""Node objects as an EKS kubelet registers them: capacity, allocatable, labels, conditions.

Allocatable uses the EKS AMI bootstrap formulas, so the planner's view of a node matches the
node that appears:

- kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of the third and fourth,
  0.25% of every core above four;
- kube-reserved memory: 11 MiB × max pods + 255 MiB, plus the 100 MiB hard-eviction threshold;
- max pods: the VPC CNI formula (`max_pods_eni` in the catalog);
- ephemeral storage: a 20 GiB root volume, minus 1 GiB kube-reserved and the 10% eviction threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.catalog import InstanceTypeSpec
from simulator.clock import format_timestamp
from simulator.discovery import KUBERNETES_VERSION

GIB = 1024**3
MIB = 1024**2
ROOT_VOLUME_BYTES = 20 * GIB
EVICTION_HARD_MEMORY_MIB = 100

LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_OS = "kubernetes.io/os"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_CAPACITY_TYPE = "karpenter.sh/capacity-type"
LABEL_EKS_CAPACITY_TYPE = "eks.amazonaws.com/capacityType"


def kube_reserved_cpu_millicores(vcpu: int) -> float:
    reserved = 0.0
    for core in range(1, vcpu + 1):
        if core == 1:
            reserved += 60
        elif core == 2:
            reserved += 10
        elif core <= 4:
            reserved += 5
        else:
            reserved += 2.5
    return reserved


def kube_reserved_memory_mib(max_pods: int) -> int:
    return 11 * max_pods + 255


@dataclass(frozen=True)
class NodeResources:
    capacity: dict[str, str]
    allocatable: dict[str, str]


def _extended_resources(spec: InstanceTypeSpec) -> dict[str, str]:
    extended = {}
    if spec.gpu_count and spec.gpu_manufacturer == "NVIDIA":
        extended["nvidia.com/gpu"] = str(spec.gpu_count)
    elif spec.gpu_count and spec.gpu_manufacturer == "AMD":
        extended["amd.com/gpu"] = str(spec.gpu_count)
    elif spec.gpu_count and spec.gpu_manufacturer == "Habana":
        extended["habana.ai/gaudi"] = str(spec.gpu_count)
    if spec.neuron_devices:
        extended["aws.amazon.com/neuron"] = str(spec.neuron_devices)
    return extended


def node_resources(spec: InstanceTypeSpec) -> NodeResources:
    cpu_millicores = spec.vcpu * 1000 - kube_reserved_cpu_millicores(spec.vcpu)
    memory_mib = spec.memory_mib - kube_reserved_memory_mib(spec.max_pods) - EVICTION_HARD_MEMORY_MIB
    storage = int(ROOT_VOLUME_BYTES - GIB - ROOT_VOLUME_BYTES * 0.1)
    extended = _extended_resources(spec)
    capacity = {
        "cpu": str(spec.vcpu),
        "memory": f"{spec.memory_mib * 1024}Ki",
        "ephemeral-storage": f"{ROOT_VOLUME_BYTES // 1024}Ki",
        "pods": str(spec.max_pods),
        **extended,
    }
    allocatable = {
        "cpu": f"{round(cpu_millicores)}m",
        "memory": f"{max(0, memory_mib) * 1024}Ki",
        "ephemeral-storage": str(storage),
        "pods": str(spec.max_pods),
        **extended,
    }
    return NodeResources(capacity, allocatable)


@dataclass(frozen=True)
class NodeTemplate:
    """Everything needed to write one Node object."""

    name: str
    resources: NodeResources
    labels: dict[str, str]
    taints: tuple[dict[str, str], ...] = ()
    provider_id: str = ""
    internal_ip: str = ""
    architecture: str = "amd64"
    annotations: dict[str, str] = field(default_factory=dict)


def node_conditions(*, ready: bool, now: float, reason: str = "") -> list[dict[str, Any]]:
    timestamp = format_timestamp(now)
    pressure = [
        {
            "type": kind,
            "status": "False",
            "lastHeartbeatTime": timestamp,
            "lastTransitionTime": timestamp,
            "reason": f"KubeletHas{suffix}",
            "message": message,
        }
        for kind, suffix, message in (
            ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    ready_condition = {
        "type": "Ready",
        "status": "True" if ready else "Unknown",
        "lastHeartbeatTime": timestamp,
        "lastTransitionTime": timestamp,
        "reason": "KubeletReady" if ready else (reason or "NodeStatusUnknown"),
        "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
    }
    return [*pressure, ready_condition]


def node_object(template: NodeTemplate, now: float) -> dict[str, Any]:
    labels = {
        LABEL_HOSTNAME: template.name,
        LABEL_OS: "linux",
        LABEL_ARCH: template.architecture,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": template.architecture,
        **template.labels,
    }
    addresses = [{"type": "Hostname", "address": template.name}]
    if template.internal_ip:
        addresses.insert(0, {"type": "InternalIP", "address": template.internal_ip})
        addresses.append({"type": "InternalDNS", "address": template.name})
    spec: dict[str, Any] = {}
    if template.provider_id:
        spec["providerID"] = template.provider_id
    if template.taints:
        spec["taints"] = [dict(t) for t in template.taints]
    return {
        "metadata": {"name": template.name, "labels": labels, "annotations": dict(template.annotations)},
        "spec": spec,
        "status": {
            "capacity": dict(template.resources.capacity),
            "allocatable": dict(template.resources.allocatable),
            "conditions": node_conditions(ready=True, now=now),
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": template.architecture,
                "bootID": "",
                "containerRuntimeVersion": "containerd://1.7.25",
                "kernelVersion": "6.1.119-129.201.amzn2023.x86_64",
                "kubeProxyVersion": KUBERNETES_VERSION + "-eks",
                "kubeletVersion": KUBERNETES_VERSION + "-eks",
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023 (nodeless simulator)",
                "systemUUID": "",
            },
            "images": [],
        },
    }


def is_node_ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )
