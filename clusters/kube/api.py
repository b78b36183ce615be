"""The one Kubernetes API client the product uses on a customer's cluster.

Requests go through the official client's `ApiClient` (`param_serialize`/`call_api`) with plain JSON
in and out: one generic path per kind instead of a generated method per kind and verb, and no model
objects (building them for every pod of a large cluster costs more than a pass may take). Errors are
two kinds a caller can act on: `ClusterUnreachable` (network, TLS, credentials: a cluster-level
problem, worded by `describe_failure`) and `ClusterRefused` (the server answered this request with
an error status; `Gone` for 410, an expired watch).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from clusters.kube.deadline import Deadline
from clusters.kube.failures import describe_failure
from clusters.kube.kinds import KINDS as KINDS  # re-exported: callers name kinds through the client
from clusters.kube.kinds import Kind
from clusters.kube.mapper import KindMapper, KindNotServed

Json = dict[str, Any]
TIMEOUT_SECONDS = 15
PAGE_SIZE = 2000
FIELD_MANAGER = "nodeless"


class ClusterUnreachable(Exception):
    """The cluster's API could not be reached or no longer accepts our credentials (401)."""


class WatchBroken(ClusterUnreachable):
    """A watch that was streaming broke off (a proxy or load balancer ended the connection, the
    API server restarted): watch again from the last version seen, as client-go's reflector does;
    nothing says the cluster is unreachable."""


