"""The provisioning loop keeps one API client per cluster while its credentials hold, and
switches to a new one as soon as they change (a rotated kubeconfig, a refreshed EKS token)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from clusters.models import Cluster, ClusterConnection
from nodeless_saas.crypto import encrypt_text
from simulator.auth import CLUSTER_ADMIN, Identity
from tests.fixtures.connections import kubeconfig_for
from workers.provisioning.context import kube_ops_for

pytestmark = pytest.mark.django_db


def test_the_client_is_reused_until_the_credentials_change(cast: Any, simulated_cluster: Any) -> None:
    sim = simulated_cluster()
    sim.add_token("first-token", Identity("first", CLUSTER_ADMIN))
    sim.add_token("second-token", Identity("second", CLUSTER_ADMIN))
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="onprem",
        connection=ClusterConnection.KUBECONFIG,
        kubeconfig_ciphertext=encrypt_text(kubeconfig_for(sim, token="first-token")),
        kubeconfig_context="onprem",
    )

    first = kube_ops_for(cluster)
    assert kube_ops_for(cluster) is first
    assert not first.read(timezone.now()).nodes  # it works against the cluster

    # The kubeconfig is rotated and the old token revoked: the next pass must use the new one.
    cluster.kubeconfig_ciphertext = encrypt_text(kubeconfig_for(sim, token="second-token"))
    sim.tokens.remove("first-token")
    second = kube_ops_for(cluster)

    assert second is not first
    assert not second.read(timezone.now()).nodes
    assert kube_ops_for(cluster) is second
