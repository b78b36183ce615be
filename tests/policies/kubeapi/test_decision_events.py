"""The federation's decisions as Events of the workload's object on the endpoint (``decision_events``):
``kubectl describe deployment`` shows where the replicas went and why; selected by the involved
object and type as any event; an hour long; another organization sees none of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from policies.kubeapi.federation import POLICY_ANNOTATION
from policies.models import Decision
from tests.fixtures.federation import deployment, pool
from tests.fixtures.simulation import wait_for
from tests.policies.kubeapi.conftest import Kube
from workers.federation import run_pass

pytestmark = pytest.mark.django_db(transaction=True)
DEPLOYMENTS = "/k8s/apis/apps/v1/namespaces/shop/deployments"
EVENTS = "/k8s/api/v1/namespaces/shop/events"


def _deploy(kube: Kube, name: str, replicas: int, *, cpu: str = "100m", policy: str = "") -> str:
    body = yaml.safe_load(deployment(name, replicas=replicas, cpu=cpu, memory="64Mi"))
    if policy:
        body["metadata"]["annotations"] = {POLICY_ANNOTATION: policy}
    created = kube.send("post", DEPLOYMENTS, body)
    assert created.status_code == 201, created.json()
    return str(created.json()["metadata"]["uid"])


def _placed(org_id: str, name: str) -> None:
    def step() -> bool:
        run_pass(org_id)
        return Decision.objects.filter(workload__name=name).exists()

    wait_for(step, timeout=30, interval=0.2)


def _decided(events: list[dict]) -> list[dict]:
    """The federation's events (the members' own about their copies come with them)."""
    return [event for event in events if event["source"]["component"] == "nodeless-federation"]


def test_a_placement_is_an_event_of_its_deployment(cast, shop, member, policy) -> None:
    member("east", {"cloud": "onprem"}, pools=(pool(2),), seed=1)
    member("west", {"cloud": "onprem"}, pools=(pool(2),), seed=2)
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    uid = _deploy(shop, "web", 4, policy="everywhere")
    _placed(str(cast.org_a.pk), "web")
    decision = Decision.objects.get(workload__name="web")

    described = shop.get(f"{EVENTS}?fieldSelector=involvedObject.name=web,involvedObject.uid={uid}")
    [event] = _decided(described.json()["items"])
    assert (event["type"], event["reason"], event["source"]["component"]) == (
        "Normal",
        "Placed",
        "nodeless-federation",
    )
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "web",
        "uid": uid,
    }
    assert event["message"] == f"{decision.reason} (replicas: east 2, west 2)"
    assert event["lastTimestamp"] == event["firstTimestamp"]
    # Listed with every event, selected as any event, never among a pod's.
    assert event in shop.get(EVENTS).json()["items"]
    assert event in shop.get("/k8s/api/v1/events").json()["items"]
    assert shop.get(f"{EVENTS}?fieldSelector=type=Warning").json()["items"] == []
    assert event not in shop.get(f"{EVENTS}?fieldSelector=involvedObject.kind=Pod").json()["items"]
    assert shop.get(f"{EVENTS}?fieldSelector=involvedObject.uid=not-a-uid").json()["items"] == []
    # Another organization's token: none of them.
    outsider = Kube(cast.token_b_plaintext)
    assert outsider.get("/k8s/api/v1/events").json()["items"] == []

    # The same decision again (a new generation placed as the last one was) is counted on it.
    again = Decision.objects.get(pk=decision.pk)
    again.pk, again.created_at = None, decision.created_at + timedelta(seconds=30)
    again.save()
    [counted] = _decided(shop.get(f"{EVENTS}?fieldSelector=involvedObject.uid={uid}").json()["items"])
    assert (counted["count"], counted["firstTimestamp"]) == (2, event["firstTimestamp"])
    assert counted["lastTimestamp"] > event["lastTimestamp"]
    Decision.objects.filter(pk=again.pk).delete()

    # An hour later the endpoint no longer serves it (as its own events expire), but the log keeps it.
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert _decided(shop.get(f"{EVENTS}?fieldSelector=involvedObject.uid={uid}").json()["items"]) == []


def test_replicas_no_member_can_take_are_a_warning(cast, shop, member) -> None:
    member("east", {"cloud": "onprem"}, pools=(pool(1),))  # shop's default policy: cheapest
    uid = _deploy(shop, "huge", 2, cpu="64")
    _placed(str(cast.org_a.pk), "huge")
    [event] = _decided(shop.get(f"{EVENTS}?fieldSelector=involvedObject.uid={uid}").json()["items"])
    assert (event["type"], event["reason"]) == ("Warning", "FailedPlacement")
    assert "no member took a replica" in event["message"] and "2 not placed" in event["message"]


def test_kubectl_describe_deployment_shows_where_its_replicas_went(
    cast, kubectl, member, policy, tmp_path
) -> None:
    member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    manifest = tmp_path / "web.yaml"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    manifest.write_text(yaml.safe_dump_all([namespace, yaml.safe_load(deployment("web", replicas=2))]))
    assert kubectl("apply", "-f", str(manifest)).returncode == 0
    _placed(str(cast.org_a.pk), "web")
    described = kubectl("describe", "deployment", "web", "-n", "shop")
    assert described.returncode == 0, described.stderr
    events = described.stdout.split("Events:", 1)[1]
    assert "Normal  Placed" in events and "nodeless-federation" in events and "(replicas: east 2)" in events

    # What the member's deployment controller did with its copy follows, named with the member.
    def member_scaled() -> bool:
        run_pass(str(cast.org_a.pk))
        shown = kubectl("describe", "deployment", "web", "-n", "shop").stdout.split("Events:", 1)[1]
        return "ScalingReplicaSet" in shown and "east: Scaled up replica set web-" in shown

    assert wait_for(member_scaled, timeout=30, interval=0.5)
    # --sort-by reads each row's whole object (includeObject=Object).
    ordered = kubectl("get", "events", "-n", "shop", "--sort-by=.lastTimestamp")
    assert ordered.returncode == 0 and "Placed" in ordered.stdout, ordered.stdout + ordered.stderr
    columns = kubectl("get", "deploy", "-n", "shop", "--sort-by=.spec.replicas", "-o", "name")
    assert columns.stdout.strip() == "deployment.apps/web", columns.stderr


def test_a_table_row_carries_its_object_as_include_object_says(shop) -> None:
    table = "application/json;as=Table;v=v1;g=meta.k8s.io"
    _deploy(shop, "web", 1)
    rows = {
        include: shop.get(f"{DEPLOYMENTS}?includeObject={include}", HTTP_ACCEPT=table).json()["rows"]
        for include in ("Object", "Metadata", "None")
    }
    assert rows["Object"][0]["object"]["spec"]["replicas"] == 1
    assert rows["Metadata"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert "spec" not in rows["Metadata"][0]["object"]
    assert "object" not in rows["None"][0]
    assert (
        shop.get(DEPLOYMENTS, HTTP_ACCEPT=table).json()["rows"][0]["object"] == rows["Metadata"][0]["object"]
    )
