"""StatefulSet, DaemonSet and CronJob controllers, run synchronously on a manual clock, as
kube-controller-manager runs them (ordinals, one daemon pod per node, schedules in UTC)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.api import ClusterApi
from simulator.catalog import load_catalog
from simulator.clock import ManualClock
from simulator.controllers.base import ControllerManager
from simulator.controllers.cronjobs import CronJobController
from simulator.controllers.jobs import JobController
from simulator.controllers.kubelet import Kubelet
from simulator.controllers.scheduler import Scheduler
from simulator.controllers.sets import DaemonSetController, StatefulSetController
from simulator.controllers.static_nodes import StaticCapacity, StaticNodePool
from simulator.errors import ApiError
from simulator.resources import CRONJOBS, DAEMONSETS, JOBS, NODES, PODS, STATEFULSETS
from simulator.schedule import CronError, parse_schedule
from simulator.store import ObjectStore

START_DELAY = 2.0


@pytest.fixture
def clock():
    return ManualClock(start=datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC).timestamp())


@pytest.fixture
def api(clock):
    return ClusterApi(ObjectStore(clock), clock)


@pytest.fixture
def manager(api, clock):
    controllers: list[Any] = [
        StaticCapacity(api, load_catalog(), (StaticNodePool("node", 3, "m5.xlarge"),)),
        Scheduler(api),
        Kubelet(api, start_delay=START_DELAY, default_job_seconds=5),
        JobController(api),
        StatefulSetController(api),
        DaemonSetController(api),
        CronJobController(api),
    ]
    return ControllerManager(api.store, clock, controllers)


def advance(clock, manager, seconds):
    clock.advance(seconds)
    manager.settle()


def pod_template(labels, restart="Always"):
    return {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "app", "image": "nginx:1", "resources": {"requests": {"cpu": "100m"}}}],
        },
    }


def statefulset(name, replicas, image="nginx:1"):
    template = pod_template({"app": name})
    template["spec"]["containers"][0]["image"] = image
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }


def pod_names(api):
    """Pods not terminating (a deleted pod stays for its grace period)."""
    return sorted(
        s.obj["metadata"]["name"]
        for s in api.store.list(PODS).items
        if not s.obj["metadata"].get("deletionTimestamp")
    )


def test_a_statefulset_creates_its_ordinals_one_by_one_once_each_is_ready(api, manager, clock):
    api.create(STATEFULSETS, "default", statefulset("db", 3))
    manager.settle()
    assert pod_names(api) == ["db-0"]  # OrderedReady: db-1 waits for db-0 to be Running and Ready
    advance(clock, manager, START_DELAY)
    assert pod_names(api) == ["db-0", "db-1"]
    advance(clock, manager, START_DELAY)
    advance(clock, manager, START_DELAY)
    status = api.get(STATEFULSETS, "default", "db").obj["status"]
    assert pod_names(api) == ["db-0", "db-1", "db-2"]
    assert status["readyReplicas"] == 3 and status["currentRevision"] == status["updateRevision"]
    assert status["currentRevision"].startswith("db-")


def test_a_statefulset_rolls_a_new_template_out_from_the_highest_ordinal(api, manager, clock):
    api.create(STATEFULSETS, "default", statefulset("db", 2))
    manager.settle()
    for _ in range(3):
        advance(clock, manager, START_DELAY)
    first = api.get(STATEFULSETS, "default", "db").obj["status"]["currentRevision"]
    api.update(
        STATEFULSETS, "default", "db", lambda o: o.update(spec=statefulset("db", 2, "nginx:2")["spec"])
    )
    manager.settle()
    status = api.get(STATEFULSETS, "default", "db").obj["status"]
    assert status["currentRevision"] == first != status["updateRevision"]
    assert pod_names(api) == ["db-0"]  # db-1 went first
    for _ in range(6):
        advance(clock, manager, START_DELAY + 30)
    status = api.get(STATEFULSETS, "default", "db").obj["status"]
    assert status["currentRevision"] == status["updateRevision"] and status["updatedReplicas"] == 2


def test_a_statefulset_scales_down_from_the_highest_ordinal(api, manager, clock):
    api.create(STATEFULSETS, "default", statefulset("db", 3))
    manager.settle()
    for _ in range(3):
        advance(clock, manager, START_DELAY)
    api.update(STATEFULSETS, "default", "db", lambda o: o["spec"].update(replicas=1))
    for _ in range(3):
        advance(clock, manager, 31)
    assert pod_names(api) == ["db-0"]


def test_a_statefulset_makes_a_deleted_ordinal_again_under_its_name(api, manager, clock):
    """Its pod's deletion, once the kubelet finished it, is what queues the StatefulSet again."""
    api.create(STATEFULSETS, "default", statefulset("db", 2))
    api.create(STATEFULSETS, "default", statefulset("cache", 1))
    manager.settle()
    for _ in range(3):
        advance(clock, manager, START_DELAY)
    assert pod_names(api) == ["cache-0", "db-0", "db-1"]
    first_uid = api.get(PODS, "default", "db-1").obj["metadata"]["uid"]
    api.delete(PODS, "default", "db-1")
    for _ in range(3):
        advance(clock, manager, START_DELAY + 30)
    again = api.get(PODS, "default", "db-1").obj
    assert again["metadata"]["uid"] != first_uid and again["status"]["phase"] == "Running"
    assert api.get(STATEFULSETS, "default", "db").obj["status"]["readyReplicas"] == 2


