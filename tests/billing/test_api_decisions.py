"""The decisions list of the API: every decision of the organization, newest first, filtered by
cluster, workload, kind, subject and time; bad filters are a 400 naming the parameter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clusters.models import Cluster, ClusterConnection
from policies.models import Decision, DecisionKind

pytestmark = pytest.mark.django_db

URL = "/api/v1/decisions/"


@pytest.fixture
def decisions(cast) -> dict[str, Decision]:
    now = timezone.now()
    clusters = [
        Cluster.objects.create(organization=org, name=name, connection=ClusterConnection.KUBECONFIG)
        for org, name in ((cast.org_a, "eks-1"), (cast.org_a, "eks-2"), (cast.org_b, "b-1"))
    ]

    def made(cluster: Cluster, kind: str, subject: str, hours_ago: int) -> Decision:
        return Decision.objects.create(
            organization=cluster.organization,
            cluster=cluster,
            kind=kind,
            subject=subject,
            reason=f"{kind} {subject}",
            created_at=now - timedelta(hours=hours_ago),
        )

    return {
        "launch-web": made(clusters[0], DecisionKind.LAUNCH, "shop/web-1", 1),
        "pending-etl": made(clusters[0], DecisionKind.PENDING, "batch/etl-7", 30),
        "terminate": made(clusters[1], DecisionKind.TERMINATE, "ip-10-0-0-1", 2),
        "other-org": made(clusters[2], DecisionKind.LAUNCH, "shop/web-1", 1),
    }


def _ids(api, query: str = "") -> list[int]:
    response = api.get(f"{URL}{query}")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_list_is_the_organizations_decisions_newest_first(api_a, api_b, decisions) -> None:
    assert _ids(api_a) == [decisions[k].pk for k in ("launch-web", "terminate", "pending-etl")]
    assert _ids(api_b) == [decisions["other-org"].pk]


def test_filters_narrow_the_list(api_a, decisions) -> None:
    eks1 = decisions["launch-web"].cluster_id
    assert _ids(api_a, f"?cluster={eks1}") == [decisions["launch-web"].pk, decisions["pending-etl"].pk]
    assert _ids(api_a, "?kind=pending&kind=terminate") == [
        decisions["terminate"].pk,
        decisions["pending-etl"].pk,
    ]
    assert _ids(api_a, "?subject=ETL") == [decisions["pending-etl"].pk]
    since = (timezone.now() - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    assert _ids(api_a, f"?since={since}") == [decisions["launch-web"].pk, decisions["terminate"].pk]
    assert _ids(api_a, f"?until={since}") == [decisions["pending-etl"].pk]
    other_cluster = decisions["other-org"].cluster_id
    assert _ids(api_a, f"?cluster={other_cluster}") == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("?cluster=abc", "cluster"),
        ("?kind=reboot", "kind"),
        ("?since=yesterday", "since"),
        ("?workload=1", "workload"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api_a, decisions, query, parameter) -> None:
    response = api_a.get(f"{URL}{query}")
    assert response.status_code == 400, response.content
    assert parameter in response.json()["error"]["fields"]
