"""`pods/exec` of a simulated cluster over WebSockets, as kube-apiserver serves it to kubectl 1.30+.

kube-apiserver checks the request (the pod runs on a node, the container is one of the pod's, at
least one command and one stream), upgrades the connection to a WebSocket speaking one of the
`v5.channel.k8s.io` / `v4.channel.k8s.io` subprotocols, and relays the kubelet's stream: every
binary message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 the exit status as a
`Status`, 4 terminal resize; v5 adds 255, whose `[255, 0]` closes stdin). The process behind it
is `simulator.container_shell` (the simulated clusters run no containers). The older SPDY upgrade
is not spoken here: it is answered as a request that did not ask for a WebSocket.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping

from simulator.api import ClusterApi
from simulator.container_shell import Container, ExecutableNotFound, Shell
from simulator.errors import ApiError, bad_request
from simulator.messages import Request
from simulator.resources import CONFIGMAPS, PODS, SECRETS, ResourceType

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, ERROR, RESIZE, CLOSE = 0, 3, 4, 255
_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass
class ExecSession:
    """An accepted exec: the server answers 101 with ``protocol`` and runs ``shell`` over it."""

    shell: Shell
    argv: list[str]
    protocol: str
    accept: str  # Sec-WebSocket-Accept for the client's key


def open_exec(api: ClusterApi, namespace: str, name: str, request: Request) -> ExecSession:
    """The exec the request asks for, or the ApiError kube-apiserver answers instead."""
    pod = api.get(PODS, namespace, name).obj
    pairs = request.query_pairs
    argv = [value for key, value in pairs if key == "command"]
    flags = {key: value.lower() in ("1", "true") for key, value in pairs if key != "command"}
    if not argv:
        raise bad_request("you must specify at least one command for the container")
    if not (flags.get("stdin") or flags.get("stdout") or flags.get("stderr")):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    containers = [c for c in pod.get("spec", {}).get("containers") or () if c.get("name")]
    wanted = request.query.get("container", "")
    if not wanted and len(containers) > 1:
        names = " ".join(c["name"] for c in containers)
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{names}]")
    container = next((c for c in containers if c["name"] == wanted), None) if wanted else containers[0]
    if container is None:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    phase = (pod.get("status") or {}).get("phase", "")
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    if phase != "Running":  # the kubelet's answer, relayed as the upgrade's refusal
        raise bad_request(f'unable to upgrade connection: container not found ("{container["name"]}")')
    if "websocket" not in request.headers.get("upgrade", "").lower():
        raise bad_request(
            "Upgrade request required (this simulated cluster streams over WebSockets only, as kubectl 1.30+ asks)"
        )
    offered = [p.strip() for p in request.headers.get("sec-websocket-protocol", "").split(",")]
    protocol = next((p for p in offered if p in PROTOCOLS), None)
    if protocol is None:
        raise bad_request(
            f"none of the requested stream protocols is supported: want one of {list(PROTOCOLS)}"
        )
    key = request.headers.get("sec-websocket-key", "")
    if not key:
        raise bad_request("missing Sec-WebSocket-Key")
    accept = base64.b64encode(hashlib.sha1((key + _WEBSOCKET_GUID).encode()).digest()).decode()
    shell = Shell(
        argv, _container(api, pod, container), stdin=bool(flags.get("stdin")), tty=bool(flags.get("tty"))
    )
    return ExecSession(shell, argv, protocol, accept)


def serve(session: ExecSession, sock: socket.socket, stopping: Callable[[], bool]) -> None:
    """Run the session over the upgraded connection until the process ends or the client goes."""
    stream = _Stream(sock)
    shell = session.shell
    try:
        stream.send_all(shell.start())
        while not shell.finished and not stopping():
            received = stream.receive()
            for channel, payload in received:
                if channel == STDIN:
                    stream.send_all(shell.feed(payload))
                elif channel == CLOSE and session.protocol.startswith("v5") and payload[:1] == bytes([STDIN]):
                    stream.send_all(shell.end_of_input())
                # RESIZE, and stdin closed in v4 (by closing the connection), need nothing more
            if stream.ended:
                return  # the client went: nobody to tell the exit status
        stream.send(ERROR, json.dumps(_exit_status(session.argv, shell.exit_code)).encode())
    except ExecutableNotFound as missing:
        stream.send(ERROR, json.dumps(_not_found_status(str(missing))).encode())
    except (OSError, ssl.SSLError):
        return
    stream.close()


class _Stream:
    """Binary channel messages over one WebSocket (wsproto frames them)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = Connection(ConnectionType.SERVER)
        self.partial = b""
        self.ended = False  # the client closed the WebSocket or the connection
        sock.settimeout(1.0)

    def send(self, channel: int, payload: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=bytes([channel]) + payload)))

    def send_all(self, output: list[tuple[int, bytes]]) -> None:
        for channel, payload in output:
            self.send(channel, payload)

    def receive(self) -> list[tuple[int, bytes]]:
        """The channel messages that arrived within a second (none, to look at stopping() again)."""
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            return []
        if not data:
            self.ended = True
            return []
        self.ws.receive_data(data)
        messages = []
        for event in self.ws.events():
            if isinstance(event, BytesMessage):
                self.partial += bytes(event.data)
                if event.message_finished:
                    if self.partial:
                        messages.append((self.partial[0], self.partial[1:]))
                    self.partial = b""
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.sock.sendall(self.ws.send(event.response()))
                self.ended = True
        return messages

    def close(self) -> None:
        try:
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        except Exception:  # the client may be gone already; the server closes the socket anyway
            return


