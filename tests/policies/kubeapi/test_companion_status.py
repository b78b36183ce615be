"""Addresses back from the members: a federated LoadBalancer Service and Ingress show what each
member's controllers gave their copies (``status.loadBalancer.ingress``, by member name), so
``kubectl get`` prints EXTERNAL-IP and ADDRESS and Argo CD's health check calls the application
Healthy; a member without load balancer controllers gives none, and the Service stays pending."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from clusters.models import Cluster
from policies.kubeapi.companion_status import _status, gathered
from policies.kubeapi.standalone import POLICY_ANNOTATION
from policies.models import Decision, DecisionKind, KubeObject, Placement, Workload
from simulator.metrics import USAGE_ANNOTATION
from simulator.resources import HPAS, INGRESSES, SERVICES
from tests.fixtures.federation import pool
from tests.fixtures.simulation import wait_for
from tests.policies.kubeapi.conftest import write_manifests
from tests.policies.kubeapi.test_kubectl import _documents

pytestmark = pytest.mark.django_db(transaction=True)


def _front(service_type: str = "LoadBalancer") -> dict[str, dict]:
    """kubectl's directory (namespace, ConfigMap, Service, Deployment) with a Service of
    ``service_type`` and an Ingress in front of it."""
    documents = {name: document for name, document in _documents().items() if name != "hpa"}
    documents["service"]["spec"]["type"] = service_type
    return {
        **documents,
        "ingress": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "rules": [
                    {
                        "host": "shop.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
    }


def _argo_health(obj: dict[str, Any]) -> str:
    """Argo CD's built-in health check of a Service and an Ingress (gitops-engine
    ``pkg/health/health_service.go``, ``health_ingress.go``)."""
    balancers = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if obj["kind"] == "Service" and obj["spec"].get("type") != "LoadBalancer":
        return "Healthy"
    return "Healthy" if balancers else "Progressing"


def _get(kubectl: Any, kind: str) -> dict[str, Any]:
    found = kubectl("get", kind, "web", "-n", "shop", "-o", "json")
    assert found.returncode == 0, found.stderr
    return json.loads(found.stdout)


def _member_addresses(members: list[Any], resource: Any) -> list[dict[str, Any]]:
    """The addresses the members gave their copies, member after member."""
    return [
        entry
        for m in members
        for entry in m.sim.api.get(resource, "shop", "web").obj["status"]["loadBalancer"]["ingress"]
    ]


def test_addresses_of_every_member_come_back_and_argo_calls_them_healthy(
    cast, kubectl, member, policy, federation_loop, tmp_path, owner_client, api_a
) -> None:
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    west = member("west", {"cloud": "onprem"}, pools=(pool(2),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    applied = kubectl("apply", "-f", str(write_manifests(tmp_path / "front", _front())))
    assert applied.returncode == 0, applied.stderr
    rollout = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    assert rollout.returncode == 0, rollout.stderr

    def both_addressed() -> tuple[dict, dict] | None:
        service, ingress = _get(kubectl, "service"), _get(kubectl, "ingress")
        counts = [
            len((o["status"].get("loadBalancer") or {}).get("ingress") or []) for o in (service, ingress)
        ]
        return (service, ingress) if counts == [2, 2] else None

    service, ingress = wait_for(both_addressed, timeout=60.0, interval=0.3)
    # What each member gave its own copy, east's first (members by name).
    members = [east, west]
    expected_service = _member_addresses(members, SERVICES)
    expected_ingress = _member_addresses(members, INGRESSES)
    assert service["status"]["loadBalancer"]["ingress"] == expected_service
    assert ingress["status"]["loadBalancer"]["ingress"] == expected_ingress
    assert expected_ingress[0] != expected_ingress[1]  # each member's ingress controller has its own
    assert (_argo_health(service), _argo_health(ingress)) == ("Healthy", "Healthy")
    # Each member gave its copy its own cluster IP: the endpoint's is never sent (a member refuses
    # one outside its range or taken there).
    for m in members:
        assert m.core.read_namespaced_service("web", "shop").spec.cluster_ip != service["spec"]["clusterIP"]
    table = kubectl("get", "service,ingress", "-n", "shop").stdout
    addresses = ",".join(entry["ip"] for entry in expected_service)
    assert addresses in table, table
    assert ",".join(entry["ip"] for entry in expected_ingress) in table, table
    # The workload's page and the REST API show each member's addresses on its placement there.
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    page = owner_client.get(reverse("workload-detail", args=[workload.pk])).content.decode()
    assert f"<code>Service/web</code> {expected_service[0]['ip']}" in page, page
    assert f"<code>Ingress/web</code> {expected_ingress[1]['ip']}" in page, page
    placements = api_a.get(f"/api/v1/workloads/{workload.pk}/").json()["placements"]
    assert {p["cluster_name"]: p["companion_statuses"]["Service/web"]["ingress"] for p in placements} == {
        "east": [expected_service[0]],
        "west": [expected_service[1]],
    }


def test_a_member_without_load_balancer_controllers_leaves_the_service_pending(
    kubectl, member, policy, federation_loop, tmp_path
) -> None:
    member("bare", {"cloud": "onprem"}, pools=(pool(2),), load_balancers=False)
    policy("default", strategy="cheapest")
    applied = kubectl("apply", "-f", str(write_manifests(tmp_path / "front", _front())))
    assert applied.returncode == 0, applied.stderr
    rollout = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    assert rollout.returncode == 0, rollout.stderr
    service, ingress = _get(kubectl, "service"), _get(kubectl, "ingress")
    assert (_argo_health(service), _argo_health(ingress)) == ("Progressing", "Progressing")
    assert "<pending>" in kubectl("get", "service", "web", "-n", "shop").stdout


def test_addresses_are_gathered_from_the_members_the_users_run_on_by_member_name() -> None:
    def placement(member: str, replicas: int, reported: dict[str, Any]) -> Placement:
        return Placement(replicas=replicas, companion_statuses=reported, cluster=Cluster(name=member))

    class User:
        def __init__(self, pk: str) -> None:
            self.pk = pk

    west = {"Service/web": {"ingress": [{"ip": "172.16.1.1"}]}}
    east = {"Service/web": {"ingress": [{"hostname": "a1.elb.amazonaws.com"}]}}
    left = {"Service/web": {"ingress": [{"ip": "172.16.9.9"}]}}  # the workload left this member
    placements = {
        "a": [placement("west", 2, west), placement("east", 1, east)],
        "b": [placement("gone", 0, left)],
    }
    users: Any = [User("a"), User("b")]
    reports = gathered(("shop", "Service", "web"), users, placements)
    assert [member for member, _ in reports] == ["east", "west"]
    balancer = KubeObject(kind="Service", body={"spec": {"type": "LoadBalancer"}}, status={})
    assert _status(balancer, reports) == {
        "loadBalancer": {"ingress": [{"hostname": "a1.elb.amazonaws.com"}, {"ip": "172.16.1.1"}]}
    }
    assert gathered(("shop", "Ingress", "web"), users, placements) == []
    internal = KubeObject(kind="Service", body={"spec": {"type": "ClusterIP"}}, status={})
    assert _status(internal, reports) is None  # not a load balancer: nothing to show


def _argo_hpa_health(hpa: dict[str, Any]) -> str:
    """Argo CD's health check of an autoscaling/v2 HPA (gitops-engine ``health_hpa.go``): the first
    condition that says Degraded or Healthy decides, else "Waiting to Autoscale" (Progressing)."""
    degraded = {
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "InvalidSelector"),
    }
    healthy = {
        ("AbleToScale", "SucceededRescale"),
        ("ScalingLimited", "DesiredWithinRange"),
        ("ScalingLimited", "TooFewReplicas"),
        ("ScalingLimited", "TooManyReplicas"),
    }
    for condition in (hpa.get("status") or {}).get("conditions") or []:
        if (condition["type"], condition["reason"]) in degraded:
            return "Degraded"
        if (condition["type"], condition["reason"]) in healthy:
            return "Healthy"
    return "Progressing"


def test_each_members_hpa_scales_its_copy_its_status_comes_back_and_a_new_generation_keeps_its_count(
    cast, kubectl, member, policy, federation_loop, tmp_path, owner_client
) -> None:
    east = member("east", {"cloud": "onprem"}, pools=(pool(3),))
    west = member("west", {"cloud": "onprem"}, pools=(pool(3),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    documents = _documents()
    web = documents["web"]
    web["spec"]["template"]["metadata"]["annotations"] = {USAGE_ANNOTATION: '{"app": {"cpu": "450m"}}'}
    documents["hpa"]["spec"].update(
        minReplicas=1,
        maxReplicas=3,
        metrics=[
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
            }
        ],
    )
    applied = kubectl("apply", "-f", str(write_manifests(tmp_path / "app", documents)))
    assert applied.returncode == 0, applied.stderr

    def scaled_to_the_maximum() -> dict[str, Any] | None:
        hpa = json.loads(kubectl("get", "hpa", "web", "-n", "shop", "-o", "json").stdout)
        return hpa if (hpa.get("status") or {}).get("currentReplicas") == 6 else None

    hpa = wait_for(scaled_to_the_maximum, timeout=90.0, interval=0.5)
    assert _argo_hpa_health(hpa) == "Healthy"
    limited = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "TooManyReplicas")
    assert limited["message"].startswith("east: ")  # the member that says so, named
    assert hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 90
    assert "cpu: 90%/50%" in kubectl("get", "hpa", "-n", "shop").stdout
    page = owner_client.get(reverse("workload-detail", args=[Workload.objects.get(name="web").pk]))
    assert (
        "<code>HorizontalPodAutoscaler/web</code> scales to 3 (now 3); ScalingLimited: "
        in page.content.decode()
    )
    # The members' counts are the workload's, as an HPA's count is a Deployment's in one cluster:
    # the endpoint's spec.replicas follows their sum, so rollout status and Argo CD compare the
    # pods with what the HPAs chose (the policy's share of one each is not sent back).
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    wait_for(lambda: Workload.objects.get(pk=workload.pk).desired_replicas == 6, timeout=60.0, interval=0.3)
    # Why the count moved is one of the workload's decisions.
    scaled = Decision.objects.filter(workload=workload, kind=DecisionKind.AUTOSCALE).latest("created_at")
    assert "to 6 replicas (east 3, west 3)" in scaled.reason
    page = owner_client.get(reverse("workload-detail", args=[workload.pk])).content.decode()
    assert "Scaled by HPAs" in page and "to 6 replicas (east 3, west 3)" in page
    rolled = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=90s")
    assert rolled.returncode == 0, rolled.stderr
    served = json.loads(kubectl("get", "deployment", "web", "-n", "shop", "-o", "json").stdout)
    assert served["spec"]["replicas"] == 6
    assert (served["status"]["readyReplicas"], served["status"]["updatedReplicas"]) == (6, 6)
    assert {p.cluster.name: p.replicas for p in Placement.objects.filter(workload=workload)} == {
        "east": 3,
        "west": 3,
    }
    wait_for(lambda: Workload.objects.get(pk=workload.pk).status == "running", timeout=60.0, interval=0.3)

    scaled_at = [m.sim.api.get(HPAS, "shop", "web").obj["status"]["lastScaleTime"] for m in (east, west)]
    assert kubectl("set", "image", "deployment/web", "app=nginx:1.28", "-n", "shop").returncode == 0
    rollout = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=90s")
    assert rollout.returncode == 0, rollout.stderr

    def new_image_at_three(m: Any) -> bool:
        found = m.apps.read_namespaced_deployment("web", "shop")
        return bool(found.spec.template.spec.containers[0].image == "nginx:1.28" and found.spec.replicas == 3)

    wait_for(lambda: all(new_image_at_three(m) for m in (east, west)), timeout=60.0, interval=0.3)
    # The new generation was applied at the HPAs' counts: they had nothing to scale again.
    assert [
        m.sim.api.get(HPAS, "shop", "web").obj["status"]["lastScaleTime"] for m in (east, west)
    ] == scaled_at


def test_a_standalone_load_balancer_shows_the_addresses_of_the_members_its_policy_sends_it_to(
    cast, kubectl, member, policy, federation_loop, tmp_path
) -> None:
    """A LoadBalancer Service no workload uses (its pods run in the members, not federated) goes to
    the clusters of the policy it names; their addresses come back to it as a companion's do."""
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    west = member("west", {"cloud": "onprem"}, pools=(pool(2),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    service = _documents()["service"]
    service["spec"].update(type="LoadBalancer", selector={"app": "legacy"})
    service["metadata"]["annotations"] = {POLICY_ANNOTATION: "everywhere"}
    directory = write_manifests(
        tmp_path / "alone", {"0-namespace": _documents()["0-namespace"], "service": service}
    )
    assert kubectl("apply", "-f", str(directory)).returncode == 0

    def addressed() -> dict[str, Any] | None:
        found = _get(kubectl, "service")
        return found if len((found["status"]["loadBalancer"]).get("ingress") or []) == 2 else None

    found = wait_for(addressed, timeout=60.0, interval=0.3)
    assert found["status"]["loadBalancer"]["ingress"] == _member_addresses([east, west], SERVICES)
    assert _argo_health(found) == "Healthy"