class ClusterRefused(Exception):
    """The cluster answered this request with an error; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Gone(ClusterRefused):
    """410 Gone: the resourceVersion a list or watch asked for is no longer kept; list again."""


def status_message(status: int, reason: str, body: bytes) -> str:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {}
    message = parsed.get("message") if isinstance(parsed, dict) else None
    return str(message or f"{status} {reason}")


class ClusterApi:
    """One cluster's API. Keep one per cluster while its credentials hold: the pooled connections
    are what make a pass's dozens of calls cheap."""

    def __init__(
        self, api_client: k8s.ApiClient, *, unauthorized_hint: str = "", deadline: Deadline | None = None
    ) -> None:
        self.api_client = api_client
        self.server = str(api_client.configuration.host)
        self.unauthorized_hint = unauthorized_hint
        self.deadline = deadline  # a one-off look someone waits for: every call within it
        self.mapper = KindMapper(self._discovery)  # custom kinds, found once per client

    def _discovery(self, path: str) -> Json | None:
        try:
            return self.request("GET", path)
        except ClusterRefused as refused:
            if refused.status == 404:
                return None
            raise

    def kind(self, api_version: str | None, kind: str) -> Kind:
        """Where ``kind`` lives: a built-in by name, any other through discovery (raises
        KindNotServed when the cluster serves no such kind)."""
        return KINDS[kind] if not api_version else self.mapper.kind(api_version, kind)

    def close(self) -> None:
        """Close the pooled connections (the client is being replaced)."""
        self.api_client.close()  # type: ignore[no-untyped-call]

    # --- the one request path --------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None,
        body: Any,
        content_type: str,
        timeout: float | tuple[float, float],
    ) -> Any:
        params = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            if self.deadline is not None:
                timeout = self.deadline.cap(timeout)
            return self.api_client.call_api(*params, _request_timeout=timeout)
        except (HTTPError, ssl.SSLError, OSError, ApiException) as error:
            raise ClusterUnreachable(self._describe(error)) from error

    def _describe(self, error: Exception) -> str:
        return describe_failure(error, server=self.server, unauthorized_hint=self.unauthorized_hint)

    def _raise_for(self, status: int, reason: str, data: bytes) -> None:
        if status < 300:
            return
        if status == 401:
            failure = ApiException(status=status, reason=reason, body=data.decode("utf-8", "replace"))
            raise ClusterUnreachable(self._describe(failure))
        message = status_message(status, reason, data)
        raise (Gone if status == 410 else ClusterRefused)(status, message)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = TIMEOUT_SECONDS,
    ) -> Json:
        response = self._send(
            method, path, query=query, body=body, content_type=content_type, timeout=timeout
        )
        try:
            data: bytes = response.read()
        except (HTTPError, OSError) as error:
            raise ClusterUnreachable(self._describe(error)) from error
        self._raise_for(response.status, response.reason, data)
        parsed: Json = json.loads(data) if data else {}
        return parsed

    def stream(self, path: str, *, query: list[tuple[str, Any]], seconds: float) -> Iterator[bytes]:
        """A plain-text read (a pod's log) as it arrives, for up to ``seconds``. The request is made
        and its status checked before this returns, so a refusal (no such container) is raised
        here, not from the first chunk."""
        response = self._send(
            "GET",
            path,
            query=query,
            body=None,
            content_type="application/json",
            timeout=(TIMEOUT_SECONDS, seconds),
        )
        raw = response.response
        if response.status >= 300:
            try:
                self._raise_for(response.status, response.reason, raw.data)
            finally:
                raw.release_conn()
        return self._chunks(raw)

    def _chunks(self, raw: Any) -> Iterator[bytes]:
        try:
            yield from raw.stream(4096, decode_content=True)
        except (HTTPError, OSError) as error:
            raise ClusterUnreachable(self._describe(error)) from error
        finally:
            raw.release_conn()

    # --- reads ----------------------------------------------------------------------------------
    def list_page(
        self,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        token: str = "",
        limit: int = PAGE_SIZE,
    ) -> Json:
        params: list[tuple[str, Any]] = [*(query or ()), ("limit", limit)]
        if token:
            params.append(("continue", token))
        return self.request("GET", path, query=params)

    def list(
        self,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        api_version: str = "",
    ) -> Iterator[Json]:
        """Every object of `kind` (all namespaces unless one is given), page by page; a custom kind
        by its `api_version` (a kind the cluster does not serve is refused with 404)."""
        for page in self.pages(
            kind,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            api_version=api_version,
        ):
            yield from page.get("items") or []

    def pages(
        self,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        api_version: str = "",
    ) -> Iterator[Json]:
        """The list's pages; the last one's `metadata.resourceVersion` is where a watch resumes."""
        try:
            path = self.kind(api_version, kind).path(namespace)
        except KindNotServed as missing:
            raise ClusterRefused(404, str(missing)) from missing
        query: list[tuple[str, Any]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        token = ""
        while True:
            page = self.list_page(path, query=query, token=token)
            yield page
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def version(self) -> Json:
        """``GET /version``: the smallest call every API server answers (to anyone signed in)."""
        return self.request("GET", "/version")

    def get(self, kind: str, namespace: str | None, name: str) -> Json | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", KINDS[kind].path(namespace, name))
        except ClusterRefused as refused:
            if refused.status == 404:
                return None
            raise

    def watch(
        self, kind: str, *, resource_version: str, timeout_seconds: int, label_selector: str = ""
    ) -> Iterator[tuple[str, Json]]:
        """(type, object) events of `kind` (those `label_selector` selects) after
        `resource_version`, until the server ends the watch (after `timeout_seconds`). Raises
        `Gone` when that version is no longer kept."""
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout_seconds),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        response = self._send(
            "GET",
            KINDS[kind].path(),
            query=query,
            body=None,
            content_type="application/json",
            timeout=(TIMEOUT_SECONDS, timeout_seconds + TIMEOUT_SECONDS),
        )
        raw = response.response
        try:
            if response.status >= 300:
                self._raise_for(response.status, response.reason, raw.data)
            try:
                for line in _lines(raw):
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        code = int(status.get("code") or 500)
                        raise (Gone if code == 410 else ClusterRefused)(
                            code, str(status.get("message") or code)
                        )
                    yield str(event.get("type")), event.get("object") or {}
            except (HTTPError, OSError) as error:
                # The server answered 200 and was streaming: this is no unreachable cluster.
                raise WatchBroken(
                    f"the watch of {kind} from {self.server} broke off mid-stream ({type(error).__name__}); "
                    "watching again from the last version seen"
                ) from error
        except (HTTPError, OSError) as error:
            raise ClusterUnreachable(self._describe(error)) from error
        finally:
            raw.release_conn()

    # --- writes ---------------------------------------------------------------------------------
    def apply(self, obj: Mapping[str, Any]) -> Json:
        """Server-side apply `obj` (create or update), forcing our ownership of its fields; a kind
        the cluster does not serve is refused (404, saying so)."""
        try:
            kind = self.kind(str(obj.get("apiVersion") or ""), str(obj["kind"]))
        except KindNotServed as missing:
            raise ClusterRefused(404, str(missing)) from missing
        metadata = obj["metadata"]
        return self.request(
            "PATCH",
            kind.path(metadata.get("namespace"), metadata["name"]),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=dict(obj),
            content_type="application/apply-patch+yaml",
        )

    def delete(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        api_version: str = "",
        grace_period_seconds: int | None = None,
    ) -> bool:
        """Delete with background propagation (a Deployment's pods go too), within the object's own
        grace period unless one is given; False if already gone (or its kind, a custom one, is not
        served there)."""
        try:
            path = self.kind(api_version, kind).path(namespace, name)
        except KindNotServed:
            return False
        try:
            self.request(
                "DELETE",
                path,
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": "Background",
                    **({} if grace_period_seconds is None else {"gracePeriodSeconds": grace_period_seconds}),
                },
            )
        except ClusterRefused as refused:
            if refused.status == 404:
                return False
            raise
        return True


def _lines(response: Any) -> Iterator[bytes]:
    """The newline-delimited events of a watch response, as they arrive."""
    pending = b""
    for chunk in response.stream(4096, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending
