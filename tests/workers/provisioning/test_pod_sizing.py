"""A pod's effective requests as the scheduler computes them, read from raw pod JSON (the kernel's rule,
which the pass sizes pods and nodes by)."""

from __future__ import annotations

from typing import Any

from engines.kube import Node, Pod, Resources
from engines.kube.cluster import ObservedNode


def _container(
    requests: dict[str, str] | None = None, limits: dict[str, str] | None = None
) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "image": "x", "resources": resources}


def _pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), **spec}}


def pod_requests(pod: dict[str, Any]) -> Resources:
    return Pod(pod).requests


def test_one_container_requests_and_a_pod_slot() -> None:
    assert pod_requests(_pod(_container({"cpu": "250m", "memory": "1Gi"}))) == Resources(250, 1024, 0, 0, 1)


def test_a_missing_request_defaults_to_the_limit() -> None:
    pod = _pod(_container({"cpu": "100m"}, limits={"cpu": "2", "memory": "300M"}))
    assert pod_requests(pod) == Resources(100, 287, 0, 0, 1)  # 300e6 bytes = 286.1 MiB, rounded up


def test_containers_add_up_and_the_largest_init_container_wins_where_bigger() -> None:
    pod = _pod(
        _container({"cpu": "500m", "memory": "256Mi"}),
        _container({"cpu": "250m", "memory": "256Mi"}),
        initContainers=[_container({"cpu": "2", "memory": "128Mi"})],
    )
    assert pod_requests(pod) == Resources(2000, 512, 0, 0, 1)


def test_the_pod_overhead_is_added() -> None:
    pod = _pod(_container({"cpu": "1"}), overhead={"cpu": "250m", "memory": "64Mi"})
    assert pod_requests(pod) == Resources(1250, 64, 0, 0, 1)


def test_the_same_requests_read_twice_give_the_same_answer() -> None:
    # The common case is cached by value; different pods with equal requests must agree.
    first = pod_requests(_pod(_container({"cpu": "300m", "memory": "64Mi"})))
    second = pod_requests(_pod(_container({"memory": "64Mi", "cpu": "300m"})))
    assert first == second == Resources(300, 64, 0, 0, 1)


def test_a_node_counts_only_its_unfinished_pods() -> None:
    running = _pod(_container({"cpu": "1", "memory": "1Gi"}))
    finished = {**_pod(_container({"cpu": "4", "memory": "4Gi"})), "status": {"phase": "Succeeded"}}
    allocatable = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    node = ObservedNode(Node({"metadata": {"name": "n"}, "status": {"allocatable": allocatable}}))
    node.pods.extend([Pod(running), Pod(finished)])
    assert node.node.allocatable == Resources(8000, 32768, 0, 0, 110)
    assert node.requested() == Resources(1000, 1024, 0, 0, 1)
