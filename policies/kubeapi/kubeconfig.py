"""The kubeconfig the workloads page offers: the endpoint's address and a place for an API token.

It never holds a token: tokens are shown once, when created (Settings → API tokens), so the file
says where to paste one. kubectl sends bearer tokens only over HTTPS, so the address is the
site's own https address in production.
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from django.conf import settings

TOKEN_PLACEHOLDER = "PASTE-AN-API-TOKEN-HERE"


def endpoint_kubeconfig(*, pages_server: str, name: str) -> str:
    """The kubeconfig for the endpoint: at ``NODELESS_KUBE_API_URL`` (with the CA of
    ``NODELESS_KUBE_API_CA_FILE``) when set, else at ``pages_server`` (the pages' address + /k8s)."""
    ca_file = settings.NODELESS_KUBE_API_CA_FILE
    ca_pem = Path(ca_file).read_text() if ca_file else ""
    return kubeconfig_text(server=settings.NODELESS_KUBE_API_URL or pages_server, name=name, ca_pem=ca_pem)


def kubeconfig_text(*, server: str, name: str, ca_pem: str = "") -> str:
    cluster: dict[str, str] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": f"{name}-token", "user": {"token": TOKEN_PLACEHOLDER}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": f"{name}-token", "namespace": "default"}}
        ],
        "current-context": name,
    }
    header = (
        "# Nodeless federation: kubectl, Helm, Argo CD and Flux talk to this endpoint.\n"
        f"# Replace {TOKEN_PLACEHOLDER} with an API token of this organization (Settings -> API\n"
        "# tokens; 'read' to look, 'write' to apply). Tokens are shown only when created.\n"
    )
    if server.startswith("http://"):
        header += (
            "# This address is plain HTTP, and kubectl sends API tokens only over HTTPS: it will be\n"
            "# told 'Unauthorized'. Serve the endpoint over HTTPS (NODELESS_KUBE_API_URL names it).\n"
        )
    return header + yaml.safe_dump(document, sort_keys=False)
