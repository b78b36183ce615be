"""One health probe of a cluster: does the API answer, which version, and may we do what our loops
need (SelfSubjectAccessReviews). What the cluster holds comes from its observation
(`clusters.observation`), not from here. Failures become one sentence a person can act on."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as UrllibTimeout

from clusters.kube.deadline import Deadline
from clusters.kube.failures import PROBE_TIMEOUT, describe_failure


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

# Not needed to place or run anything: what kubectl through Nodeless's endpoint uses in the member
# (``policies.kubeapi.member_objects`` and ``member_streams``). Checked and shown, never a reason
# for Degraded: without one, that command answers the member's 403, named.
KUBECTL_PERMISSIONS = (
    Permission("get", "pods", subresource="log", why="kubectl logs"),
    Permission("delete", "pods", why="kubectl delete pod"),
    Permission("list", "events", why="kubectl describe pod, kubectl get events"),
    Permission("list", "pods", "metrics.k8s.io", why="kubectl top pod"),
    Permission("create", "pods", subresource="exec", why="kubectl exec"),
)


def required_permissions(*, nodeless: bool) -> tuple[Permission, ...]:
    return READ_PERMISSIONS + FEDERATION_PERMISSIONS + (NODELESS_PERMISSIONS if nodeless else ())


@dataclass(frozen=True)
class ProbeResult:
    reachable: bool
    problem: str = ""
    version: str = ""
    permissions: dict[str, bool] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


def _timeout(deadline: Deadline | None) -> tuple[float, float]:
    return PROBE_TIMEOUT if deadline is None else deadline.cap(PROBE_TIMEOUT)


def allowed(
    api: k8s.AuthorizationV1Api, permission: Permission, deadline: Deadline | None, namespace: str = ""
) -> bool:
    """Whether the cluster lets our credentials do this (in ``namespace``, or anywhere)."""
    review = k8s.V1SelfSubjectAccessReview(
        spec=k8s.V1SelfSubjectAccessReviewSpec(
            resource_attributes=k8s.V1ResourceAttributes(
                verb=permission.verb,
                resource=permission.resource,
                group=permission.group,
                subresource=permission.subresource or None,
                namespace=namespace or None,
            )
        )
    )
    result = api.create_self_subject_access_review(review, _request_timeout=_timeout(deadline))
    return bool(result.status and result.status.allowed)


def probe(
    api_client: k8s.ApiClient,
    *,
    server: str,
    nodeless: bool,
    unauthorized_hint: str,
    deadline: Deadline | None = None,
) -> ProbeResult:
    """Every call within `deadline` when one is given (a check someone waits for), else each within
    PROBE_TIMEOUT."""
    try:
        version = k8s.VersionApi(api_client).get_code(_request_timeout=_timeout(deadline))
        authorization = k8s.AuthorizationV1Api(api_client)
        permissions = {
            p.label: allowed(authorization, p, deadline)
            for p in (*required_permissions(nodeless=nodeless), *KUBECTL_PERMISSIONS)
        }
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
        permissions=permissions,
        missing=missing,
    )
