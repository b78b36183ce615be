"""A connection upgraded by a cluster's API server (`kubectl exec`'s WebSocket), relayed byte for byte.

The official client speaks exec's channels itself; relaying someone else's session needs the
connection underneath: the same TLS trust and credentials as `clusters.kube.client`, one upgrade
request carrying the caller's WebSocket key and subprotocols, and then both directions copied
as they come. The caller's key makes the API server's `Sec-WebSocket-Accept` valid for the caller,
so the frames pass through unread, whatever the subprotocol.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from clusters.kube.client import material_file
from clusters.kube.kubeconfig import KubeCredentials

HEAD_LIMIT = 64 * 1024  # a response head longer than this is not an API server's
BODY_LIMIT = 256 * 1024  # a refusal's Status


@dataclass
class Upgrade:
    """What the API server answered: 101 with the open connection, or a refusal with its body."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    connection: ssl.SSLSocket | socket.socket | None
    early: bytes = b""  # bytes of the stream that came with the 101


def upgrade(
    credentials: KubeCredentials, path_and_query: str, headers: dict[str, str], timeout: float
) -> Upgrade:
    """Send one upgrade request (GET ``path_and_query`` under the server's URL) with ``headers`` and
    the cluster's credentials; raises OSError when the server cannot be reached within ``timeout``."""
    url = urlsplit(credentials.server)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    raw = socket.create_connection((host, port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock: ssl.SSLSocket | socket.socket = raw
    try:
        if url.scheme == "https":
            sock = _tls(credentials).wrap_socket(raw, server_hostname=host)
        sent = {"Host": url.netloc, **headers, "Connection": "Upgrade"}
        if credentials.token:
            sent["Authorization"] = f"Bearer {credentials.token}"
        head = f"GET {url.path.rstrip('/')}{path_and_query} HTTP/1.1\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in sent.items()) + "\r\n"
        sock.sendall(head.encode("latin-1"))
        status, answered, rest = _read_head(sock)
        if status == 101:
            sock.settimeout(None)
            return Upgrade(status, answered, b"", sock, early=rest)
        body = _read_body(sock, answered, rest)
    except BaseException:
        sock.close()
        raise
    sock.close()
    return Upgrade(status, answered, body, None)


def _tls(credentials: KubeCredentials) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=material_file(credentials.ca_pem, ".crt"))
    if not credentials.token:
        context.load_cert_chain(
            material_file(credentials.client_cert_pem, ".crt"),
            material_file(credentials.client_key_pem, ".key"),
        )
    return context


def _read_head(sock: ssl.SSLSocket | socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the API server closed the connection before answering")
        data += chunk
        if len(data) > HEAD_LIMIT:
            raise ConnectionError("the API server's answer has no end of headers")
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError) as error:
        raise ConnectionError(f"not an HTTP answer: {lines[0][:80]!r}") from error
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def _read_body(sock: ssl.SSLSocket | socket.socket, headers: dict[str, str], rest: bytes) -> bytes:
    """A refusal's body: Content-Length's worth, or up to the close (at most BODY_LIMIT)."""
    length = int(headers.get("content-length", BODY_LIMIT))
    body = rest
    with contextlib.suppress(OSError):
        while len(body) < min(length, BODY_LIMIT):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return body[: min(length, BODY_LIMIT)]


def relay(
    caller: ssl.SSLSocket | socket.socket, upstream: ssl.SSLSocket | socket.socket, early: bytes = b""
) -> None:
    """Copy both directions until either side ends. Both sockets in this one thread: OpenSSL's
    connection objects are not safe to read in one thread while another writes."""
    watched = selectors.DefaultSelector()
    try:
        if early:
            caller.sendall(early)
        caller.settimeout(None)
        watched.register(caller, selectors.EVENT_READ)
        watched.register(upstream, selectors.EVENT_READ)
        while True:
            # Bytes OpenSSL has already decrypted are not visible to the selector.
            ready = [end for end in (caller, upstream) if isinstance(end, ssl.SSLSocket) and end.pending()]
            if not ready:
                ready = [key.fileobj for key, _ in watched.select(30.0)]  # type: ignore[misc]
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is caller else caller).sendall(data)
    except OSError:
        return
    finally:
        watched.close()
        upstream.close()
        # The caller's connection ends with the session; its server closes it (a shut socket
        # reads as the end, so nothing more is taken from it as a request).
        with contextlib.suppress(OSError):
            caller.shutdown(socket.SHUT_RDWR)
