"""The members' events of their copies of a workload, served as events of the endpoint's object
(``member_events``): ``kubectl describe deployment`` shows what each member's controllers did,
named with the member; every list of events has them; another organization sees none."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.resources import EVENTS as MEMBER_EVENTS
from tests.fixtures.federation import pool
from tests.fixtures.simulation import wait_for
from tests.policies.kubeapi.conftest import Kube
from tests.policies.kubeapi.test_decision_events import EVENTS, _deploy
from workers.federation import run_pass

pytestmark = pytest.mark.django_db(transaction=True)
HPAS = "/k8s/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers"
# Scales the Deployment web up to 2 at once (below its minimum).
HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 3,
    },
}


def test_what_a_members_controllers_did_is_an_event_of_the_endpoints_deployment(cast, shop, member) -> None:
    member("east", {"cloud": "onprem"}, pools=(pool(2),), seed=1)
    uid = _deploy(shop, "web", 2)
    describe = (
        f"{EVENTS}?fieldSelector=involvedObject.name=web,involvedObject.namespace=shop,"
        f"involvedObject.kind=Deployment,involvedObject.uid={uid}"
    )

    def scaled() -> list[dict[str, Any]]:
        run_pass(str(cast.org_a.pk))
        items = shop.get(describe).json()["items"]
        return [e for e in items if e["reason"] == "ScalingReplicaSet"]

    [event] = wait_for(scaled, timeout=30, interval=0.3)
    assert event["message"].startswith("east: Scaled up replica set web-")
    assert event["message"].endswith(" from 0 to 2")
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "web",
        "uid": uid,
    }
    assert event["source"]["component"] == "deployment-controller"
    assert event["metadata"]["annotations"]["nodeless.io/cluster"] == "east"
    # The federation's own decision comes with it.
    assert "Placed" in {e["reason"] for e in shop.get(describe).json()["items"]}
    # Listed with every event and with a workload kind's, never with a pod's.
    assert event in shop.get(EVENTS).json()["items"]
    assert event in shop.get("/k8s/api/v1/events").json()["items"]
    assert event in shop.get(f"{EVENTS}?fieldSelector=involvedObject.kind=Deployment").json()["items"]
    assert event not in shop.get(f"{EVENTS}?fieldSelector=involvedObject.kind=Pod").json()["items"]
    assert shop.get(f"{EVENTS}?fieldSelector=involvedObject.kind=StatefulSet").json()["items"] == []
    # Another organization's token: none of them.
    outsider = Kube(cast.token_b_plaintext)
    assert outsider.get("/k8s/api/v1/events").json()["items"] == []
    assert outsider.get(describe).json()["items"] == []


def test_what_a_members_autoscaler_did_is_an_event_of_the_endpoints_hpa(cast, shop, member) -> None:
    member("east", {"cloud": "onprem"}, pools=(pool(2),), seed=1)
    created = shop.send("post", HPAS, HPA)
    assert created.status_code == 201, created.json()
    uid = created.json()["metadata"]["uid"]
    _deploy(shop, "web", 1)
    describe = (
        f"{EVENTS}?fieldSelector=involvedObject.name=web,involvedObject.namespace=shop,"
        f"involvedObject.kind=HorizontalPodAutoscaler,involvedObject.uid={uid}"
    )

    def rescaled() -> list[dict[str, Any]]:
        run_pass(str(cast.org_a.pk))
        return [e for e in shop.get(describe).json()["items"] if e["reason"] == "SuccessfulRescale"]

    [event] = wait_for(rescaled, timeout=30, interval=0.3)
    assert event["message"] == "east: New size: 2; reason: Current number of replicas below Spec.MinReplicas"
    assert (event["involvedObject"]["uid"], event["involvedObject"]["apiVersion"]) == (uid, "autoscaling/v2")
    assert event["source"]["component"] == "horizontal-pod-autoscaler"
    # The Deployment's own events are not the HPA's.
    assert all(
        e["involvedObject"]["kind"] == "HorizontalPodAutoscaler" for e in shop.get(describe).json()["items"]
    )
    assert Kube(cast.token_b_plaintext).get(describe).json()["items"] == []


def test_an_hpa_added_to_a_running_deployment_scales_it_without_the_loop_undoing_it(
    cast, shop, member
) -> None:
    """The HPA goes to the member after the Deployment it scales (``ACTING_ON_WORKLOAD``): applied
    before it, the HPA scaled the copy up at once and the Deployment's apply right behind it scaled
    it back down, a pod killed for nothing (seen in the demo's events)."""
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),), seed=1)
    _deploy(shop, "web", 1)
    org = str(cast.org_a.pk)

    def running(replicas: int) -> bool:
        run_pass(org)
        return east.deployment_replicas("shop", "web") == replicas

    wait_for(lambda: running(1), timeout=30, interval=0.3)
    assert shop.send("post", HPAS, HPA).status_code == 201

    def followed() -> bool:
        run_pass(org)
        served = shop.get("/k8s/apis/apps/v1/namespaces/shop/deployments/web").json()
        return served["spec"]["replicas"] == 2 and east.deployment_replicas("shop", "web") == 2

    wait_for(followed, timeout=30, interval=0.3)
    scaled = [
        s.obj["message"]
        for s in east.sim.api.store.list(MEMBER_EVENTS).items
        if s.obj["reason"] == "ScalingReplicaSet"
    ]
    assert scaled and not [message for message in scaled if "Scaled down" in message], scaled
    reasons = {s.obj["reason"] for s in east.sim.api.store.list(MEMBER_EVENTS).items}
    assert "FailedGetScale" not in reasons
