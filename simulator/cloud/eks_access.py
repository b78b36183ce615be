"""EKS access entries (moto has none), served by the gateway and applied to simulated clusters.

An entry maps an IAM principal to Kubernetes permissions through its associated access policies
(`AmazonEKSClusterAdminPolicy` → cluster admin, `AmazonEKSViewPolicy` → read-only, ...) or, since
the simulator has no RBAC, through a Kubernetes group named like a permission set
(`nodeless-controller`).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from simulator.auth import (
    CLUSTER_ADMIN,
    NODELESS_CONTROLLER,
    PERMISSION_SETS,
    READ_ONLY,
    AccessEntries,
    AccessEntry,
    PermissionSet,
)
from simulator.cloud.protocol import AwsError

_ROUTE = re.compile(
    r"^/clusters/(?P<cluster>[^/]+)/access-entries(?:/(?P<principal>[^/]+)(?P<policies>/access-policies)?)?/?$"
)
POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
POLICY_PERMISSIONS = {
    "AmazonEKSClusterAdminPolicy": CLUSTER_ADMIN,
    "AmazonEKSAdminPolicy": CLUSTER_ADMIN,
    "AmazonEKSEditPolicy": NODELESS_CONTROLLER,
    "AmazonEKSViewPolicy": READ_ONLY,
    "AmazonEKSAdminViewPolicy": READ_ONLY,
}
NO_PERMISSIONS = PermissionSet("none", ())
_RANK = {NO_PERMISSIONS.name: 0, READ_ONLY.name: 1, NODELESS_CONTROLLER.name: 2, CLUSTER_ADMIN.name: 3}


@dataclass
class _Entry:
    principal_arn: str
    username: str
    groups: list[str]
    entry_type: str
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def permissions(self) -> PermissionSet:
        candidates = [
            POLICY_PERMISSIONS.get(p.removeprefix(POLICY_PREFIX), NO_PERMISSIONS) for p in self.policies
        ]
        candidates += [PERMISSION_SETS[g] for g in self.groups if g in PERMISSION_SETS]
        return max(candidates, key=lambda p: _RANK.get(p.name, 0), default=NO_PERMISSIONS)

    def describe(self, cluster: str, account: str, region: str) -> dict[str, Any]:
        return {
            "clusterName": cluster,
            "principalArn": self.principal_arn,
            "kubernetesGroups": self.groups,
            "accessEntryArn": f"arn:aws:eks:{region}:{account}:access-entry/{cluster}/{self.principal_arn.rsplit('/', 1)[-1]}",
            "username": self.username,
            "type": self.entry_type,
            "tags": {},
        }


class EksAccess:
    def __init__(self) -> None:
        self._clusters: dict[str, AccessEntries] = {}
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def register(self, cluster: str, entries: AccessEntries) -> None:
        with self._lock:
            self._clusters[cluster] = entries

    def grant(self, cluster: str, principal_arn: str, policy_arn: str) -> None:
        """What an onboarding stack's `AWS::EKS::AccessEntry` does: an entry with one policy."""
        with self._lock:
            entry = self._entries.setdefault(
                (cluster, principal_arn), _Entry(principal_arn, principal_arn, [], "STANDARD")
            )
            entry.policies[policy_arn] = {"type": "cluster"}
            self._apply(cluster, entry)

    def node_entry(self, cluster: str, role_arn: str) -> bool:
        """Does `role_arn` have an EC2_LINUX entry on `cluster` (what lets a kubelet using that
        role's credentials authenticate as system:node:<private DNS name>)?"""
        with self._lock:
            entry = self._entries.get((cluster, role_arn))
            return entry is not None and entry.entry_type == "EC2_LINUX"

    def _apply(self, cluster: str, entry: _Entry) -> None:
        entries = self._clusters.get(cluster)
        if entries is not None:
            entries.put(
                AccessEntry(entry.principal_arn, entry.username, entry.permissions(), tuple(entry.groups))
            )

    @staticmethod
    def route(path: str) -> re.Match[str] | None:
        return _ROUTE.match(path)

    def handle(
        self, method: str, match: re.Match[str], body: dict[str, Any], account: str, region: str
    ) -> dict[str, Any]:
        cluster = match["cluster"]
        principal = unquote(match["principal"]) if match["principal"] else None
        with self._lock:
            if cluster not in self._clusters:
                raise AwsError("ResourceNotFoundException", f"No cluster found for name: {cluster}.", 404)
            if principal is None:
                if method == "GET":
                    arns = sorted(arn for (c, arn) in self._entries if c == cluster)
                    return {"accessEntries": arns}
                return self._create(cluster, body, account, region)
            entry = self._entries.get((cluster, principal))
            if entry is None:
                raise AwsError(
                    "ResourceNotFoundException",
                    f"The specified access entry resource {principal} could not be found.",
                    404,
                )
            if match["policies"]:
                if method == "POST":
                    if entry.entry_type != "STANDARD":
                        raise AwsError(
                            "InvalidParameterException",
                            f"Access policies cannot be associated with an access entry of type {entry.entry_type}.",
                        )
                    entry.policies[body["policyArn"]] = body.get("accessScope") or {"type": "cluster"}
                    self._apply(cluster, entry)
                    return {
                        "clusterName": cluster,
                        "principalArn": principal,
                        "associatedAccessPolicy": {
                            "policyArn": body["policyArn"],
                            "accessScope": entry.policies[body["policyArn"]],
                        },
                    }
                policies = [
                    {"policyArn": arn, "accessScope": scope} for arn, scope in sorted(entry.policies.items())
                ]
                return {
                    "clusterName": cluster,
                    "principalArn": principal,
                    "associatedAccessPolicies": policies,
                }
            if method == "DELETE":
                del self._entries[(cluster, principal)]
                self._clusters[cluster].delete(principal)
                return {}
            return {"accessEntry": entry.describe(cluster, account, region)}

    def _create(self, cluster: str, body: dict[str, Any], account: str, region: str) -> dict[str, Any]:
        principal = body.get("principalArn", "")
        if ":assumed-role/" in principal:
            raise AwsError(
                "InvalidParameterException",
                "The principalArn parameter format is not valid: STS session ARNs are not allowed.",
            )
        entry_type = body.get("type", "STANDARD")
        if entry_type not in ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX"):
            raise AwsError("InvalidParameterException", f"The type {entry_type} is not valid.")
        if entry_type != "STANDARD" and (body.get("kubernetesGroups") or body.get("username")):
            # EKS grants node types their permissions itself (creating-access-entries.html).
            raise AwsError(
                "InvalidParameterException",
                f"kubernetesGroups and username cannot be specified for an access entry of type {entry_type}.",
            )
        if entry_type != "STANDARD" and ":role/" not in principal:
            raise AwsError(
                "InvalidParameterException",
                f"The principalArn must be an IAM role for an access entry of type {entry_type}.",
            )
        if (cluster, principal) in self._entries:
            raise AwsError(
                "ResourceInUseException",
                "The specified access entry resource is already in use on this cluster.",
                409,
            )
        entry = _Entry(
            principal,
            body.get("username") or principal,
            list(body.get("kubernetesGroups") or []),
            entry_type,
        )
        self._entries[(cluster, principal)] = entry
        self._apply(cluster, entry)
        return {"accessEntry": entry.describe(cluster, account, region)}


def json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()
