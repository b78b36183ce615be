"""Property-based: whatever mix of inter-pod rules and volume zones random workloads carry, every
pod the planner places is accepted on its planned node by the simulator's independent predicate
(kube-scheduler's filters, the oracle), binding in any order kube-scheduler could reach; a pod it
does not place is reported with a rule."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.kube import labels as wk
from tests.engines.planner.planner_builders import ZONES
from tests.engines.planner.scheduling_oracle import affinity, anti_affinity, node_json, pod_json, run, spread

RULES = (
    "none",
    "host-anti",
    "zone-anti",
    "zone-spread",
    "host-spread",
    "zone-affinity",
    "host-port",
    "volume",
)


@st.composite
def workloads(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], dict[str, frozenset[str]], list[dict[str, Any]]]:
    pods: list[dict[str, Any]] = []
    volumes: dict[str, frozenset[str]] = {}
    for group in range(draw(st.integers(1, 4))):
        rule = draw(st.sampled_from(RULES))
        labels = {"app": f"g{group}"}
        cpu = draw(st.sampled_from(["250m", "500m", "1", "3"]))
        skew = draw(st.integers(1, 2))
        for replica in range(draw(st.integers(1, 6))):
            name = f"g{group}-{replica}"
            options: dict[str, Any] = {"labels": labels, "cpu": cpu}
            if rule == "host-anti":
                options["affinity"] = anti_affinity(labels, wk.HOSTNAME)
            elif rule == "zone-anti":
                options["affinity"] = anti_affinity(labels, wk.ZONE)
            elif rule == "zone-anti-other":  # away from the first group's pods, rules or not
                options["affinity"] = anti_affinity({"app": "g0"}, wk.ZONE)
            elif rule == "zone-spread":
                options["spread"] = [spread(labels, wk.ZONE, skew)]
            elif rule == "host-spread":
                options["spread"] = [spread(labels, wk.HOSTNAME, skew)]
            elif rule == "zone-affinity":
                options["affinity"] = affinity(labels, wk.ZONE)
            elif rule == "host-port":
                options["host_ports"] = [9000 + group]
            elif rule == "volume":
                volumes[name] = frozenset(draw(st.sets(st.sampled_from(ZONES), min_size=1, max_size=2)))
            pods.append(pod_json(name, **options))
    running = []
    if draw(st.booleans()):
        zone = draw(st.sampled_from(ZONES))
        guard = pod_json("guard", labels={"app": "g0"}, affinity=anti_affinity({"app": "g1"}, wk.ZONE))
        guard["spec"]["nodeName"] = f"old-{zone}"
        running.append(guard)
    return pods, volumes, running


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads())
def test_every_placed_pod_is_one_kube_scheduler_accepts(workload) -> None:
    pods, volumes, running = workload
    nodes = [
        node_json(f"old-{p['spec']['nodeName'][4:]}", {wk.ZONE: p["spec"]["nodeName"][4:]}) for p in running
    ]
    outcome = run(pods, nodes=nodes, running=running, volume_zones=volumes)
    assert outcome.refused == {}
    placed = {p["metadata"]["name"] for p in outcome.bound} - {"guard"}
    unplaced = outcome.unschedulable()
    assert placed | set(unplaced) == {p["metadata"]["name"] for p in pods}
    assert set(unplaced.values()) <= {"pod_anti_affinity", "topology_spread", "pod_affinity", "volume_zone"}
