"""Every strategy end to end: submitted through the API, placed by the loop on simulated member
clusters, running there, and the status back in the workload (placements, ready counts, decision)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clusters.models import Cluster, ClusterStatus
from policies.models import PlacementState, Workload, WorkloadStatus
from tests.fixtures.federation import deployment, fresh, job, placements, pool, settle, submit

pytestmark = pytest.mark.django_db


def _submit(api_a, manifest: str, policy) -> str:
    response = api_a.post("/api/v1/workloads/", {"manifest": manifest, "policy": policy.name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _workload(workload_id: str) -> Workload:
    return Workload.objects.get(pk=workload_id)


def _running(api_a, workload_id: str) -> Callable[[], dict | None]:
    def check():
        body = api_a.get(f"/api/v1/workloads/{workload_id}/").json()
        return body if body["status"] == WorkloadStatus.RUNNING else None

    return check


@pytest.fixture
def fleet(member):
    """Three members: cheap on-prem hardware, and two AWS regions with list-priced m5 nodes."""
    return {
        "onprem": member(
            "onprem",
            {"cloud": "onprem", "region": "dc-east", "env": "prod"},
            pools=(pool(1, "", cpu=8, memory_mib=32768),),
        ),
        "aws-east": member(
            "aws-east", {"cloud": "aws", "region": "us-east-1", "env": "prod"}, pools=(pool(2),)
        ),
        "aws-west": member(
            "aws-west", {"cloud": "aws", "region": "us-west-2", "env": "prod"}, pools=(pool(4),)
        ),
    }


def test_cheapest_runs_on_the_cheapest_cluster_and_reports_status_back(cast, api_a, fleet, policy) -> None:
    chosen = policy("cheap", strategy="cheapest", cluster_selector="env=prod")
    workload_id = _submit(api_a, deployment(replicas=3), chosen)

    body = settle(cast, _running(api_a, workload_id))

    assert {p["cluster_name"]: p["replicas"] for p in body["placements"]} == {"onprem": 3}
    assert body["ready_replicas"] == 3 and body["placements"][0]["state"] == PlacementState.RUNNING
    assert fleet["onprem"].deployment_replicas("shop", "web") == 3
    assert fleet["aws-east"].deployment_replicas("shop", "web") is None
    decision = body["decisions"][-1]
    chosen_price = decision["chosen"]["clusters"][0]["price_per_hour"]
    runner_up_prices = [option["price_per_hour"] for option in decision["runner_ups"]]
    assert {option["cluster_name"] for option in decision["runner_ups"]} == {"aws-east", "aws-west"}
    assert all(chosen_price < price for price in runner_up_prices)


def test_the_workload_page_shows_the_placement_and_the_runner_ups_with_prices(
    cast, owner_client, fleet, policy
) -> None:
    workload = submit(cast, deployment(replicas=2), policy("cheap", strategy="cheapest"))
    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)

    page = owner_client.get(f"/workloads/{workload.pk}/").content.decode()

    assert "2/2 ready: onprem 2/2." in page
    assert "<td><strong>onprem</strong></td>" in page
    assert "<td>aws-east</td>" in page and "<td>aws-west</td>" in page and "runner-up" in page
    assert "$/replica-hour" in page  # what the scores mean


def test_most_capacity_fills_the_roomiest_cluster(cast, api_a, fleet, policy) -> None:
    chosen = policy("roomy", strategy="most_capacity", cluster_selector="cloud=aws")
    workload_id = _submit(api_a, deployment(replicas=4), chosen)

    settle(cast, _running(api_a, workload_id))

    assert fleet["aws-west"].running_pods("shop", _workload(workload_id)) == 4
    assert fleet["aws-east"].deployment_replicas("shop", "web") is None


def test_static_weights_divide_nine_replicas_one_to_two(cast, api_a, member, policy) -> None:
    """Karmada's documented example, end to end: 9 replicas at weights 1:2 run as 3 and 6."""
    one = member(
        "one", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(1, "", cpu=16, memory_mib=65536),)
    )
    two = member(
        "two", {"cloud": "gcp", "region": "us-central1"}, pools=(pool(1, "", cpu=16, memory_mib=65536),)
    )
    weights = [{"weight": 1, "selector": "cloud=aws"}, {"weight": 2, "clusters": ["two"]}]
    chosen = policy("weighted", strategy="spread", spread={"weights": "static", "static_weights": weights})
    workload_id = _submit(api_a, deployment(replicas=9, cpu="250m"), chosen)

    settle(cast, _running(api_a, workload_id))

    workload = _workload(workload_id)
    assert placements(workload) == {"one": 3, "two": 6}
    assert (one.running_pods("shop", workload), two.running_pods("shop", workload)) == (3, 6)