def _exit_status(argv: list[str], code: int) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {argv}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _not_found_status(program: str) -> dict[str, Any]:
    message = (
        "Internal error occurred: error executing command in container: failed to exec in container: "
        "OCI runtime exec failed: exec failed: unable to start container process: "
        f'exec: "{program}": executable file not found in $PATH: unknown'
    )
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


# --- the container as the kubelet made it ------------------------------------------------------


def _container(api: ClusterApi, pod: dict[str, Any], container: dict[str, Any]) -> Container:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    namespace, hostname = meta["namespace"], spec.get("hostname") or meta["name"]
    read = _reader(api, namespace)
    env: dict[str, str] = {"PATH": _PATH, "HOSTNAME": hostname}
    for source in container.get("envFrom") or ():
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        data = read(CONFIGMAPS if "configMapRef" in source else SECRETS, ref.get("name", ""))
        env.update({source.get("prefix", "") + key: value for key, value in data.items()})
    fields = {
        "metadata.name": meta["name"],
        "metadata.namespace": namespace,
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": status.get("podIP", ""),
        "status.hostIP": status.get("hostIP", ""),
    }
    for variable in container.get("env") or ():
        value = _env_value(variable, fields, read)
        if value is not None:
            env[variable["name"]] = value
    env["HOME"] = "/root"
    files: dict[str, str | bytes] = {
        "/etc/hostname": hostname + "\n",
        "/etc/hosts": f"127.0.0.1\tlocalhost\n{status.get('podIP', '')}\t{hostname}\n",
        "/etc/resolv.conf": f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n",
        f"{_SERVICE_ACCOUNT}/namespace": namespace,
    }
    volumes = {v.get("name"): v for v in spec.get("volumes") or ()}
    for mount in container.get("volumeMounts") or ():
        files.update(_mounted(volumes.get(mount.get("name")) or {}, mount.get("mountPath", ""), read))
    written = api.container_files.setdefault((str(meta.get("uid", "")), str(container["name"])), {})
    files.update(written)
    return Container(hostname=hostname, env=list(env.items()), files=files, written=written)


def _env_value(
    variable: dict[str, Any], fields: dict[str, str], read: Callable[[ResourceType, str], dict[str, str]]
) -> str | None:
    if "value" in variable or "valueFrom" not in variable:
        return str(variable.get("value", ""))
    source = variable["valueFrom"] or {}
    if "fieldRef" in source:
        return fields.get(source["fieldRef"].get("fieldPath", ""))
    for key, resource in (("configMapKeyRef", CONFIGMAPS), ("secretKeyRef", SECRETS)):
        if key in source:
            return read(resource, source[key].get("name", "")).get(source[key].get("key", ""))
    return None  # resourceFieldRef and the like: not worked out here


def _mounted(
    volume: dict[str, Any], path: str, read: Callable[[ResourceType, str], dict[str, str]]
) -> dict[str, str]:
    for key, resource, name_key in (("configMap", CONFIGMAPS, "name"), ("secret", SECRETS, "secretName")):
        if key in volume:
            data = read(resource, volume[key].get(name_key, ""))
            items = volume[key].get("items") or [{"key": k, "path": k} for k in data]
            return {
                f"{path.rstrip('/')}/{item['path']}": data[item["key"]]
                for item in items
                if item["key"] in data
            }
    return {}


def _reader(api: ClusterApi, namespace: str) -> Callable[[ResourceType, str], dict[str, str]]:
    """A ConfigMap's data or a Secret's decoded data by name ({} if there is none)."""

    def read(resource: ResourceType, name: str) -> dict[str, str]:
        try:
            obj = api.get(resource, namespace, name).obj
        except ApiError:
            return {}
        if resource is SECRETS:
            return {
                k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()
            }
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}

    return read
