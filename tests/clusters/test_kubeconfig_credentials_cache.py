"""A member's kubeconfig is decrypted and parsed once per process, yet the credentials still follow
what is stored: a new kubeconfig gives its own server, and a dropped encryption key fails as it
would without the cache."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from clusters.kube.access import cluster_credentials
from clusters.kube.kubeconfig import KubeCredentials, minimal_kubeconfig
from clusters.models import Cluster, ClusterConnection
from nodeless_saas import crypto

pytestmark = pytest.mark.django_db

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _kubeconfig(server: str) -> str:
    return minimal_kubeconfig("member", KubeCredentials(server, CA, token="t0ken"))


def _member(cast, server: str) -> Cluster:
    return Cluster.objects.create(
        organization=cast.org_a,
        name="member",
        connection=ClusterConnection.KUBECONFIG,
        kubeconfig_ciphertext=crypto.encrypt_text(_kubeconfig(server)),
    )


def test_credentials_follow_a_new_kubeconfig(cast, settings) -> None:
    settings.NODELESS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    cluster = _member(cast, "https://10.0.0.1:6443")
    assert cluster_credentials(cluster).server == "https://10.0.0.1:6443"
    assert cluster_credentials(cluster).server == "https://10.0.0.1:6443"
    cluster.kubeconfig_ciphertext = crypto.encrypt_text(_kubeconfig("https://10.0.0.2:6443"))
    assert cluster_credentials(cluster).server == "https://10.0.0.2:6443"


def test_a_dropped_key_fails_after_a_cached_read(cast, settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.NODELESS_ENCRYPTION_KEYS = [old]
    cluster = _member(cast, "https://10.0.0.1:6443")
    assert cluster_credentials(cluster).token == "t0ken"
    settings.NODELESS_ENCRYPTION_KEYS = [new]
    with pytest.raises(crypto.DecryptionFailed):
        cluster_credentials(cluster)
