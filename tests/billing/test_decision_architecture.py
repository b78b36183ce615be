"""A launch decision's page names each option's architecture and GPU model, as the loop records them."""

from __future__ import annotations

import pytest

from clusters.models import Cluster, ClusterConnection
from policies.models import Decision, DecisionKind
from tests.billing.ledger_builders import page_table
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db


def _option(instance_type: str, architecture: str, gpus: int = 0, model: str = "") -> dict[str, object]:
    return {
        "instance_type": instance_type,
        "zone": "us-east-1a",
        "capacity_type": "on_demand",
        "price_per_hour": 1.0,
        "effective_price_per_hour": 1.0,
        "architecture": architecture,
        "gpus": gpus,
        "gpu_model": model,
    }


def test_the_decision_page_shows_architecture_and_gpu_model(cast, owner_client) -> None:
    cluster = Cluster.objects.create(
        organization=cast.org_a, name="eks-1", connection=ClusterConnection.KUBECONFIG
    )
    decision = Decision.objects.create(
        organization=cast.org_a,
        cluster=cluster,
        kind=DecisionKind.LAUNCH,
        subject="ml/train-1",
        reason="cheapest GPU node",
        chosen=_option("g5.xlarge", "amd64", 1, "A10G"),
        runner_ups=[_option("g5g.xlarge", "arm64", 1, "T4g"), _option("m5.large", "amd64")],
    )
    url = f"/placement/decisions/{decision.pk}/"
    owner_client.get(url)  # the session's first request also saves it
    detail = get_page(owner_client, url, queries=5).content.decode()
    rows = page_table(detail, "decision-options")
    assert rows[0][1:4] == ["Option", "Architecture", "GPU"]
    assert [row[1:4] for row in rows[1:]] == [
        ["g5.xlarge", "amd64", "1 × A10G"],
        ["g5g.xlarge", "arm64", "1 × T4g"],
        ["m5.large", "amd64", "—"],
    ]
