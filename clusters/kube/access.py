"""How to reach a connected cluster: its credentials and an API client, whatever the connection kind."""

from __future__ import annotations

import json
import os
import threading
from functools import cache, lru_cache
from pathlib import Path

from django.conf import settings
from kubernetes import client as k8s

from clusters.kube.api import ClusterApi
from clusters.kube.client import api_client
from clusters.kube.deadline import Deadline
from clusters.kube.endpoints import EndpointNotAllowed, check_endpoint
from clusters.kube.kubeconfig import KubeconfigError, KubeCredentials, credentials
from clusters.models import Cluster, ClusterConnection
from clusters.onboarding.aws import RoleAccessError, eks_tokens
from nodeless_saas.crypto import DecryptionFailed, decrypt_text


@cache
def _overrides(path: str, mtime: float) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(Path(path).read_text())
    return data


def eks_endpoint_override(region: str, name: str) -> dict[str, str] | None:
    """Where to really reach an EKS cluster, when settings say it is not where EKS reports."""
    path = settings.NODELESS_EKS_ENDPOINT_OVERRIDES
    if not path or not Path(path).exists():
        return None
    return _overrides(path, Path(path).stat().st_mtime).get(f"{region}/{name}")


@lru_cache(maxsize=1024)
def _kubeconfig_credentials(ciphertext: str, context: str, keys: tuple[str, ...]) -> KubeCredentials:
    """A stored kubeconfig's credentials, parsed once per process: every pass asks for each member's
    client, and decrypting and parsing the YAML each time was ~6 % of a federation worker's CPU
    (profile of bench/federation_fleet.py). Keyed by the ciphertext (a new kubeconfig is a new
    one) and the encryption keys (a removed key must fail as it would uncached); a failure is not
    cached."""
    del keys  # part of the key only
    _, creds = credentials(decrypt_text(ciphertext), context)
    return creds


def cluster_credentials(cluster: Cluster) -> KubeCredentials:
    if cluster.connection == ClusterConnection.KUBECONFIG:
        return _kubeconfig_credentials(
            cluster.kubeconfig_ciphertext,
            cluster.kubeconfig_context,
            tuple(settings.NODELESS_ENCRYPTION_KEYS),
        )
    account = cluster.cloud_account
    if account is None:
        raise ValueError(f"EKS cluster {cluster.name} has no cloud account")
    token = eks_tokens.get(
        role_arn=account.role_arn,
        external_id=cluster.organization.external_id,
        cluster_name=cluster.eks_cluster_name,
        region=cluster.region,
    )
    override = eks_endpoint_override(cluster.region, cluster.eks_cluster_name) or {}
    return KubeCredentials(
        server=override.get("endpoint", cluster.endpoint),
        ca_pem=override.get("ca_pem", cluster.ca_pem),
        token=token,
    )


class ClusterCredentialsError(Exception):
    """Credentials for the cluster cannot be produced (role refused, kubeconfig unusable, key lost)."""


def usable_credentials(cluster: Cluster) -> KubeCredentials:
    """`cluster_credentials` for a server in a network we may connect to, with every way of failing
    as one ClusterCredentialsError."""
    try:
        found = cluster_credentials(cluster)
        check_endpoint(found.server, settings.NODELESS_CLUSTER_NETWORKS)
    except (RoleAccessError, KubeconfigError, DecryptionFailed, EndpointNotAllowed) as error:
        raise ClusterCredentialsError(str(error)) from error
    return found


def cluster_api_client(cluster: Cluster, *, retries: int = 1) -> k8s.ApiClient:
    return api_client(usable_credentials(cluster), retries=retries)


def unauthorized_hint(cluster: Cluster) -> str:
    if cluster.connection == ClusterConnection.EKS and cluster.cloud_account is not None:
        role = cluster.cloud_account.role_arn
        return (
            f"the cluster has no access entry for role {role}; create one (aws eks create-access-entry "
            f"--cluster-name {cluster.eks_cluster_name} --principal-arn {role}) or deploy the stack with ClusterName"
        )
    return "the token or client certificate in the kubeconfig is not valid for this cluster (expired or revoked?)"


_apis_lock = threading.Lock()
_apis: dict[tuple[int, str], tuple[KubeCredentials, ClusterApi]] = {}


def cluster_api(cluster: Cluster) -> ClusterApi:
    """The cluster's API client, kept for this process while its credentials stay the same: a new
    client opens new TLS connections, which a pass making dozens of calls cannot pay every time.
    A refreshed EKS token or a new kubeconfig makes a new client (and closes the old one's
    connections). Raises ClusterCredentialsError."""
    credentials = usable_credentials(cluster)
    key = (os.getpid(), str(cluster.pk))  # by process too: a forked worker must not share sockets
    with _apis_lock:
        known = _apis.get(key)
        if known is not None and known[0] == credentials:
            return known[1]
        api = ClusterApi(api_client(credentials), unauthorized_hint=unauthorized_hint(cluster))
        _apis[key] = (credentials, api)
    if known is not None:
        known[1].close()
    return api


def cluster_api_within(cluster: Cluster, deadline: Deadline) -> ClusterApi:
    """The cluster's API over this process's kept client (its open connections), every call within
    ``deadline``: for a look someone waits for, made again and again (``kubectl get pods -w``). Not
    to be closed: the connections stay with the kept client. Raises ClusterCredentialsError."""
    kept = cluster_api(cluster)
    return ClusterApi(kept.api_client, unauthorized_hint=kept.unauthorized_hint, deadline=deadline)


def new_cluster_api(cluster: Cluster, *, deadline: Deadline | None = None) -> ClusterApi:
    """A client of its own for a one-off look (close it after): nothing is kept for this process.
    Under a deadline nothing is retried: the time a retry would take is not there."""
    return ClusterApi(
        api_client(usable_credentials(cluster), retries=1 if deadline is None else 0),
        unauthorized_hint=unauthorized_hint(cluster),
        deadline=deadline,
    )
