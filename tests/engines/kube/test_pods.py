"""A pod's effective requests follow kube-scheduler's rule, and the Pod view reads what the loops need."""

from __future__ import annotations

import pytest

from engines.kube.pods import AMD_GPU, NVIDIA_GPU, Pod, pod_requests
from engines.kube.quantity import QuantityError
from engines.kube.resources import Resources


def _container(cpu: str = "0", memory: str = "0", **extra: object) -> dict[str, object]:
    return {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}, **extra}


def test_app_containers_add_up_and_take_one_pod_slot() -> None:
    spec = {"containers": [_container("500m", "256Mi"), _container("1", "1Gi")]}
    assert pod_requests(spec) == Resources(1500, 1280, 0, 0, 1)


def test_a_regular_init_container_needs_room_only_while_it_runs() -> None:
    spec = {"containers": [_container("1", "1Gi")], "initContainers": [_container("3", "512Mi")]}
    assert pod_requests(spec) == Resources(3000, 1024, 0, 0, 1)


def test_sidecars_run_beside_the_app_and_beside_later_init_containers() -> None:
    spec = {
        "containers": [_container("1", "1Gi")],
        "initContainers": [
            _container("500m", "128Mi", restartPolicy="Always"),  # a sidecar
            _container("2", "64Mi"),  # runs beside the sidecar: 2.5 cores at init
        ],
    }
    assert pod_requests(spec) == Resources(2500, 1152, 0, 0, 1)


def test_pod_overhead_is_added() -> None:
    spec = {"containers": [_container("1", "1Gi")], "overhead": {"cpu": "250m", "memory": "120Mi"}}
    assert pod_requests(spec) == Resources(1250, 1144, 0, 0, 1)


def test_a_missing_request_defaults_to_its_limit_and_gpus_of_any_vendor_count() -> None:
    spec = {
        "containers": [
            {"name": "a", "resources": {"limits": {"cpu": "2", NVIDIA_GPU: 1}}},
            {"name": "b", "resources": {"requests": {AMD_GPU: "2"}}},
        ]
    }
    pod = Pod({"metadata": {"name": "p"}, "spec": spec})
    assert pod.requests == Resources(2000, 0, 3, 0, 1)
    assert pod.gpu_vendors == {NVIDIA_GPU, AMD_GPU}


def test_a_malformed_quantity_raises() -> None:
    with pytest.raises(QuantityError):
        pod_requests({"containers": [_container("lots")]})


def test_the_view_reads_ownership_lifecycle_and_scheduling() -> None:
    pod = Pod(
        {
            "metadata": {
                "name": "web-1",
                "uid": "u1",
                "ownerReferences": [{"kind": "ReplicaSet", "uid": "rs", "controller": True}],
            },
            "spec": {"schedulerName": "volcano", "tolerations": [{"operator": "Exists"}]},
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
            },
        }
    )
    assert pod.key == "default/web-1" and pod.controller_uid == "rs" and not pod.is_daemonset
    assert pod.scheduler_name == "volcano" and pod.is_pending and pod.is_unschedulable
    assert pod.tolerations[0].operator.value == "Exists"


def test_numbers_are_quantities_as_yaml_writes_them_and_garbage_is_refused() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": 0.5, "memory": 1024, NVIDIA_GPU: 1}}}]}
    assert pod_requests(spec) == Resources(500, 1, 1, 0, 1)
    with pytest.raises(QuantityError):
        pod_requests({"containers": [{"resources": {"requests": {"cpu": ["2"]}}}]})
