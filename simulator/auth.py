"""Who is calling (authentication) and what they may do (authorization).

An `Identity` carries a `PermissionSet`: RBAC-style rules (verbs × API groups × resources, where
a resource may name a subresource such as `pods/binding`). Identities come from static bearer
tokens (what a kubeconfig holds) or from EKS tokens, whose verified IAM principal is looked up
in the cluster's access entries, as EKS does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from simulator.resources import READ_VERBS


@dataclass(frozen=True)
class RequestAttributes:
    """What a request does, in RBAC terms (`resource` excludes the subresource)."""

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def qualified_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class PolicyRule:
    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]

    @classmethod
    def of(cls, verbs: Iterable[str], api_groups: Iterable[str], resources: Iterable[str]) -> PolicyRule:
        return cls(frozenset(verbs), frozenset(api_groups), frozenset(resources))

    def allows(self, attributes: RequestAttributes) -> bool:
        if "*" not in self.verbs and attributes.verb not in self.verbs:
            return False
        if "*" not in self.api_groups and attributes.api_group not in self.api_groups:
            return False
        if "*" in self.resources:
            return True
        # As in RBAC, "pods" does not grant "pods/binding"; "*/status" grants every status.
        qualified = attributes.qualified_resource
        return qualified in self.resources or (
            bool(attributes.subresource) and f"*/{attributes.subresource}" in self.resources
        )


@dataclass(frozen=True)
class PermissionSet:
    name: str
    rules: tuple[PolicyRule, ...]

    def allows(self, attributes: RequestAttributes) -> bool:
        return any(rule.allows(attributes) for rule in self.rules)


CLUSTER_ADMIN = PermissionSet("cluster-admin", (PolicyRule.of(["*"], ["*"], ["*"]),))

# Like the built-in `view` ClusterRole plus nodes: reads everything except secrets' contents
# (secrets are left out, as `view` does), and may ask what it is allowed to do.
READ_ONLY = PermissionSet(
    "view",
    (
        PolicyRule.of(
            READ_VERBS,
            ["", "apps", "batch", "policy", "storage.k8s.io"],
            [
                "namespaces",
                "nodes",
                "pods",
                "pods/log",
                "pods/status",
                "events",
                "services",
                "configmaps",
                "serviceaccounts",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/status",
                "jobs",
                "jobs/status",
                "poddisruptionbudgets",
                "poddisruptionbudgets/status",
                "persistentvolumes",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "storageclasses",
                "csinodes",
            ],
        ),
        PolicyRule.of(["create"], ["authorization.k8s.io", "authentication.k8s.io"], ["*"]),
        # metrics-server's system:aggregated-metrics-reader is aggregated to view.
        PolicyRule.of(READ_VERBS, ["metrics.k8s.io"], ["pods", "nodes"]),
    ),
)

# What Nodeless needs in a nodeless cluster: the Karpenter controller's Kubernetes rights plus
# applying federated workloads.
NODELESS_CONTROLLER = PermissionSet(
    "nodeless-controller",
    (
        *READ_ONLY.rules,
        PolicyRule.of(["create", "update", "patch", "delete"], [""], ["nodes", "nodes/status"]),
        PolicyRule.of(["create"], [""], ["pods/binding", "pods/eviction", "events"]),
        PolicyRule.of(["patch", "update"], [""], ["pods/status", "events"]),
        PolicyRule.of(["delete"], [""], ["pods"]),
        PolicyRule.of(
            ["create", "update", "patch", "delete"],
            ["", "apps", "batch", "policy"],
            [
                "namespaces",
                "services",
                "configmaps",
                "deployments",
                "deployments/scale",
                "jobs",
                "poddisruptionbudgets",
            ],
        ),
    ),
)

PERMISSION_SETS: dict[str, PermissionSet] = {
    p.name: p for p in (CLUSTER_ADMIN, READ_ONLY, NODELESS_CONTROLLER)
}


@dataclass(frozen=True)
class Identity:
    username: str
    permissions: PermissionSet
    groups: tuple[str, ...] = ("system:authenticated",)
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def may(self, attributes: RequestAttributes) -> bool:
        return self.permissions.allows(attributes)


ANONYMOUS_ADMIN = Identity("system:anonymous", CLUSTER_ADMIN, groups=("system:unauthenticated",))


class TokenAuthenticator(Protocol):
    def authenticate(self, token: str) -> Identity | None:
        """The identity behind a bearer token, or None if this authenticator rejects it."""
        ...


class StaticTokens:
    """Bearer tokens fixed at start-up (the kubeconfig's `token`), mutable at run time."""

    def __init__(self, tokens: Mapping[str, Identity] | None = None) -> None:
        self._tokens = dict(tokens or {})
        self._lock = threading.Lock()

    def add(self, token: str, identity: Identity) -> None:
        with self._lock:
            self._tokens[token] = identity

    def remove(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def authenticate(self, token: str) -> Identity | None:
        with self._lock:
            return self._tokens.get(token)


@dataclass(frozen=True)
class AccessEntry:
    """An EKS access entry: an IAM principal ARN mapped to a Kubernetes user and permissions."""

    principal_arn: str
    username: str
    permissions: PermissionSet
    groups: tuple[str, ...] = ()


class AccessEntries:
    """The cluster's access entries, keyed by IAM principal ARN (thread-safe)."""

    def __init__(self, entries: Iterable[AccessEntry] = ()) -> None:
        self._entries = {e.principal_arn: e for e in entries}
        self._lock = threading.Lock()

    def put(self, entry: AccessEntry) -> None:
        with self._lock:
            self._entries[entry.principal_arn] = entry

    def delete(self, principal_arn: str) -> bool:
        with self._lock:
            return self._entries.pop(principal_arn, None) is not None

    def get(self, principal_arn: str) -> AccessEntry | None:
        with self._lock:
            return self._entries.get(principal_arn)

    def all(self) -> list[AccessEntry]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.principal_arn)


class ClusterAuth:
    """Authentication for one API server: a chain of token authenticators.

    With no authenticator configured (a plain-HTTP test server), every request is served as an
    anonymous cluster admin; otherwise a request without a valid token gets 401.
    """

    def __init__(self, authenticators: Iterable[TokenAuthenticator] = ()) -> None:
        self.authenticators = list(authenticators)

    @property
    def enabled(self) -> bool:
        return bool(self.authenticators)

    def identify(self, authorization_header: str | None) -> Identity | None:
        if not self.enabled:
            return ANONYMOUS_ADMIN
        if not authorization_header or not authorization_header.lower().startswith("bearer "):
            return None
        token = authorization_header[7:].strip()
        for authenticator in self.authenticators:
            identity = authenticator.authenticate(token)
            if identity is not None:
                return identity
        return None
