"""``kubectl exec`` through the endpoint: the member that runs the pod upgrades the connection and
the endpoint relays it, as Karmada's cluster proxy does, so one kubeconfig reaches every pod.

kubectl (1.30 and later) asks for a WebSocket; the request goes on to the member with the
caller's key and subprotocols and the member's credentials, and once the member has answered 101
both directions are copied unread (`clusters.kube.streams`). It needs the connection itself, which
gunicorn (the endpoint's server in production and in the demo) hands to the request as
``gunicorn.socket``, and lets a 101 through. The SPDY upgrade older clients use is not relayed.
Each session holds one of the process's threads while it lasts, so an organization holds at most
``NODELESS_KUBE_EXEC_SESSIONS`` in one process (429 past it), and each is in the audit log (who,
which pod in which member, which container; not the command, which may carry a secret).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from kubernetes.client import AuthorizationV1Api
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from clusters.kube import streams
from clusters.kube.access import ClusterCredentialsError, cluster_api_within, usable_credentials
from clusters.kube.api import ClusterRefused, status_message
from clusters.kube.deadline import Deadline
from clusters.kube.probe import Permission, allowed
from policies.kubeapi import errors, member_objects, watching
from policies.kubeapi.resources import RELAYED_POD_SUBRESOURCES
from policies.kubeapi.shares import EXEC_SESSIONS, Held
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import ApiToken

RELAYED = RELAYED_POD_SUBRESOURCES
UPGRADE_SECONDS = 10.0
# What the member needs of the caller's upgrade request; its answer's headers the caller needs.
_ASKED = ("Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "User-Agent")
_ANSWERED = ("sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions")


def relay(
    request: HttpRequest, token: ApiToken, namespace: str, name: str, subresource: str
) -> HttpResponseBase:
    """The member's 101 with the session relayed behind it, or its refusal naming it."""
    what = RELAYED[subresource]
    if not token.has_scope("write"):
        raise errors.forbidden(
            f"this API token lacks the 'write' scope, which {what} needs (it runs commands in the pod)"
        )
    found = member_objects.get(token.organization, namespace, name)
    cluster = found.cluster
    if EXEC_SESSIONS.full(token.organization_id):  # also for SPDY: kubectl sends it after a refused WebSocket
        raise EXEC_SESSIONS.refused()
    if "websocket" not in request.headers.get("Upgrade", "").lower():
        raise _not_upgraded(found, namespace, name, subresource, request.GET.get("container", ""))
    caller = request.META.get("gunicorn.socket")
    if not isinstance(caller, socket.socket | ssl.SSLSocket):
        raise errors.KubeError(
            400,
            "BadRequest",
            f"{what} is relayed only when the endpoint is served by gunicorn; pod {name} runs in {cluster.name}",
        )
    if not EXEC_SESSIONS.take(token.organization_id):  # taken before the member starts anything
        raise EXEC_SESSIONS.refused()
    try:
        return _relayed(request, token, found, namespace, name, subresource, caller)
    except BaseException:
        EXEC_SESSIONS.give_back(token.organization_id)
        raise


def _relayed(
    request: HttpRequest,
    token: ApiToken,
    found: member_objects.FoundPod,
    namespace: str,
    name: str,
    subresource: str,
    caller: socket.socket,
) -> HttpResponseBase:
    """The upgrade asked of the member and, when it answers 101, the response relaying the
    session (which gives its place back when it ends); its refusal otherwise."""
    what, cluster = RELAYED[subresource], found.cluster
    query = request.META.get("QUERY_STRING", "")
    pod_path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}/{subresource}"
    path = pod_path + (f"?{query}" if query else "")  # the query as sent (still percent-encoded)
    asked = {header: request.headers[header] for header in _ASKED if header in request.headers}
    try:
        answer = streams.upgrade(usable_credentials(cluster), path, asked, UPGRADE_SECONDS)
    except (ClusterCredentialsError, OSError) as error:
        raise errors.KubeError(
            503, "ServiceUnavailable", f"{cluster.name} could not be reached for {what} ({error})"
        ) from error
    if answer.status != 101 or answer.connection is None:
        message = status_message(answer.status, "refused the upgrade", answer.body)
        raise member_objects.member_error(cluster, ClusterRefused(answer.status, message))
    audit_record(
        token.organization,
        actor=Actor(token=token, ip_address=request.META.get("REMOTE_ADDR")),
        action=f"pod.{subresource}",
        target=cluster,
        target_label=f"{namespace}/{name} in {cluster.name}",
        metadata={
            "container": request.GET.get("container", ""),
            "stdin": request.GET.get("stdin", "") == "true",
        },
    )
    watching.idle()  # the session may last hours: its database session goes back now
    member, organization = answer.connection, token.organization_id
    session = Held(
        _session(caller, member, answer.early), lambda: EXEC_SESSIONS.give_back(organization), member.close
    )
    response = StreamingHttpResponse(session, status=101)
    response["Upgrade"] = "websocket"
    response["Connection"] = "Upgrade"
    for header in _ANSWERED:
        if header in answer.headers:
            response[header] = answer.headers[header]
    return response


def _session(caller: socket.socket, member: socket.socket, early: bytes) -> Iterator[bytes]:
    yield b""  # the first (empty) write makes gunicorn send the 101; then the connection is the session's
    streams.relay(caller, member, early)


def _not_upgraded(
    found: member_objects.FoundPod, namespace: str, name: str, subresource: str, container: str
) -> errors.KubeError:
    """The answer to a request that is not a WebSocket upgrade (SPDY). kubectl sends one after the
    member refused its WebSocket, so it is what kubectl prints: the member's refusal where it can be
    told without starting anything (kube-apiserver's checks of the pod before it upgrades, and
    whether our credentials may create ``pods/exec`` there), else that only WebSockets are relayed."""
    cluster = found.cluster
    problem = _refused_before_upgrade(found.pod, name, container)
    if problem:
        return errors.KubeError(400, "BadRequest", f"{cluster.name}: {problem}")
    try:
        api = cluster_api_within(cluster, Deadline.after(UPGRADE_SECONDS))
        permission = Permission("create", "pods", subresource=subresource)
        may = allowed(AuthorizationV1Api(api.api_client), permission, api.deadline, namespace)
    except (ClusterCredentialsError, OSError, ApiException, TransportError):
        may = True  # not known: the member will say when it is asked over a WebSocket
    if not may:
        return errors.KubeError(
            403,
            "Forbidden",
            f"{cluster.name}: the credentials Nodeless holds for {cluster.name} may not create pods/{subresource} "
            f"in namespace {namespace}",
        )
    return errors.KubeError(
        400,
        "BadRequest",
        f"{RELAYED[subresource]} reaches member clusters through Nodeless over WebSockets (kubectl 1.30 or "
        f"later), not SPDY; pod {name} runs in {cluster.name}",
    )


def _refused_before_upgrade(pod: dict[str, Any], name: str, container: str) -> str:
    """What kube-apiserver refuses an exec of this pod for before it upgrades (its pod strategy's
    streamLocation), or ''."""
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or ()]
    if not container and len(containers) > 1:
        return f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if container and container not in containers:
        return f"container {container} is not valid for pod {name}"
    if not (pod.get("spec") or {}).get("nodeName"):
        return f"pod {name} does not have a host assigned"
    return ""