def test_capacity_weights_divide_by_free_room(cast, api_a, member, policy) -> None:
    """Karmada's documented example: free room for 6, 12 and 18 replicas, 12 replicas → 2, 4, 6."""
    for name, cores in (("small", 6), ("medium", 12), ("large", 18)):
        member(
            name,
            {"cloud": "onprem", "region": name},
            pools=(pool(1, "", cpu=cores, memory_mib=cores * 4096),),
        )
    chosen = policy("by-room", strategy="spread", spread={"weights": "capacity", "spread_by": "cluster"})
    workload_id = _submit(api_a, deployment(replicas=12, cpu="1", memory="1Gi"), chosen)

    settle(cast, _running(api_a, workload_id))

    assert placements(_workload(workload_id)) == {"small": 2, "medium": 4, "large": 6}


def test_spread_by_region_puts_replicas_in_two_regions(cast, api_a, fleet, policy) -> None:
    chosen = policy(
        "ha", strategy="spread", cluster_selector="cloud=aws", spread={"spread_by": "region", "min_groups": 2}
    )
    workload_id = _submit(api_a, deployment(replicas=4), chosen)

    settle(cast, _running(api_a, workload_id))

    placed = placements(_workload(workload_id))
    assert set(placed) == {"aws-east", "aws-west"} and sum(placed.values()) == 4


def test_duplicate_runs_a_full_copy_in_every_selected_cluster(cast, api_a, fleet, policy) -> None:
    chosen = policy("everywhere", strategy="duplicate", cluster_selector="env=prod")
    workload_id = _submit(api_a, deployment(replicas=2), chosen)

    settle(cast, _running(api_a, workload_id))

    workload = _workload(workload_id)
    assert placements(workload) == {"onprem": 2, "aws-east": 2, "aws-west": 2}
    assert all(member.running_pods("shop", workload) == 2 for member in fleet.values())


def test_pinned_runs_only_where_pinned_even_when_elsewhere_is_cheaper(cast, api_a, fleet, policy) -> None:
    chosen = policy("pin", strategy="pinned", pinned=["aws-west"])
    workload_id = _submit(api_a, deployment(replicas=3), chosen)

    settle(cast, _running(api_a, workload_id))

    assert placements(_workload(workload_id)) == {"aws-west": 3}
    assert fleet["onprem"].deployment_replicas("shop", "web") is None


def test_a_job_divided_over_two_clusters_completes_and_reports_its_completions(cast, member, policy) -> None:
    for name in ("left", "right"):
        member(name, {"cloud": "onprem", "region": name}, pools=(pool(1, "", cpu=4, memory_mib=8192),))
    chosen = policy(
        "split",
        strategy="spread",
        spread={"weights": "static", "static_weights": [{"weight": 1, "selector": "cloud=onprem"}]},
    )
    workload = submit(cast, job(parallelism=4, completions=8), chosen)

    settle(cast, lambda: fresh(workload).status == WorkloadStatus.COMPLETED)

    done = fresh(workload)
    assert placements(done) == {"left": 2, "right": 2}
    assert done.succeeded == 8
    assert [p.completions for p in done.placements.all()] == [4, 4]


def test_a_member_out_of_service_is_not_called_and_gets_nothing(cast, api_a, fleet, policy) -> None:
    onprem = fleet["onprem"].cluster
    Cluster.objects.filter(pk=onprem.pk).update(
        status=ClusterStatus.FAILED, health_problem="no API server answered"
    )
    chosen = policy("cheap", strategy="cheapest", cluster_selector="env=prod")
    workload_id = _submit(api_a, deployment(replicas=3), chosen)

    body = settle(cast, _running(api_a, workload_id))

    assert "onprem" not in {p["cluster_name"] for p in body["placements"]}
    assert fleet["onprem"].deployment_replicas("shop", "web") is None
    onprem.refresh_from_db()
    assert onprem.health_problem == "no API server answered", "the pass must not overwrite why it failed"
