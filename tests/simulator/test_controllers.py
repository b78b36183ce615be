"""Workload controllers, kubelet and housekeeping, run synchronously on a manual clock."""

from typing import Any

import pytest

from simulator.api import ClusterApi
from simulator.api_support import DeleteOptions
from simulator.catalog import load_catalog
from simulator.clock import ManualClock
from simulator.controllers.base import ControllerManager
from simulator.controllers.housekeeping import DisruptionController, EventReaper, PodGarbageCollector
from simulator.controllers.jobs import JobController
from simulator.controllers.kubelet import EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION, Kubelet
from simulator.controllers.scheduler import Scheduler
from simulator.controllers.static_nodes import StaticCapacity, StaticNodePool
from simulator.controllers.workloads import DeploymentController, ReplicaSetController, SyncedInputs
from simulator.nodes import node_resources
from simulator.quantity import parse_quantity
from simulator.resources import DEPLOYMENTS, EVENTS, JOBS, NODES, PDBS, PODS, REPLICASETS
from simulator.store import ObjectStore, StoredObject
from simulator.store_table import OWNER_INDEX

START_DELAY = 2.0


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def api(clock):
    return ClusterApi(ObjectStore(clock), clock)


@pytest.fixture
def manager(api, clock):
    pools = (StaticNodePool("node", 2, "m5.xlarge"),)
    controllers: list[Any] = [
        StaticCapacity(api, load_catalog(), pools),
        Scheduler(api),
        Kubelet(api, start_delay=START_DELAY, default_job_seconds=30),
        ReplicaSetController(api),
        DeploymentController(api),
        JobController(api),
        DisruptionController(api),
        PodGarbageCollector(api),
        EventReaper(api),
    ]
    return ControllerManager(api.store, clock, controllers)


def advance(clock, manager, seconds):
    clock.advance(seconds)
    manager.settle()


def template(labels, **pod_spec):
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "250m"}}}],
            **pod_spec,
        },
    }


def deployment(name, replicas, image="nginx"):
    spec_template = template({"app": name})
    spec_template["spec"]["containers"][0]["image"] = image
    return {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": spec_template},
    }


def pods(api, **filters):
    return [
        s.obj
        for s in api.store.list(PODS).items
        if all(s.obj["status"].get(k) == v for k, v in filters.items())
    ]


def test_static_nodes_are_ready_with_eks_allocatable_and_come_back_when_deleted(api, manager):
    manager.settle()
    nodes = {s.obj["metadata"]["name"]: s.obj for s in api.store.list(NODES).items}
    assert sorted(nodes) == ["node-0", "node-1"]
    allocatable = nodes["node-0"]["status"]["allocatable"]
    # m5.xlarge: 4 vCPU, 16384 MiB, 58 pods: 4000m - (60 + 10 + 5 + 5) = 3920m;
    # 16384 - (11 * 58 + 255) - 100 = 15391 MiB.
    assert parse_quantity(allocatable["cpu"]) == pytest.approx(3.92)
    assert parse_quantity(allocatable["memory"]) == 15391 * 1024 * 1024
    api.delete(NODES, "", "node-1")
    manager.settle()
    assert api.store.try_get(NODES, "", "node-1") is not None


