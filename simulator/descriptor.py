"""The simulation descriptor (JSON) and kubeconfig a running simulation writes for its users.

The descriptor tells the product everything it needs to connect: the one AWS endpoint for boto3,
the accounts, the role and external ID to assume, and per cluster its endpoint, CA, tokens, EC2
tag, interruption queue and launch template. EKS clusters also appear in `eks_endpoints`, the
override the product applies because moto's EKS endpoints are fake.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

DESCRIPTOR_VERSION = 1


@dataclass(frozen=True)
class AwsDescriptor:
    endpoint_url: str
    region: str
    vendor_account_id: str
    vendor_access_key_id: str
    vendor_secret_access_key: str
    customer_account_id: str
    role_arn: str
    external_id: str
    # The customer account's administrator (to create roles and access entries, as the
    # onboarding CloudFormation stack would); valid against `endpoint_url`.
    customer_admin_access_key_id: str = ""
    customer_admin_secret_access_key: str = ""
    customer_admin_session_token: str = ""
    # The simulated AWS console (CloudFormation quick-create), served by the cloud gateway.
    console_url: str = ""


@dataclass(frozen=True)
class ClusterDescriptor:
    name: str
    kind: str  # eks or static
    mode: str  # nodeless or onprem (a hint for seeding the product)
    region: str
    endpoint: str
    ca_pem: str
    admin_token: str
    readonly_token: str
    ec2_tag_key: str = ""
    ec2_tag_value: str = ""
    interruption_queue_url: str = ""
    account_id: str = ""
    eks_arn: str = ""


@dataclass(frozen=True)
class SimulationDescriptor:
    aws: AwsDescriptor | None
    clusters: tuple[ClusterDescriptor, ...]
    kubeconfig: str
    speed: float
    version: int = DESCRIPTOR_VERSION
    # "<region>/<name>" -> {"endpoint", "ca_pem"}: the file format of NODELESS_EKS_ENDPOINT_OVERRIDES.
    eks_endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    eks_endpoints_file: str = ""

    def cluster(self, name: str) -> ClusterDescriptor:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SimulationDescriptor:
        raw: dict[str, Any] = json.loads(text)
        aws = AwsDescriptor(**raw["aws"]) if raw.get("aws") else None
        clusters = tuple(ClusterDescriptor(**c) for c in raw["clusters"])
        return cls(
            aws,
            clusters,
            raw["kubeconfig"],
            raw["speed"],
            raw["version"],
            raw.get("eks_endpoints", {}),
            raw.get("eks_endpoints_file", ""),
        )


def load_descriptor(path: Path | str) -> SimulationDescriptor:
    return SimulationDescriptor.from_json(Path(path).read_text())


def kubeconfig(clusters: tuple[ClusterDescriptor, ...]) -> dict[str, Any]:
    """One context per cluster, named like the cluster, authenticating with its admin token."""
    entries: dict[str, list[dict[str, Any]]] = {"clusters": [], "users": [], "contexts": []}
    for cluster in clusters:
        server: dict[str, Any] = {"server": cluster.endpoint}
        if cluster.ca_pem:
            server["certificate-authority-data"] = base64.b64encode(cluster.ca_pem.encode()).decode()
        entries["clusters"].append({"name": cluster.name, "cluster": server})
        entries["users"].append({"name": f"{cluster.name}-admin", "user": {"token": cluster.admin_token}})
        entries["contexts"].append(
            {"name": cluster.name, "context": {"cluster": cluster.name, "user": f"{cluster.name}-admin"}}
        )
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": clusters[0].name if clusters else "",
        **entries,
    }


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: it holds tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def write_kubeconfig(path: Path, clusters: tuple[ClusterDescriptor, ...]) -> None:
    write_private(path, yaml.safe_dump(kubeconfig(clusters), sort_keys=False))
