"""The kubeconfig the workloads page offers: the endpoint's address and a place for an API token.

It never holds a token: tokens are shown once, when created (Settings → API tokens), so the file
says where to paste one. kubectl sends bearer tokens only over HTTPS, so the address is the
site's own https address in production.
"""

from __future__ import annotations

import yaml

TOKEN_PLACEHOLDER = "PASTE-AN-API-TOKEN-HERE"


def kubeconfig_text(*, server: str, name: str) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server}}],
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
    return header + yaml.safe_dump(document, sort_keys=False)
