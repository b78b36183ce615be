"""Property-based, for volumes: whatever claims random workloads mount - bound to zonal volumes,
waiting for their first consumer in a class limited to some zones, several per pod - and whatever a
new node can attach (each instance type its own count, or the common one), every pod the planner places is accepted on its planned node by the
simulator's volume filters (VolumeBinding, VolumeZone, NodeVolumeLimits: the oracle), and a pod it
does not place is reported with a volume rule."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.kube import labels as wk
from tests.engines.planner.planner_builders import TINY_TYPES, ZONES
from tests.engines.planner.scheduling_oracle import Storage, pod_json, run

EBS = "ebs.csi.aws.com"


def _class(name: str, zones: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "provisioner": EBS,
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    if zones:
        body["allowedTopologies"] = [{"matchLabelExpressions": [{"key": wk.ZONE, "values": zones}]}]
    return body


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[dict[str, Any]], Storage]:
    classes = [_class(f"c{i}", sorted(draw(st.sets(st.sampled_from(ZONES), max_size=2)))) for i in range(2)]
    claims: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    pods = []
    for index in range(draw(st.integers(1, 10))):
        names = []
        for number in range(draw(st.integers(0, 3))):
            name = f"d-{index}-{number}"
            spec: dict[str, Any] = {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": draw(st.sampled_from(["c0", "c1"])),
                "resources": {"requests": {"storage": "1Gi"}},
            }
            if draw(st.booleans()):  # bound to a volume in one zone
                zone = draw(st.sampled_from(ZONES))
                spec["volumeName"] = f"pv-{name}"
                term = {"matchExpressions": [{"key": wk.ZONE, "operator": "In", "values": [zone]}]}
                volumes.append(
                    {
                        "metadata": {"name": f"pv-{name}"},
                        "spec": {
                            "csi": {"driver": EBS, "volumeHandle": name},
                            "claimRef": {"namespace": "default", "name": name},
                            "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
                        },
                    }
                )
            claims.append({"metadata": {"name": name}, "spec": spec})
            names.append(name)
        pods.append(pod_json(f"p-{index}", cpu=draw(st.sampled_from(["250m", "1"])), claims=names))
    limit = draw(st.integers(1, 6))
    # Some instance types attach their own count, above or below the common one.
    type_limits = draw(
        st.dictionaries(st.sampled_from(list(TINY_TYPES)), st.integers(1, 12), max_size=len(TINY_TYPES))
    )
    return pods, Storage(
        claims=claims, volumes=volumes, classes=classes, new_node_limit=limit, type_limits=type_limits
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads())
def test_every_placed_pod_with_volumes_is_one_kube_scheduler_accepts(workload) -> None:
    pods, storage = workload
    outcome = run(pods, storage=storage)
    assert outcome.refused == {}
    placed = {p["metadata"]["name"] for p in outcome.bound}
    unplaced = outcome.unschedulable()
    assert placed | set(unplaced) == {p["metadata"]["name"] for p in pods}
    assert set(unplaced.values()) <= {"volume_zone", "volume_limit"}
