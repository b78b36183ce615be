"""What nodeadm on an EKS AL2023 AMI makes of an instance's user data, and what the kubelet it
starts may register. Pure.

- User data is a MIME multi-part document; the parts of type `application/node.eks.aws` are
  `NodeConfig` objects (`apiVersion: node.eks.aws/v1alpha1`), merged in order. Without one, or
  without `spec.cluster.{name, apiServerEndpoint, certificateAuthority, cidr}`, nodeadm fails and no
  kubelet starts (awslabs/amazon-eks-ami `nodeadm/doc/api.md`).
- The kubelet takes `spec.kubelet.config` (merged into its KubeletConfiguration: `maxPods`,
  `registerWithTaints`, ...) and `spec.kubelet.flags` (`--node-labels`, `--register-with-taints`).
- A kubelet refuses to start when `--node-labels` names a `kubernetes.io` / `k8s.io` key the
  NodeRestriction admission plugin would not let it set on itself ("unknown 'kubernetes.io' or
  'k8s.io' labels specified with --node-labels"), see
  https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction.
"""

from __future__ import annotations

import base64
import binascii
import email
from dataclasses import dataclass, field
from typing import Any

import yaml

NODECONFIG_CONTENT_TYPE = "application/node.eks.aws"
NODECONFIG_API_VERSION = "node.eks.aws/v1alpha1"
# Labels a kubelet may set on its own Node (NodeRestriction), besides the allowed prefixes.
KUBELET_ALLOWED_LABELS = frozenset(
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
KUBELET_ALLOWED_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")


class JoinRefused(Exception):
    """Why no kubelet registers from this instance (what its journal would say)."""


@dataclass(frozen=True)
class ExpectedCluster:
    """The cluster a node must name, as EKS DescribeCluster reports it."""

    name: str
    endpoint: str
    certificate_authority: str  # base64 CA bundle
    cidr: str


@dataclass(frozen=True)
class KubeletSettings:
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()
    max_pods: int | None = None
    # Accelerator drivers and device plugins come with the nvidia / neuron AMIs only: on a standard
    # AMI a GPU instance's node advertises no nvidia.com/gpu.
    accelerators: frozenset[str] = frozenset({"nvidia.com/gpu", "aws.amazon.com/neuron"})


def kubelet_may_set(key: str) -> bool:
    namespace = key.split("/", 1)[0] if "/" in key else ""
    if not (
        namespace == "kubernetes.io"
        or namespace.endswith(".kubernetes.io")
        or namespace == "k8s.io"
        or namespace.endswith(".k8s.io")
    ):
        return True
    return key in KUBELET_ALLOWED_LABELS or key.startswith(KUBELET_ALLOWED_PREFIXES)


def node_configs(user_data: str) -> list[dict[str, Any]]:
    """The NodeConfig documents of base64 user data, in order."""
    try:
        text = base64.b64decode(user_data, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise JoinRefused("user data is not base64 text") from error
    message = email.message_from_string(text)
    if not message.is_multipart():
        raise JoinRefused("user data is not a MIME multi-part document")
    configs = []
    for part in message.walk():
        if part.get_content_type() != NODECONFIG_CONTENT_TYPE:
            continue
        try:
            document = yaml.safe_load(str(part.get_payload()))
        except yaml.YAMLError as error:
            raise JoinRefused(f"a NodeConfig part is not YAML: {error}") from error
        if not isinstance(document, dict):
            raise JoinRefused("a NodeConfig part is not an object")
        if document.get("apiVersion") != NODECONFIG_API_VERSION or document.get("kind") != "NodeConfig":
            raise JoinRefused(f"unknown NodeConfig apiVersion/kind {document.get('apiVersion')!r}")
        configs.append(document)
    if not configs:
        raise JoinRefused(f"no {NODECONFIG_CONTENT_TYPE} part in the user data")
    return configs


def _merged(configs: list[dict[str, Any]]) -> dict[str, Any]:
    cluster: dict[str, Any] = {}
    config: dict[str, Any] = {}
    flags: list[str] = []
    for document in configs:
        spec = document.get("spec") or {}
        cluster.update(spec.get("cluster") or {})
        kubelet = spec.get("kubelet") or {}
        config.update(kubelet.get("config") or {})
        flags.extend(str(f) for f in kubelet.get("flags") or ())
    return {"cluster": cluster, "config": config, "flags": flags}


def _flag_values(flags: list[str], name: str) -> list[str]:
    prefix = f"--{name}="
    return [flag[len(prefix) :] for flag in flags if flag.startswith(prefix)]


def _parse_taint(item: str) -> dict[str, str]:
    head, _, effect = item.rpartition(":")
    key, _, value = head.partition("=")
    if not key or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise JoinRefused(f"invalid taint {item!r}")
    taint = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


def kubelet_settings(user_data: str, expected: ExpectedCluster) -> KubeletSettings:
    """What the kubelet registers with, or JoinRefused saying why nodeadm/kubelet would fail."""
    merged = _merged(node_configs(user_data))
    cluster = merged["cluster"]
    for key in ("name", "apiServerEndpoint", "certificateAuthority", "cidr"):
        if not cluster.get(key):
            raise JoinRefused(f"NodeConfig spec.cluster.{key} is missing")
    if cluster["name"] != expected.name:
        raise JoinRefused(f"NodeConfig names cluster {cluster['name']!r}, not {expected.name!r}")
    if cluster["apiServerEndpoint"] != expected.endpoint:
        raise JoinRefused("NodeConfig apiServerEndpoint is not the cluster's endpoint")
    if cluster["certificateAuthority"] != expected.certificate_authority:
        raise JoinRefused("NodeConfig certificateAuthority is not the cluster's CA (TLS would fail)")
    if cluster["cidr"] != expected.cidr:
        raise JoinRefused(f"NodeConfig cidr {cluster['cidr']} is not the service CIDR {expected.cidr}")
    labels: dict[str, str] = {}
    for value in _flag_values(merged["flags"], "node-labels"):
        for item in filter(None, value.split(",")):
            key, sep, label = item.partition("=")
            if not sep:
                raise JoinRefused(f"invalid --node-labels item {item!r}")
            if not kubelet_may_set(key):
                raise JoinRefused(
                    f"unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: {key}"
                )
            labels[key] = label
    taints = [
        _parse_taint(i)
        for v in _flag_values(merged["flags"], "register-with-taints")
        for i in v.split(",")
        if i
    ]
    for taint in merged["config"].get("registerWithTaints") or ():
        taints.append({k: str(v) for k, v in dict(taint).items() if k in ("key", "value", "effect")})
    max_pods = merged["config"].get("maxPods")
    return KubeletSettings(labels, tuple(taints), int(max_pods) if max_pods else None)