def test_a_daemonset_runs_one_pod_on_every_node_it_tolerates(api, manager, clock):
    manager.settle()
    api.update(
        NODES,
        "",
        "node-2",
        lambda n: n["spec"].update(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    )
    api.create(
        DAEMONSETS,
        "default",
        {
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": pod_template({"app": "agent"}),
            },
        },
    )
    manager.settle()
    advance(clock, manager, START_DELAY)
    placed = sorted(s.obj["spec"].get("nodeName") for s in api.store.list(PODS).items)
    assert placed == ["node-0", "node-1"]
    status = api.get(DAEMONSETS, "default", "agent").obj["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"], status["updatedNumberScheduled"]) == (
        2,
        2,
        2,
    )


def test_a_cronjob_creates_a_job_each_time_its_schedule_fires(api, manager, clock):
    template = {"spec": {"template": pod_template({"app": "report"}, restart="Never")}}
    api.create(
        CRONJOBS,
        "default",
        {"metadata": {"name": "report"}, "spec": {"schedule": "*/2 * * * *", "jobTemplate": template}},
    )
    manager.settle()
    assert api.store.list(JOBS).items == []  # 10:00:30: the next firing is 10:02
    advance(clock, manager, 90)
    jobs = [s.obj for s in api.store.list(JOBS).items]
    assert [j["metadata"]["ownerReferences"][0]["kind"] for j in jobs] == ["CronJob"]
    status = api.get(CRONJOBS, "default", "report").obj["status"]
    assert status["lastScheduleTime"] == "2026-01-05T10:02:00Z"
    assert [ref["name"] for ref in status["active"]] == [jobs[0]["metadata"]["name"]]
    for _ in range(4):
        advance(clock, manager, 5)
    status = api.get(CRONJOBS, "default", "report").obj["status"]
    assert "active" not in status and status["lastSuccessfulTime"]


def test_a_cronjob_with_a_bad_schedule_or_restart_policy_is_refused():
    with pytest.raises(CronError):
        parse_schedule("61 * * * *")
    assert parse_schedule("@hourly").matches(datetime(2026, 1, 1, 3, 0, tzinfo=UTC))
    api = ClusterApi(ObjectStore(ManualClock()), ManualClock())
    for spec, field in (
        (
            {"schedule": "every day", "jobTemplate": {"spec": {"template": pod_template({}, "Never")}}},
            "spec.schedule",
        ),
        (
            {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": pod_template({})}}},
            "spec.jobTemplate.spec.template.spec.restartPolicy",
        ),
    ):
        with pytest.raises(ApiError) as refused:
            api.create(CRONJOBS, "default", {"metadata": {"name": "bad"}, "spec": spec})
        assert refused.value.code == 422 and field in str(refused.value.details)
