"""One health and inventory probe of a cluster: does the API answer, which version, may we do what
our loops need, and what does it hold. Failures become one sentence a person can act on."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity as _parse_quantity
from urllib3.exceptions import MaxRetryError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as UrllibTimeout

REQUEST_TIMEOUT_SECONDS = 10


def quantity(value: str) -> float:
    """A Kubernetes resource quantity ("250m", "4Gi") as a number."""
    return float(_parse_quantity(value))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    why: str = ""

    @property
    def label(self) -> str:
        name = self.resource + (f"/{self.subresource}" if self.subresource else "")
        return f"{self.verb} {name}" + (f".{self.group}" if self.group else "")


READ_PERMISSIONS = (
    Permission("list", "nodes", why="to see capacity"),
    Permission("watch", "nodes", why="to follow node changes"),
    Permission("list", "pods", why="to see pending pods and usage"),
    Permission("watch", "pods", why="to react to pending pods at once"),
)
FEDERATION_PERMISSIONS = (
    Permission("create", "deployments", "apps", why="to place federated Deployments"),
    Permission("patch", "deployments", "apps", why="to update federated Deployments"),
    Permission("delete", "deployments", "apps", why="to remove federated Deployments"),
    Permission("create", "jobs", "batch", why="to place federated Jobs"),
    Permission("create", "configmaps", why="to place a workload's ConfigMaps"),
    Permission("create", "secrets", why="to place a workload's Secrets"),
    Permission("create", "services", why="to place a workload's Services"),
)
NODELESS_PERMISSIONS = (
    Permission("create", "pods", subresource="binding", why="to bind pods to the nodes Nodeless launches"),
    Permission("create", "pods", subresource="eviction", why="to drain nodes before removing them"),
    Permission("patch", "nodes", why="to taint and cordon nodes"),
    Permission("delete", "nodes", why="to remove nodes whose instances are gone"),
    Permission("list", "poddisruptionbudgets", "policy", why="to drain without breaking budgets"),
)


def required_permissions(*, nodeless: bool) -> tuple[Permission, ...]:
    return READ_PERMISSIONS + FEDERATION_PERMISSIONS + (NODELESS_PERMISSIONS if nodeless else ())


@dataclass(frozen=True)
class ProbeResult:
    reachable: bool
    problem: str = ""
    version: str = ""
    node_count: int = 0
    ready_node_count: int = 0
    pod_count: int = 0
    capacity: dict[str, Any] = field(default_factory=dict)
    permissions: dict[str, bool] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


def describe_failure(error: Exception, *, server: str, unauthorized_hint: str) -> str:
    """The exact problem, in the words a platform engineer would search for."""
    if isinstance(error, ApiException):
        if error.status == 401:
            return f"token rejected (401 Unauthorized): {unauthorized_hint}"
        if error.status == 403:
            return "the credentials are valid but may not read the API (403 Forbidden); grant at least read access"
        return f"the API server answered {error.status} {error.reason}"
    reason: Any = error.reason if isinstance(error, MaxRetryError) else error
    if isinstance(reason, SSLError | ssl.SSLError):
        text = str(reason)
        if (
            "CERTIFICATE_VERIFY_FAILED" in text
            or "unknown ca" in text.lower()
            or "self-signed" in text.lower()
        ):
            if "hostname" in text.lower() or "IP address mismatch" in text:
                return f"the API server's certificate is not valid for {server} (hostname mismatch)"
            return (
                f"x509: certificate signed by unknown authority — the certificate of {server} does not chain to "
                "the CA we have for this cluster; update the CA data"
            )
        return f"TLS handshake with {server} failed: {text}"
    # Checked before timeouts: urllib3's NewConnectionError is a subclass of its timeout error.
    if "refused" in str(reason).lower():
        return f"cannot connect to {server}: connection refused; check the endpoint and that the API server is up"
    if isinstance(reason, UrllibTimeout) or "timed out" in str(reason).lower():
        return f"{server} did not answer within {REQUEST_TIMEOUT_SECONDS} s; check the endpoint and that it allows our addresses"
    if "Name or service not known" in str(reason) or "nodename nor servname" in str(reason):
        return f"cannot resolve the host of {server}; check the endpoint"
    if isinstance(reason, ProtocolError):
        return f"{server} closed the connection; is it a Kubernetes API server?"
    return f"cannot reach {server}: {reason}"


def _allowed(api: k8s.AuthorizationV1Api, permission: Permission) -> bool:
    review = k8s.V1SelfSubjectAccessReview(
        spec=k8s.V1SelfSubjectAccessReviewSpec(
            resource_attributes=k8s.V1ResourceAttributes(
                verb=permission.verb,
                resource=permission.resource,
                group=permission.group,
                subresource=permission.subresource or None,
            )
        )
    )
    result = api.create_self_subject_access_review(review, _request_timeout=REQUEST_TIMEOUT_SECONDS)
    return bool(result.status and result.status.allowed)


def _inventory(core: k8s.CoreV1Api) -> dict[str, Any]:
    allocatable = {"cpu": 0.0, "memory_gib": 0.0, "gpu": 0.0, "pods": 0.0}
    requested = {"cpu": 0.0, "memory_gib": 0.0, "gpu": 0.0}
    nodes = core.list_node(_request_timeout=REQUEST_TIMEOUT_SECONDS).items
    ready = 0
    for node in nodes:
        values = (node.status.allocatable or {}) if node.status else {}
        allocatable["cpu"] += quantity(values.get("cpu", "0"))
        allocatable["memory_gib"] += (quantity(values.get("memory", "0"))) / 2**30
        allocatable["gpu"] += int(quantity(values.get("nvidia.com/gpu", "0")))
        allocatable["pods"] += int(quantity(values.get("pods", "0")))
        conditions = (node.status.conditions or []) if node.status else []
        ready += any(c.type == "Ready" and c.status == "True" for c in conditions)
    pods = 0
    continue_token = None
    while True:
        page = core.list_pod_for_all_namespaces(
            limit=2000, _continue=continue_token, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
        for pod in page.items:
            if pod.status and pod.status.phase in ("Succeeded", "Failed"):
                continue
            pods += 1
            for container in (pod.spec.containers if pod.spec else []) or []:
                req = (container.resources.requests if container.resources else None) or {}
                requested["cpu"] += quantity(req.get("cpu", "0"))
                requested["memory_gib"] += (quantity(req.get("memory", "0"))) / 2**30
                requested["gpu"] += int(quantity(req.get("nvidia.com/gpu", "0")))
        continue_token = page.metadata._continue if page.metadata else None
        if not continue_token:
            break
    return {
        "nodes": len(nodes),
        "ready_nodes": ready,
        "pods": pods,
        "allocatable": {k: round(v, 3) for k, v in allocatable.items()},
        "requested": {k: round(v, 3) for k, v in requested.items()},
    }


def probe(api_client: k8s.ApiClient, *, server: str, nodeless: bool, unauthorized_hint: str) -> ProbeResult:
    try:
        version = k8s.VersionApi(api_client).get_code(_request_timeout=REQUEST_TIMEOUT_SECONDS)
        authorization = k8s.AuthorizationV1Api(api_client)
        permissions = {p.label: _allowed(authorization, p) for p in required_permissions(nodeless=nodeless)}
        inventory = (
            _inventory(k8s.CoreV1Api(api_client))
            if permissions.get("list nodes") and permissions.get("list pods")
            else {}
        )
    except (
        ApiException,
        MaxRetryError,
        SSLError,
        ssl.SSLError,
        ProtocolError,
        UrllibTimeout,
        OSError,
    ) as error:
        return ProbeResult(
            reachable=False,
            problem=describe_failure(error, server=server, unauthorized_hint=unauthorized_hint),
        )
    missing = tuple(
        f"cannot {p.label} ({p.why})"
        for p in required_permissions(nodeless=nodeless)
        if not permissions[p.label]
    )
    return ProbeResult(
        reachable=True,
        problem="; ".join(missing),
        version=str(version.git_version),
        node_count=int(inventory.get("nodes", 0)),
        ready_node_count=int(inventory.get("ready_nodes", 0)),
        pod_count=int(inventory.get("pods", 0)),
        capacity={
            "allocatable": inventory.get("allocatable", {}),
            "requested": inventory.get("requested", {}),
        },
        permissions=permissions,
        missing=missing,
    )
