"""The simulated horizontal pod autoscaler: counts from the pods' measured use against the target,
within a tolerance, bounded by min/max, scale-downs held for the stabilization window, and the
status and conditions kube-controller-manager writes (Argo CD's health check reads them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.api import ClusterApi
from simulator.catalog import load_catalog
from simulator.clock import ManualClock
from simulator.controllers.autoscalers import DOWNSCALE_WINDOW_SECONDS, HorizontalPodAutoscalerController
from simulator.controllers.base import ControllerManager
from simulator.controllers.kubelet import Kubelet
from simulator.controllers.scheduler import Scheduler
from simulator.controllers.static_nodes import StaticCapacity, StaticNodePool
from simulator.controllers.workloads import DeploymentController, ReplicaSetController
from simulator.metrics import USAGE_ANNOTATION
from simulator.resources import DEPLOYMENTS, EVENTS, HPAS
from simulator.store import ObjectStore


@pytest.fixture
def world() -> tuple[ClusterApi, ManualClock, ControllerManager]:
    clock = ManualClock()
    api = ClusterApi(ObjectStore(clock), clock)
    controllers: list[Any] = [
        StaticCapacity(api, load_catalog(), (StaticNodePool("node", 4, "m5.xlarge"),)),
        Scheduler(api),
        Kubelet(api, start_delay=1.0, default_job_seconds=30),
        ReplicaSetController(api),
        DeploymentController(api),
        HorizontalPodAutoscalerController(api),
    ]
    return api, clock, ControllerManager(api.store, clock, controllers)


def _web(replicas: int, cpu_used: str) -> dict[str, Any]:
    usage = json.dumps({"app": {"cpu": cpu_used, "memory": "64Mi"}})
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {USAGE_ANNOTATION: usage}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx",
                            "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }


def _hpa(minimum: int = 1, maximum: int = 10, utilization: int = 50) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": utilization},
                    },
                }
            ],
        },
    }


def _use(api: ClusterApi, cpu: str) -> None:
    """The pods (a new template: new pods) use ``cpu`` each from now on."""
    usage = json.dumps({"app": {"cpu": cpu, "memory": "64Mi"}})
    api.update(
        DEPLOYMENTS,
        "default",
        "web",
        lambda d: d["spec"]["template"]["metadata"]["annotations"].update({USAGE_ANNOTATION: usage}),
    )


def _run(clock: ManualClock, manager: ControllerManager, seconds: float) -> None:
    for _ in range(int(seconds / 5)):
        clock.advance(5)
        manager.settle()


def _status(api: ClusterApi) -> dict[str, Any]:
    return dict(api.get(HPAS, "default", "web").obj.get("status") or {})


def _conditions(api: ClusterApi) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in _status(api).get("conditions") or []}


def _replicas(api: ClusterApi) -> int:
    return int(api.get(DEPLOYMENTS, "default", "web").obj["spec"]["replicas"])


def test_busy_pods_scale_up_by_the_formula_and_the_status_says_so(world) -> None:
    api, clock, manager = world
    api.create(DEPLOYMENTS, "default", _web(2, "450m"))  # 90 % of the request; the target is 50 %
    _run(clock, manager, 10)
    api.create(HPAS, "default", _hpa())
    _run(clock, manager, 5)
    assert _replicas(api) == 4  # ceil(2 x 90 / 50)
    status = _status(api)
    assert (status["currentReplicas"], status["desiredReplicas"]) == (2, 4)
    assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 90
    assert _conditions(api) == {
        "AbleToScale": ("True", "SucceededRescale"),
        "ScalingActive": ("True", "ValidMetricFound"),
        "ScalingLimited": ("False", "DesiredWithinRange"),
    }


def test_within_tolerance_nothing_moves_and_bounds_limit(world) -> None:
    api, clock, manager = world
    api.create(DEPLOYMENTS, "default", _web(2, "270m"))  # 54 %: within 10 % of 50 %
    _run(clock, manager, 10)
    api.create(HPAS, "default", _hpa(maximum=3))
    _run(clock, manager, 20)
    assert _replicas(api) == 2 and _conditions(api)["AbleToScale"] == ("True", "ReadyForNewScale")
    _use(api, "500m")
    _run(clock, manager, 40)
    assert _replicas(api) == 3  # wanted 4: held at the maximum
    assert _conditions(api)["ScalingLimited"] == ("True", "TooManyReplicas")


def test_a_scale_down_waits_out_the_stabilization_window(world) -> None:
    api, clock, manager = world
    api.create(DEPLOYMENTS, "default", _web(4, "450m"))
    _run(clock, manager, 10)
    api.create(HPAS, "default", _hpa(maximum=4))
    _run(clock, manager, 20)
    _use(api, "50m")
    _run(clock, manager, 60)
    assert _replicas(api) == 4  # the busy recommendations of the last five minutes hold it
    _run(clock, manager, DOWNSCALE_WINDOW_SECONDS)
    assert _replicas(api) == 1


def test_a_missing_target_or_request_is_a_condition_not_a_scale(world) -> None:
    api, clock, manager = world
    api.create(HPAS, "default", _hpa())
    _run(clock, manager, 15)
    assert _conditions(api) == {"AbleToScale": ("False", "FailedGetScale")}
    web = _web(2, "450m")
    del web["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    api.create(DEPLOYMENTS, "default", web)
    _run(clock, manager, 20)
    assert _conditions(api)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    assert "missing request for cpu" in next(
        c["message"] for c in _status(api)["conditions"] if c["type"] == "ScalingActive"
    )
    assert _replicas(api) == 2


def _events(api: ClusterApi) -> list[tuple[str, str, str]]:
    found = [
        s.obj
        for s in api.store.list(EVENTS).items
        if s.obj["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
    ]
    return [(e["type"], e["reason"], e["message"]) for e in sorted(found, key=lambda e: e["firstTimestamp"])]


def test_what_the_autoscaler_does_and_cannot_do_is_an_event_of_the_hpa(world) -> None:
    api, clock, manager = world
    api.create(HPAS, "default", _hpa())
    _run(clock, manager, 5)
    assert _events(api)[0][:2] == ("Warning", "FailedGetScale")
    api.create(DEPLOYMENTS, "default", _web(2, "450m"))
    _run(clock, manager, 20)
    rescaled = [e for e in _events(api) if e[1] == "SuccessfulRescale"]
    assert rescaled == [
        (
            "Normal",
            "SuccessfulRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above target",
        )
    ]
    _use(api, "50m")
    _run(clock, manager, DOWNSCALE_WINDOW_SECONDS + 30)
    assert ("Normal", "SuccessfulRescale", "New size: 1; reason: All metrics below target") in _events(api)
