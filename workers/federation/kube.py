"""What the federation loop does in a member cluster, through the official client's ApiClient.

Requests go through ``ApiClient.param_serialize``/``call_api`` with plain JSON in and out: one
generic path per kind instead of a generated method per kind and verb, and no model objects
(building them for every pod of a large cluster costs more than the pass may take).

Objects are applied with server-side apply (PATCH ``application/apply-patch+yaml``, field manager
``nodeless``, force), so fields we stop setting are removed and fields others own are left alone.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from clusters.kube.failures import describe_failure

FIELD_MANAGER = "nodeless"
GENERATION_ANNOTATION = "nodeless.io/generation"
TIMEOUT_SECONDS = 15
PAGE_SIZE = 2000

Json = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API."""

    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        group = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{group}{scope}/{self.plural}" + (f"/{name}" if name else "")


KINDS = {
    "Deployment": Kind("apps/v1", "deployments"),
    "Job": Kind("batch/v1", "jobs"),
    "ConfigMap": Kind("v1", "configmaps"),
    "Secret": Kind("v1", "secrets"),
    "Service": Kind("v1", "services"),
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "Node": Kind("v1", "nodes", namespaced=False),
    "Pod": Kind("v1", "pods"),
}
COMPANION_KINDS = ("ConfigMap", "Secret", "Service")


class MemberUnreachable(Exception):
    """The member's API could not be reached (network, TLS, credentials): a cluster-level problem."""


class MemberRefused(Exception):
    """The member answered with an error for this object; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _status_message(error: ApiException) -> str:
    try:
        body = json.loads(error.body or "{}")
    except ValueError:
        body = {}
    return str(body.get("message") or f"{error.status} {error.reason}")


class MemberApi:
    """One member cluster's API, as the loop uses it. Errors: MemberUnreachable when the cluster
    cannot be reached or no longer accepts our credentials (401); MemberRefused for a request it
    answered with another error (a 403 on one kind fails that placement, not the cluster)."""

    def __init__(self, api_client: k8s.ApiClient, *, unauthorized_hint: str = "") -> None:
        self.api_client = api_client
        self.server = api_client.configuration.host
        self.unauthorized_hint = unauthorized_hint

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Json:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.call_api(*params, _request_timeout=TIMEOUT_SECONDS)
            data: bytes = response.read()  # type: ignore[no-untyped-call]
        except (HTTPError, ssl.SSLError, OSError) as error:
            raise MemberUnreachable(
                describe_failure(error, server=self.server, unauthorized_hint=self.unauthorized_hint)
            ) from error
        if response.status >= 300:
            text = data.decode("utf-8", "replace") if data else ""
            failure = ApiException(status=response.status, reason=response.reason, body=text)
            if response.status == 401:
                raise MemberUnreachable(
                    describe_failure(failure, server=self.server, unauthorized_hint=self.unauthorized_hint)
                )
            raise MemberRefused(response.status, _status_message(failure))
        parsed: Json = json.loads(data) if data else {}
        return parsed

    def list(self, kind: str, *, namespace: str | None = None, label_selector: str = "") -> Iterator[Json]:
        """Every object of ``kind`` (all namespaces unless one is given), page by page."""
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = self.request("GET", KINDS[kind].path(namespace), query=query)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def apply(self, obj: Json) -> Json:
        """Server-side apply ``obj`` (create or update), forcing our ownership of its fields."""
        kind = KINDS[obj["kind"]]
        metadata = obj["metadata"]
        return self.request(
            "PATCH",
            kind.path(metadata.get("namespace"), metadata["name"]),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=obj,
            content_type="application/apply-patch+yaml",
        )

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        """Delete with background propagation (a Deployment's pods go too); False if already gone."""
        try:
            self.request(
                "DELETE",
                KINDS[kind].path(namespace, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
        except MemberRefused as refused:
            if refused.status == 404:
                return False
            raise
        return True
