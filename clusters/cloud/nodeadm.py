"""The user data that joins an EKS AL2023 instance to its cluster: a MIME multi-part document with
one nodeadm `NodeConfig` part (`node.eks.aws/v1alpha1`), as Karpenter writes it. Pure.

- `spec.cluster`: name, API endpoint, CA bundle (base64) and the service CIDR, all from
  `eks:DescribeCluster`; nodeadm refuses to start without them (awslabs/amazon-eks-ami
  `nodeadm/doc/api.md`).
- `spec.kubelet.config`: `maxPods`, `kubeReserved` (the EKS AMI formula: the tiered CPU table,
  11 MiB per pod + 255 MiB of memory, 1 GiB of ephemeral storage) and `registerWithTaints` (the
  startup taint, or the reserved-for taint of a node launched for one pod, plus the policy's taints).
- `spec.kubelet.flags`: `--node-labels` with only the labels a kubelet may set on its own Node. The
  NodeRestriction admission plugin refuses a kubelet every other `kubernetes.io` / `k8s.io` key (and
  the kubelet then refuses to start), so those are applied by the loop once the node registered
  (https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

BOUNDARY = "//"
NODECONFIG_API_VERSION = "node.eks.aws/v1alpha1"
# Labels a kubelet may set on itself besides the allowed prefixes (NodeRestriction).
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
    }
)
KUBELET_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")
KUBE_RESERVED_EPHEMERAL = "1Gi"
# Launch template user data is at most 16 KB of base64 text (RequestLaunchTemplateData).
MAX_USER_DATA = 16 * 1024


@dataclass(frozen=True)
class ClusterJoin:
    """What a node needs to find and trust its cluster (from DescribeCluster)."""

    name: str
    endpoint: str
    certificate_authority: str  # base64 CA bundle, as DescribeCluster returns it
    service_cidr: str


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class KubeletShape:
    """The kubelet settings one launch template carries."""

    labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    max_pods: int
    vcpu: int


def kubelet_may_set(key: str) -> bool:
    """May a kubelet put this label on its own Node (NodeRestriction)?"""
    namespace = key.split("/", 1)[0] if "/" in key else ""
    restricted = namespace in ("kubernetes.io", "k8s.io") or namespace.endswith((".kubernetes.io", ".k8s.io"))
    return not restricted or key in KUBELET_LABELS or key.startswith(KUBELET_PREFIXES)


def split_labels(labels: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(labels for `--node-labels`, labels the loop applies after registration)."""
    own = {k: v for k, v in labels.items() if kubelet_may_set(k)}
    return own, {k: v for k, v in labels.items() if k not in own}


def kube_reserved_cpu_millis(vcpu: int) -> int:
    millis = 0.0
    for core in range(vcpu):
        millis += 60 if core == 0 else 10 if core == 1 else 5 if core < 4 else 2.5
    return math.ceil(millis)


def kube_reserved(vcpu: int, max_pods: int) -> dict[str, str]:
    return {
        "cpu": f"{kube_reserved_cpu_millis(vcpu)}m",
        "memory": f"{11 * max_pods + 255}Mi",
        "ephemeral-storage": KUBE_RESERVED_EPHEMERAL,
    }


def node_config(cluster: ClusterJoin, shape: KubeletShape) -> dict[str, object]:
    config: dict[str, object] = {
        "maxPods": shape.max_pods,
        "kubeReserved": kube_reserved(shape.vcpu, shape.max_pods),
    }
    if shape.taints:
        config["registerWithTaints"] = [
            {"key": t.key, "value": t.value, "effect": t.effect}
            if t.value
            else {"key": t.key, "effect": t.effect}
            for t in shape.taints
        ]
    kubelet: dict[str, object] = {"config": config}
    if shape.labels:
        kubelet["flags"] = ["--node-labels=" + ",".join(f"{k}={v}" for k, v in shape.labels)]
    return {
        "apiVersion": NODECONFIG_API_VERSION,
        "kind": "NodeConfig",
        "spec": {
            "cluster": {
                "name": cluster.name,
                "apiServerEndpoint": cluster.endpoint,
                "certificateAuthority": cluster.certificate_authority,
                "cidr": cluster.service_cidr,
            },
            "kubelet": kubelet,
        },
    }


def user_data(cluster: ClusterJoin, shape: KubeletShape) -> str:
    """The base64 user data of a launch template. Raises ValueError when a label would keep the
    kubelet from starting, or when the document is over the launch template limit."""
    refused = sorted(k for k, _ in shape.labels if not kubelet_may_set(k))
    if refused:
        raise ValueError(
            f"a kubelet may not set {', '.join(refused)} on itself; apply them after registration"
        )
    document = yaml.safe_dump(node_config(cluster, shape), sort_keys=False)
    text = (
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n'
        f"--{BOUNDARY}\n"
        "Content-Type: application/node.eks.aws\n\n"
        f"{document}\n"
        f"--{BOUNDARY}--\n"
    )
    encoded = base64.b64encode(text.encode()).decode()
    if len(encoded) > MAX_USER_DATA:
        raise ValueError(
            f"the user data is {len(encoded)} bytes; a launch template takes at most {MAX_USER_DATA}"
        )
    return encoded


def taints_of(items: Sequence[Taint]) -> tuple[Taint, ...]:
    return tuple(sorted(set(items), key=lambda t: (t.key, t.value, t.effect)))
