"""Changes roll out to every placement, deletion reaches every member, status comes back (Job
completion and failure, drift), egress moves the choice, and what cannot be placed says why."""

from __future__ import annotations

import pytest
import yaml

from policies.models import Workload, WorkloadStatus
from tests.fixtures.federation import deployment, fresh, job, placements, pool, settle, submit

pytestmark = pytest.mark.django_db

ONPREM = {"cloud": "onprem", "region": "dc-east"}
AWS = {"cloud": "aws", "region": "us-east-1"}


@pytest.fixture
def pair(member):
    return (
        member("left", ONPREM, pools=(pool(1, "", cpu=8, memory_mib=16384),)),
        member("right", AWS, pools=(pool(2),)),
    )


def _annotation(member, name: str = "web") -> str:
    found = member.apps.read_namespaced_deployment(name, "shop")
    return found.metadata.annotations["nodeless.io/generation"]


def test_a_new_manifest_rolls_out_to_every_placement_and_scaling_resizes_them(
    cast, api_a, pair, policy
) -> None:
    everywhere = policy("dup", strategy="duplicate")
    workload = submit(cast, deployment(replicas=1), everywhere)
    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)

    updated = yaml.safe_load(deployment(replicas=2))
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    response = api_a.patch(f"/api/v1/workloads/{workload.pk}/", {"manifest": updated}, format="json")
    assert response.status_code == 200 and response.json()["generation"] == 2

    settle(cast, lambda: all(m.deployment_replicas("shop", "web") == 2 for m in pair))
    for member in pair:
        template = member.apps.read_namespaced_deployment("web", "shop").spec.template
        assert template.spec.containers[0].image == "nginx:1.28" and _annotation(member) == "2"

    assert api_a.patch(f"/api/v1/workloads/{workload.pk}/", {"replicas": 3}, format="json").status_code == 200
    settle(cast, lambda: all(m.running_pods("shop", workload) == 3 for m in pair))
    assert fresh(workload).status == WorkloadStatus.RUNNING


def test_deleting_removes_the_workload_from_every_member(cast, api_a, pair, policy) -> None:
    everywhere = policy("dup", strategy="duplicate")
    companions = "\n---\n".join(
        [
            deployment(replicas=1),
            yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "b"}}
            ),
        ]
    ).replace("namespace: shop", "namespace: default")
    workload = submit(cast, companions, everywhere)
    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)
    assert all(m.core.read_namespaced_config_map("conf", "default").data == {"a": "b"} for m in pair)

    response = api_a.delete(f"/api/v1/workloads/{workload.pk}/")
    assert response.status_code == 202 and response.json()["status"] == WorkloadStatus.DELETING

    settle(cast, lambda: not Workload.objects.filter(pk=workload.pk).exists())
    for member in pair:
        assert not member.apps.list_namespaced_deployment("default").items
        assert not [
            c for c in member.core.list_namespaced_config_map("default").items if c.metadata.name == "conf"
        ]
    assert api_a.get(f"/api/v1/workloads/{workload.pk}/").status_code == 404


def test_a_job_that_fails_reports_the_failure(cast, pair, policy) -> None:
    cheapest = policy("cheap", strategy="cheapest")
    manifest = yaml.safe_load(job(parallelism=1, completions=1))
    manifest["spec"]["backoffLimit"] = 0
    manifest["spec"]["template"]["metadata"]["annotations"]["sim.nodeless.io/exit-code"] = "1"
    workload = submit(cast, yaml.safe_dump(manifest), cheapest)

    settle(cast, lambda: fresh(workload).status == WorkloadStatus.FAILED)

    assert "BackoffLimitExceeded" in fresh(workload).status_message
    assert fresh(workload).failed >= 1


def test_an_object_deleted_behind_our_back_is_applied_again(cast, pair, policy) -> None:
    left, _ = pair
    cheapest = policy("cheap", strategy="cheapest")
    workload = submit(cast, deployment(replicas=2), cheapest)
    settle(cast, lambda: left.running_pods("shop", workload) == 2)

    left.apps.delete_namespaced_deployment("web", "shop")
    assert left.deployment_replicas("shop", "web") is None

    settle(
        cast,
        lambda: left.running_pods("shop", workload) == 2 and fresh(workload).status == WorkloadStatus.RUNNING,
    )
    assert left.deployment_replicas("shop", "web") == 2


def test_egress_cost_moves_the_cheapest_choice_next_to_the_data(cast, pair, policy) -> None:
    cheapest = policy("cheap", strategy="cheapest")
    plain = submit(cast, deployment(name="plain", replicas=1), cheapest)
    chatty = submit(
        cast,
        deployment(name="chatty", replicas=1),
        cheapest,
        egress_gb_per_hour="50",
        data_location="aws/us-east-1",
    )

    settle(cast, lambda: {fresh(plain).status, fresh(chatty).status} == {WorkloadStatus.RUNNING})

    assert placements(fresh(plain)) == {"left": 1}
    assert placements(fresh(chatty)) == {"right": 1}
    decision = fresh(chatty).decisions.get()
    runner_up = decision.runner_ups[0]
    chosen = decision.chosen["clusters"][0]
    assert runner_up["cluster_name"] == "left" and runner_up["egress_per_hour"] > chosen["egress_per_hour"]


def test_a_workload_nothing_can_hold_is_unschedulable_with_the_reason(cast, pair, policy) -> None:
    cheapest = policy("cheap", strategy="cheapest")
    workload = submit(cast, deployment(replicas=1, cpu="64"), cheapest)

    settle(cast, lambda: fresh(workload).status == WorkloadStatus.UNSCHEDULABLE)

    message = fresh(workload).status_message
    assert message.startswith("Cannot be placed:") and "left" in message and "right" in message
    assert not fresh(workload).placements.exists()
