"""Kubernetes API clients for connected clusters, through the official client only."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

from kubernetes import client as k8s

from clusters.kube.kubeconfig import KubeCredentials

_material_lock = threading.Lock()
_material_dir: Path | None = None


def material_file(content: str, suffix: str) -> str:
    """The official client reads CA and client-certificate material from files: keep them in one
    private (0700) directory per process, named by content hash so each is written once."""
    global _material_dir
    with _material_lock:
        if _material_dir is None:
            _material_dir = Path(tempfile.mkdtemp(prefix="nodeless-kube-"))
        path = _material_dir / (hashlib.sha256(content.encode()).hexdigest()[:32] + suffix)
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(content)
        return str(path)


def api_client(creds: KubeCredentials, *, retries: int = 1) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    configuration.host = creds.server.rstrip("/")
    configuration.verify_ssl = True
    configuration.ssl_ca_cert = material_file(creds.ca_pem, ".crt")
    configuration.retries = retries
    # The provisioning loop issues binds and patches in parallel: keep enough pooled connections.
    configuration.connection_pool_maxsize = 32
    if creds.token:
        configuration.api_key = {"authorization": creds.token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
    else:
        configuration.cert_file = material_file(creds.client_cert_pem, ".crt")
        configuration.key_file = material_file(creds.client_key_pem, ".key")
    return k8s.ApiClient(configuration)
