"""StatefulSets, DaemonSets and CronJobs through the endpoint with the official Python client,
placed by policy on simulated members and reporting Kubernetes status back: a StatefulSet divided
over two members with the PVC, Service, HPA, Ingress and RBAC it uses following it; a DaemonSet
copied to every member whatever the policy divides; a CronJob whose runs show as
``lastScheduleTime``/``active``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as kube

from policies.kubeapi.tables import clusters_served
from policies.models import Placement, Workload
from tests.fixtures.federation import pool
from tests.policies.federation.test_workload_kinds import CONTAINER, cronjob, daemonset, statefulset
from tests.policies.kubeapi.conftest import STORAGE_CLASS, add_storage_class

pytestmark = pytest.mark.django_db(transaction=True)
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def _until(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not reached in {timeout} s: {check.__doc__ or check}")


@pytest.fixture
def two_members(member, policy) -> tuple[Any, Any]:
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(2),))
    policy("spread", strategy="spread", spread={"spread_by": "cluster"})
    return east, west


def test_a_statefulset_is_divided_with_the_objects_it_uses_and_reports_revisions(
    cast, api, two_members, federation_loop
) -> None:
    east, west = two_members
    add_storage_class(east, west)
    core: Any = kube.CoreV1Api(api)
    apps: Any = kube.AppsV1Api(api)
    core.create_namespace(NAMESPACE)
    companions = [
        (
            "",
            "persistentvolumeclaims",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "db-data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": STORAGE_CLASS,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        ),
        (
            "",
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "db"},
                "spec": {"selector": {"app": "db"}, "ports": [{"port": 5432}]},
            },
        ),
        ("", "serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "db"}}),
        (
            "autoscaling/v2",
            "horizontalpodautoscalers",
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "db"},
                "spec": {
                    "minReplicas": 1,
                    "maxReplicas": 4,
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
                },
            },
        ),
        (
            "networking.k8s.io/v1",
            "ingresses",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "db"},
                "spec": {"defaultBackend": {"service": {"name": "db", "port": {"number": 5432}}}},
            },
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "roles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            },
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "db-reads"},
                "subjects": [{"kind": "ServiceAccount", "name": "db", "namespace": "shop"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            },
        ),
    ]
    creators: dict[str, Callable[..., Any]] = {
        "persistentvolumeclaims": core.create_namespaced_persistent_volume_claim,
        "services": core.create_namespaced_service,
        "serviceaccounts": core.create_namespaced_service_account,
        "horizontalpodautoscalers": kube.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler,
        "ingresses": kube.NetworkingV1Api(api).create_namespaced_ingress,
        "roles": kube.RbacAuthorizationV1Api(api).create_namespaced_role,
        "rolebindings": kube.RbacAuthorizationV1Api(api).create_namespaced_role_binding,
    }
    for _, plural, body in companions:
        response = creators[plural]("shop", body, _preload_content=False)
        assert response.status == 201, body
        assert "Warning" not in response.headers, response.headers  # they follow their workloads
    created = apps.create_namespaced_stateful_set("shop", statefulset(4))
    workload = Workload.objects.get(organization=cast.org_a, name="db")
    assert workload.kind == "StatefulSet" and workload.desired_replicas == 4

    def rolled_out() -> Any:
        """4 ready replicas over the members, at one revision, observed"""
        found = apps.read_namespaced_stateful_set("db", "shop")
        status = found.status
        done = status is not None and (
            status.ready_replicas == 4
            and status.observed_generation == created.metadata.generation
            and status.current_revision
            and status.current_revision == status.update_revision
        )
        return found if done else None

    ready = _until(rolled_out)
    assert ready.status.replicas == 4 and ready.status.updated_replicas == 4
    shares = {
        member.cluster.name: member.apps.read_namespaced_stateful_set("db", "shop").spec.replicas
        for member in (east, west)
    }
    assert shares == {"east": 2, "west": 2}
    autoscaling: Any = kube.AutoscalingV2Api(east.api_client)
    networking: Any = kube.NetworkingV1Api(east.api_client)
    rbac: Any = kube.RbacAuthorizationV1Api(east.api_client)
    for member in (east, west):
        assert member.core.read_namespaced_persistent_volume_claim("db-data", "shop").spec.access_modes == [
            "ReadWriteOnce"
        ]
        assert member.core.read_namespaced_service_account("db", "shop").metadata.name == "db"
    target = autoscaling.read_namespaced_horizontal_pod_autoscaler("db", "shop").spec.scale_target_ref
    assert (target.kind, target.name) == ("StatefulSet", "db")
    assert networking.read_namespaced_ingress("db", "shop").spec.default_backend.service.name == "db"
    assert rbac.read_namespaced_role_binding("db-reads", "shop").role_ref.name == "reader"
    assert rbac.read_namespaced_role("reader", "shop").rules[0].verbs == ["get"]
    raw = json.loads(apps.read_namespaced_stateful_set("db", "shop", _preload_content=False).data)
    assert sorted((c["name"], c["replicas"]) for c in clusters_served(raw)) == [("east", 2), ("west", 2)]


def test_a_daemonset_is_copied_to_every_member_and_sums_its_pods(
    cast, api, two_members, federation_loop
) -> None:
    east, west = two_members
    core: Any = kube.CoreV1Api(api)  # dict manifests
    core.create_namespace(NAMESPACE)
    apps: Any = kube.AppsV1Api(api)
    apps.create_namespaced_daemon_set("shop", daemonset())

    def all_ready() -> Any:
        """every node of both members runs a ready daemon pod"""
        status = apps.read_namespaced_daemon_set("agent", "shop").status
        return (
            status if status and status.desired_number_scheduled == 4 and status.number_ready == 4 else None
        )

    status = _until(all_ready)
    assert status.updated_number_scheduled == 4 and status.observed_generation == 1
    placements = Placement.objects.filter(workload__name="agent").select_related("cluster")
    assert sorted((p.cluster.name, p.replicas) for p in placements) == [("east", 1), ("west", 1)]
    for member in (east, west):
        nodes = {pod.spec.node_name for pod in member.core.list_namespaced_pod("shop").items}
        assert len(nodes) == 2  # one pod per node, on the member's own nodes
    assert Workload.objects.get(name="agent").status == "running"


def test_a_cronjob_runs_on_its_member_and_reports_its_schedule(
    cast, api, member, policy, federation_loop
) -> None:
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    core: Any = kube.CoreV1Api(api)  # dict manifests
    core.create_namespace(NAMESPACE)
    batch: Any = kube.BatchV1Api(api)
    scheduled = cronjob(parallelism=1, completions=1)
    scheduled["spec"]["schedule"] = "* * * * *"  # the member's clock runs 10x: a run every 6 s
    batch.create_namespaced_cron_job("shop", scheduled)

    def ran() -> Any:
        """the federated CronJob shows a run of its member"""
        status = batch.read_namespaced_cron_job("report", "shop").status
        return status if status and status.last_schedule_time else None

    status = _until(ran)
    member_status = east.batch.read_namespaced_cron_job("report", "shop").status
    assert member_status.last_schedule_time is not None
    assert status.last_schedule_time <= member_status.last_schedule_time
    member_jobs = east.batch.list_namespaced_job("shop").items
    assert member_jobs and member_jobs[0].metadata.owner_references[0].kind == "CronJob"
    assert (
        east.batch.read_namespaced_cron_job("report", "shop")
        .spec.job_template.spec.template.spec.containers[0]
        .image
        == CONTAINER["image"]
    )