def test_a_deployment_becomes_ready_pods_after_the_start_delay(api, manager, clock):
    api.create(DEPLOYMENTS, "default", deployment("web", 3))
    manager.settle()
    assert len(pods(api, phase="Pending")) == 3
    assert all(p["spec"].get("nodeName") for p in pods(api))
    advance(clock, manager, START_DELAY)
    assert len(pods(api, phase="Running")) == 3
    status = api.get(DEPLOYMENTS, "default", "web").obj["status"]
    assert (status["readyReplicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3)


def test_scaling_down_removes_pods_and_a_new_template_rolls_out(api, manager, clock):
    api.create(DEPLOYMENTS, "default", deployment("web", 3))
    manager.settle()
    advance(clock, manager, START_DELAY)
    api.update(DEPLOYMENTS, "default", "web", lambda d: d["spec"].update(replicas=1))
    manager.settle()
    # Deleted pods terminate gracefully: Terminating for their grace period (30 s by default).
    assert len([p for p in pods(api) if not p["metadata"].get("deletionTimestamp")]) == 1
    advance(clock, manager, 30)
    assert len(pods(api)) == 1
    api.update(
        DEPLOYMENTS,
        "default",
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:2"),
    )
    manager.settle()
    advance(clock, manager, START_DELAY)
    advance(clock, manager, 30)
    images = [p["spec"]["containers"][0]["image"] for p in pods(api)]
    assert images == ["nginx:2"]
    replicasets = sorted(
        (s.obj["spec"]["replicas"], s.obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        for s in api.store.list(REPLICASETS).items
    )
    assert replicasets == [(0, "1"), (1, "2")]


def test_a_replicaset_replaces_a_deleted_pod(api, manager):
    api.create(DEPLOYMENTS, "default", deployment("web", 2))
    manager.settle()
    victim = pods(api)[0]["metadata"]["name"]
    api.delete(PODS, "default", victim)
    manager.settle()
    names = [p["metadata"]["name"] for p in pods(api)]
    assert len(names) == 2 and victim not in names


def test_the_kubelet_ends_a_graceful_deletion_when_the_grace_period_is_over(api, manager, clock):
    # A running pod deleted gracefully stays Terminating (its replacement already starting) until
    # its kubelet has stopped the containers and deleted it; the simulated containers take the
    # whole grace period, on the simulated clock.
    api.create(DEPLOYMENTS, "default", deployment("web", 1))
    manager.settle()
    advance(clock, manager, START_DELAY)
    victim = pods(api, phase="Running")[0]["metadata"]["name"]
    api.delete(PODS, "default", victim, DeleteOptions(grace_period_seconds=20))
    manager.settle()
    advance(clock, manager, 19)
    terminating = api.store.get(PODS, "default", victim).obj
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 20
    assert len(pods(api, phase="Running")) == 2  # the replacement runs beside it
    advance(clock, manager, 1)
    assert api.store.try_get(PODS, "default", victim) is None
    assert len(pods(api)) == 1


def job(name, completions=1, parallelism=1, run_seconds=None, exit_code=None, ttl=None):
    annotations = {}
    if run_seconds is not None:
        annotations[RUN_SECONDS_ANNOTATION] = str(run_seconds)
    if exit_code is not None:
        annotations[EXIT_CODE_ANNOTATION] = str(exit_code)
    spec_template = template({}, restartPolicy="Never")
    spec_template["metadata"]["annotations"] = annotations
    spec = {
        "completions": completions,
        "parallelism": parallelism,
        "backoffLimit": 1,
        "template": spec_template,
    }
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"metadata": {"name": name}, "spec": spec}


def conditions(obj):
    return {c["type"] for c in obj["status"].get("conditions") or () if c["status"] == "True"}


def test_a_job_runs_its_pods_to_completion(api, manager, clock):
    api.create(JOBS, "default", job("batch", completions=3, parallelism=2, run_seconds=10))
    manager.settle()
    assert len(pods(api)) == 2
    advance(clock, manager, START_DELAY)
    advance(clock, manager, 10)
    assert len(pods(api, phase="Succeeded")) == 2
    advance(clock, manager, START_DELAY)
    advance(clock, manager, 10)
    finished = api.get(JOBS, "default", "batch").obj
    assert finished["status"]["succeeded"] == 3 and "Complete" in conditions(finished)


def test_a_job_fails_after_its_backoff_limit(api, manager, clock):
    api.create(JOBS, "default", job("flaky", run_seconds=1, exit_code=1))
    manager.settle()
    for _ in range(3):
        advance(clock, manager, START_DELAY)
        advance(clock, manager, 1)
    failed = api.get(JOBS, "default", "flaky").obj
    assert failed["status"]["failed"] == 2 and "Failed" in conditions(failed)


def test_a_finished_job_with_a_ttl_is_deleted_with_its_pods(api, manager, clock):
    api.create(JOBS, "default", job("short", run_seconds=1, ttl=60))
    manager.settle()
    advance(clock, manager, START_DELAY)
    advance(clock, manager, 1)
    assert "Complete" in conditions(api.get(JOBS, "default", "short").obj)
    advance(clock, manager, 61)
    assert api.store.try_get(JOBS, "default", "short") is None and pods(api) == []


def test_pods_of_a_deleted_node_are_garbage_collected(api, manager, clock):
    api.create(DEPLOYMENTS, "default", deployment("web", 4))
    manager.settle()
    advance(clock, manager, START_DELAY)
    on_node_0 = {p["metadata"]["name"] for p in pods(api) if p["spec"]["nodeName"] == "node-0"}
    assert on_node_0
    manager.controllers = [c for c in manager.controllers if c.name != "static-capacity"]
    api.delete(NODES, "", "node-0")
    manager.settle()
    remaining = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods(api)}
    assert not on_node_0 & set(remaining) and len(remaining) == 4
    assert set(remaining.values()) == {"node-1"}


def test_budget_status_follows_pod_readiness(api, manager, clock):
    api.create(DEPLOYMENTS, "default", deployment("web", 3))
    api.create(
        PDBS,
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    manager.settle()
    assert api.get(PDBS, "default", "web").obj["status"]["disruptionsAllowed"] == 0
    advance(clock, manager, START_DELAY)
    status = api.get(PDBS, "default", "web").obj["status"]
    # 3 ready pods, minAvailable 50% of 3 rounds up to 2: one disruption allowed.
    assert (status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 2, 1)


def test_events_expire_after_an_hour(api, manager, clock):
    api.create(DEPLOYMENTS, "default", deployment("web", 1))
    manager.settle()
    assert api.store.count(EVENTS) > 0
    advance(clock, manager, 3601)
    advance(clock, manager, 60)
    assert api.store.count(EVENTS) == 0


def test_gpu_instance_types_advertise_their_gpus():
    resources = node_resources(load_catalog().instance_type("g5.xlarge"))
    assert resources.allocatable["nvidia.com/gpu"] == "1"
    assert resources.capacity["cpu"] == "4"


def _revision(uid: str, rv: int) -> StoredObject:
    return StoredObject({"metadata": {"uid": uid, "name": uid}}, rv)


def test_a_controller_syncs_an_object_again_only_when_it_or_its_children_changed(clock) -> None:
    synced = SyncedInputs(ObjectStore(clock), DEPLOYMENTS, REPLICASETS)
    web, pod = _revision("web", 5), _revision("pod", 7)
    assert not synced.unchanged(web, [pod])  # never synced
    synced.done()
    assert synced.unchanged(web, [pod])
    synced.done()
    assert not synced.unchanged(web, [_revision("pod", 8)])  # a child moved (its status, say)
    assert not synced.unchanged(_revision("web", 6), [_revision("pod", 8)])  # the object itself moved
    synced.done()
    assert synced.unchanged(_revision("web", 6), [_revision("pod", 8)])
    assert not synced.unchanged(
        _revision("web", 6), [_revision("pod", 8), _revision("new", 9)]
    )  # a new child
    synced.forget(_revision("web", 6))  # its sync failed half-way: try again, whatever the inputs
    synced.done()
    assert not synced.unchanged(_revision("web", 6), [_revision("pod", 8), _revision("new", 9)])


def test_a_pass_looks_only_at_the_owners_that_were_written_or_whose_children_were(
    api, manager, monkeypatch
) -> None:
    """As kube-controller-manager's work queues: 20 settled Deployments, one scaled, and the
    controllers read the children of, and sync, only that Deployment and its ReplicaSet (walking
    every owner each pass made a member's controllers cost the number of its objects per write)."""
    for number in range(20):
        api.create(DEPLOYMENTS, "default", deployment(f"web-{number}", 1))
    manager.settle()
    synced: dict[str, list[str]] = {"replicaset-controller": [], "deployment-controller": []}
    for controller in manager.controllers:
        if controller.name in synced:
            original = controller._sync
            controller._sync = _counted(original, synced[controller.name])
    children_read: list[str] = []
    by_index = api.store.by_index

    def counted_by_index(resource: Any, index: str, value: str) -> Any:
        if index == OWNER_INDEX and resource.key in (REPLICASETS.key, PODS.key):
            children_read.append(value)
        return by_index(resource, index, value)

    monkeypatch.setattr(api.store, "by_index", counted_by_index)
    api.update(DEPLOYMENTS, "default", "web-7", lambda d: d["spec"].update(replicas=3))
    manager.settle()
    web_7 = api.get(DEPLOYMENTS, "default", "web-7").obj["metadata"]["uid"]
    replicaset = next(
        s.obj for s in api.store.list(REPLICASETS).items if s.obj["metadata"]["name"].startswith("web-7-")
    )
    assert set(children_read) == {web_7, replicaset["metadata"]["uid"]}
    assert synced["deployment-controller"] and set(synced["deployment-controller"]) == {"web-7"}
    assert synced["replicaset-controller"]
    assert {name.rsplit("-", 1)[0] for name in synced["replicaset-controller"]} == {"web-7"}
    assert len([p for p in pods(api) if p["metadata"]["name"].startswith("web-7-")]) == 3


def test_an_owner_deleted_and_made_again_under_its_name_is_synced_afresh(api, manager, clock) -> None:
    api.create(DEPLOYMENTS, "default", deployment("web", 2))
    manager.settle()
    api.delete(DEPLOYMENTS, "default", "web", DeleteOptions(grace_period_seconds=0))
    manager.settle()
    api.create(DEPLOYMENTS, "default", deployment("web", 1))
    manager.settle()
    advance(clock, manager, START_DELAY)
    assert api.get(DEPLOYMENTS, "default", "web").obj["status"]["readyReplicas"] == 1


def _counted(sync: Any, names: list[str]) -> Any:
    def counted(owner: dict[str, Any], children: list[dict[str, Any]]) -> None:
        names.append(owner["metadata"]["name"])
        sync(owner, children)

    return counted


def test_a_settled_replicaset_still_replaces_a_pod_deleted_under_it(api, manager, clock) -> None:
    api.create(DEPLOYMENTS, "default", deployment("web", 2))
    manager.settle()
    advance(clock, manager, START_DELAY)
    first = sorted(p["metadata"]["name"] for p in pods(api, phase="Running"))
    assert len(first) == 2
    api.delete(PODS, "default", first[0], DeleteOptions(grace_period_seconds=0))
    manager.settle()
    advance(clock, manager, START_DELAY)
    now = sorted(p["metadata"]["name"] for p in pods(api, phase="Running"))
    assert len(now) == 2 and first[0] not in now
    status = api.get(DEPLOYMENTS, "default", "web").obj["status"]
    assert status["readyReplicas"] == 2


def _events(api: ClusterApi, kind: str) -> list[tuple[str, str, str]]:
    found = [s.obj for s in api.store.list(EVENTS).items if s.obj["involvedObject"]["kind"] == kind]
    ordered = sorted(found, key=lambda e: (e["firstTimestamp"], e["metadata"]["creationTimestamp"]))
    return [(e["type"], e["reason"], e["message"]) for e in ordered]


def test_the_workload_controllers_record_what_they_do_as_events(api, manager, clock) -> None:
    api.create(DEPLOYMENTS, "default", deployment("web", 2))
    manager.settle()
    advance(clock, manager, START_DELAY)
    first = api.store.list(REPLICASETS).items[0].obj["metadata"]["name"]
    api.update(DEPLOYMENTS, "default", "web", lambda d: d["spec"].update(replicas=1))
    manager.settle()
    assert _events(api, "Deployment") == [
        ("Normal", "ScalingReplicaSet", f"Scaled up replica set {first} from 0 to 2"),
        ("Normal", "ScalingReplicaSet", f"Scaled down replica set {first} from 2 to 1"),
    ]
    created = [m for _, reason, m in _events(api, "ReplicaSet") if reason == "SuccessfulCreate"]
    deleted = [m for _, reason, m in _events(api, "ReplicaSet") if reason == "SuccessfulDelete"]
    assert len(created) == 2 and all(m.startswith(f"Created pod: {first}-") for m in created)
    assert len(deleted) == 1 and deleted[0].startswith(f"Deleted pod: {first}-")
