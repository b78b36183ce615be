"""Kubeconfig intake: parse, choose a context, refuse what we cannot or must not run.

We accept embedded credentials only (bearer token, client certificate and key, CA data). Exec and
auth-provider plugins would run a program on our servers with our credentials, and file references
point at files on the uploader's machine, so each is refused with what to use instead.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from nodeless_saas.documents import DocumentError, describe, load_yaml_documents

MAX_KUBECONFIG_BYTES = 1_000_000


class KubeconfigError(ValueError):
    """A kubeconfig we cannot use; the message says what to change."""


@dataclass(frozen=True)
class KubeCredentials:
    """Everything needed to reach one cluster. Never logged; stored only encrypted."""

    server: str
    ca_pem: str
    token: str = ""
    client_cert_pem: str = ""
    client_key_pem: str = ""

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return (
            f"KubeCredentials(server={self.server!r}, auth={'token' if self.token else 'client-certificate'})"
        )


@dataclass(frozen=True)
class ParsedKubeconfig:
    contexts: tuple[str, ...]
    current_context: str


def _load(text: str) -> dict[str, Any]:
    if not text.strip():
        raise KubeconfigError("The kubeconfig is empty; paste the file's contents or upload it.")
    try:
        documents = load_yaml_documents(text, what="The kubeconfig", max_bytes=MAX_KUBECONFIG_BYTES)
    except DocumentError as error:
        raise KubeconfigError(str(error))
    document = documents[0] if len(documents) == 1 else None
    if not isinstance(document, dict) or document.get("kind", "Config") != "Config":
        raise KubeconfigError("This is not a kubeconfig: expected one mapping with kind: Config.")
    for section in ("clusters", "contexts", "users"):
        if not isinstance(document.get(section), list) or not document[section]:
            raise KubeconfigError(f"The kubeconfig has no '{section}' entries.")
    return document


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(describe(name) for name in names[:10])
    return shown if len(names) <= 10 else f"{shown} and {len(names) - 10} more"


def _named(document: dict[str, Any], section: str, name: Any) -> dict[str, Any]:
    for entry in document[section]:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(section[:-1])
            if isinstance(body, dict):
                return body
    raise KubeconfigError(
        f"The kubeconfig refers to {section[:-1]} {describe(name)}, which it does not define."
    )


def inspect(text: str) -> ParsedKubeconfig:
    return _inspect(_load(text))


def _inspect(document: dict[str, Any]) -> ParsedKubeconfig:
    contexts = tuple(
        entry["name"]
        for entry in document["contexts"]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    )
    current = document.get("current-context")
    return ParsedKubeconfig(contexts=contexts, current_context=current if isinstance(current, str) else "")


def _decode(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise KubeconfigError(f"'{field}' is not valid base64-encoded PEM.")
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, or text that is not ASCII
        raise KubeconfigError(f"'{field}' is not valid base64-encoded PEM.")


def credentials(text: str, context: str | None) -> tuple[str, KubeCredentials]:
    """The context name and credentials of the chosen (or current, or only) context."""
    document = _load(text)
    parsed = _inspect(document)
    chosen = context or parsed.current_context or (parsed.contexts[0] if len(parsed.contexts) == 1 else "")
    if not chosen:
        raise KubeconfigError(f"Pick a context: this kubeconfig has {_names(parsed.contexts)}.")
    if chosen not in parsed.contexts:
        raise KubeconfigError(
            f"There is no context {describe(chosen)}; this kubeconfig has {_names(parsed.contexts)}."
        )
    ctx = _named(document, "contexts", chosen)
    cluster = _named(document, "clusters", ctx.get("cluster"))
    user = _named(document, "users", ctx.get("user"))

    server = cluster.get("server") or ""
    if not isinstance(server, str) or urlsplit(server).scheme != "https":
        raise KubeconfigError(
            f"The server {describe(server)} is not an https:// URL; Nodeless connects only over TLS."
        )
    if cluster.get("insecure-skip-tls-verify"):
        raise KubeconfigError(
            "insecure-skip-tls-verify is set: Nodeless always verifies the API server's certificate. "
            "Add certificate-authority-data instead."
        )
    if "certificate-authority" in cluster and "certificate-authority-data" not in cluster:
        raise KubeconfigError(
            "certificate-authority points at a file on your machine; embed it with "
            "`kubectl config view --raw --flatten --minify` (certificate-authority-data)."
        )
    ca_pem = _decode(cluster.get("certificate-authority-data", ""), "certificate-authority-data")
    if "BEGIN CERTIFICATE" not in ca_pem:
        raise KubeconfigError(
            "certificate-authority-data is missing; Nodeless needs the cluster's CA to verify it."
        )

    if "exec" in user:
        plugin = user.get("exec")
        command = plugin.get("command") if isinstance(plugin, dict) else None
        command = command[:60] if isinstance(command, str) and command else "a program"
        raise KubeconfigError(
            f"This user runs an exec plugin ({command}) to get credentials. Nodeless will not run programs "
            "from an uploaded kubeconfig: connect EKS clusters through a cloud account, or create a "
            "service-account token (kubectl create token) and use it here."
        )
    if "auth-provider" in user:
        raise KubeconfigError(
            "This user uses an auth-provider plugin, which Nodeless cannot run; use a service-account token."
        )
    if "tokenFile" in user or "client-certificate" in user or "client-key" in user:
        raise KubeconfigError(
            "The user refers to files on your machine; embed them with `kubectl config view --raw --flatten --minify`."
        )
    if user.get("token"):
        if not isinstance(user["token"], str):
            raise KubeconfigError("The user's token is not a string.")
        return chosen, KubeCredentials(server=server, ca_pem=ca_pem, token=user["token"])
    if user.get("client-certificate-data") and user.get("client-key-data"):
        return chosen, KubeCredentials(
            server=server,
            ca_pem=ca_pem,
            client_cert_pem=_decode(user["client-certificate-data"], "client-certificate-data"),
            client_key_pem=_decode(user["client-key-data"], "client-key-data"),
        )
    if user.get("username") or user.get("password"):
        raise KubeconfigError(
            "Basic authentication was removed from Kubernetes; use a token or a client certificate."
        )
    raise KubeconfigError(
        "The user has no credentials: add a token or client-certificate-data and client-key-data."
    )


def minimal_kubeconfig(context: str, creds: KubeCredentials) -> str:
    """A kubeconfig holding only the chosen context: what we store (encrypted)."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    user: dict[str, str] = (
        {"token": creds.token}
        if creds.token
        else {
            "client-certificate-data": b64(creds.client_cert_pem),
            "client-key-data": b64(creds.client_key_pem),
        }
    )
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [
            {
                "name": context,
                "cluster": {"server": creds.server, "certificate-authority-data": b64(creds.ca_pem)},
            }
        ],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }
    return yaml.safe_dump(document, sort_keys=False)
