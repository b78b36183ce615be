"""Failover and sticky behaviour hold for Deployments created through the endpoint, and the object's
status says where the replicas run now (a real network partition between product and member)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.utils import timezone

from policies.kubeapi.tables import clusters_served
from tests.fixtures.federation import deployment, pool, settle
from tests.policies.kubeapi.conftest import Kube
from workers.federation import run_pass

pytestmark = pytest.mark.django_db
WEB = "/k8s/apis/apps/v1/namespaces/shop/deployments/web"


@pytest.fixture
def two_members(member):
    return (
        member(
            "primary", {"cloud": "onprem", "region": "dc-east"}, pools=(pool(1, "", cpu=8, memory_mib=16384),)
        ),
        member("standby", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),)),
    )


def _create(cast) -> Kube:
    kube = Kube(cast.token_a_plaintext)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    assert kube.send("post", "/k8s/api/v1/namespaces", namespace).status_code == 201
    created = kube.send(
        "post", "/k8s/apis/apps/v1/namespaces/shop/deployments", yaml.safe_load(deployment(replicas=2))
    )
    assert created.status_code == 201, created.json()
    return kube


def _where(kube: Kube) -> dict[str, Any]:
    return {c["name"]: (c["replicas"], c["readyReplicas"]) for c in clusters_served(kube.get(WEB).json())}


def test_replicas_move_off_an_unreachable_member_and_status_follows(cast, two_members, policy) -> None:
    primary, standby = two_members
    policy("cheap", strategy="cheapest", on_failure="reschedule", grace_period_seconds=0)
    kube = _create(cast)
    settle(cast, lambda: _where(kube) == {"primary": (2, 2)})

    primary.link.cut()
    settle(cast, lambda: _where(kube) == {"standby": (2, 2)})
    status = kube.get(WEB).json()["status"]
    assert status["readyReplicas"] == 2 and status["observedGeneration"] == 1
    # kubectl describe deployment web says so: placed on primary, then moved off it.
    uid = kube.get(WEB).json()["metadata"]["uid"]
    events = kube.get(f"/k8s/api/v1/namespaces/shop/events?fieldSelector=involvedObject.uid={uid}").json()
    # The federation's own (the members' events of their copies come with them).
    decided = [e for e in events["items"] if e["source"]["component"] == "nodeless-federation"]
    said = [(e["type"], e["reason"], e["message"]) for e in decided]
    assert any(e["message"].startswith("standby: Scaled up replica set web-") for e in events["items"])
    assert [(kind, reason) for kind, reason, _ in said] == [("Normal", "Placed"), ("Warning", "Failover")], (
        said
    )
    assert said[0][2].endswith("(replicas: primary 2)")
    assert said[1][2].startswith("failover from primary: ") and said[1][2].endswith("(replicas: standby 2)")

    primary.link.heal()
    settle(cast, lambda: primary.deployment_replicas("shop", "web") is None)
    assert _where(kube) == {"standby": (2, 2)}


def test_sticky_keeps_replicas_where_they_were_and_says_so(cast, two_members, policy) -> None:
    primary, standby = two_members
    policy("stay", strategy="cheapest", on_failure="sticky", grace_period_seconds=0)
    kube = _create(cast)
    settle(cast, lambda: _where(kube) == {"primary": (2, 2)})

    primary.link.cut()
    run_pass(str(cast.org_a.pk), now=timezone.now() + timedelta(hours=1))
    status = kube.get(WEB).json()["status"]
    federated = next(c for c in status["conditions"] if c["type"] == "Federated")
    assert federated["status"] == "False" and "sticky" in federated["message"]
    assert list(_where(kube)) == ["primary"] and standby.deployment_replicas("shop", "web") is None


def test_the_service_account_a_deployment_runs_as_goes_with_it(cast, member, policy) -> None:
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    kube = Kube(cast.token_a_plaintext)
    kube.send(
        "post",
        "/k8s/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
    )
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web-runner"}}
    created = kube.send("post", "/k8s/api/v1/namespaces/shop/serviceaccounts", account)
    assert created.status_code == 201 and "Warning" not in created
    web = yaml.safe_load(deployment(replicas=1))
    web["spec"]["template"]["spec"]["serviceAccountName"] = "web-runner"
    assert kube.send("post", "/k8s/apis/apps/v1/namespaces/shop/deployments", web).status_code == 201
    settle(cast, lambda: _where(kube) == {"east": (1, 1)})
    assert east.core.read_namespaced_service_account("web-runner", "shop").metadata.name == "web-runner"
