"""The launch decision, on inputs built by hand: which pods are planned, and onto what."""

from __future__ import annotations

from tests.workers.provisioning.provisioning_builders import inputs, node_json, planned, pod_json, record
from workers.provisioning.launch import existing_nodes, plan_launches, pods_to_plan
from workers.provisioning.records import Lifecycle


def _plan(decided_inputs):
    return plan_launches(decided_inputs, pods_to_plan(decided_inputs, frozenset()))


def test_pending_pods_get_a_new_node_that_keeps_them_as_its_planned_pods(aws_catalog) -> None:
    pods = [pod_json("web-1", cpu="1", memory="1Gi"), pod_json("web-2", cpu="1", memory="1Gi")]
    decided = _plan(inputs(pods=pods, catalog=aws_catalog))
    assert not decided.binds and not decided.joins and not decided.pending
    assert sum(len(launch.planned) for launch in decided.launches) == 2
    keys = {p.key for launch in decided.launches for p in launch.planned}
    assert keys == {"default/web-1", "default/web-2"}
    (first, *_) = decided.launches[0].planned
    assert first.requests.cpu_millis == 1000 and first.requests.pods == 1


def test_pods_the_default_scheduler_can_still_place_are_left_to_it() -> None:
    waiting = pod_json("fresh", unschedulable=False)
    refused = pod_json("refused")
    state = inputs(pods=[waiting, refused], nodes=[node_json("theirs")])
    assert [pod.name for pod in pods_to_plan(state, frozenset())] == ["refused"]


def test_daemonset_pods_planned_pods_and_pods_being_bound_are_not_planned_again() -> None:
    daemon = pod_json("agent", daemonset="ds-1")
    kept = pod_json("kept")
    binding = pod_json("binding")
    fresh = pod_json("fresh")
    flying = record("r1", Lifecycle.PENDING, node_name="", planned_pods=(planned(kept),))
    state = inputs(pods=[daemon, kept, binding, fresh], records=(flying,))
    chosen = pods_to_plan(state, frozenset({binding["metadata"]["uid"]}))
    assert [pod.name for pod in chosen] == ["fresh"]


def test_a_new_pod_of_a_controller_whose_planned_pod_is_gone_waits_for_that_slot() -> None:
    """One slot, one pod: the evicted pod's successor waits for the slot, a second new pod of the
    same controller is planned, and a slot whose pod still runs (drain not done) takes nobody."""
    gone = pod_json("web-old", owner="rs-1")
    running = pod_json("api-old", owner="rs-2", node="draining-node")
    flying = record("r1", Lifecycle.PENDING, node_name="", planned_pods=(planned(gone), planned(running)))
    successors = [pod_json(name, owner="rs-1") for name in ("web-a", "web-b")]
    other = pod_json("api-new", owner="rs-2")
    state = inputs(pods=[running, *successors, other], records=(flying,))
    assert [pod.name for pod in pods_to_plan(state, frozenset())] == ["web-b", "api-new"]


def test_a_slot_on_a_node_that_is_going_away_keeps_no_pod_waiting() -> None:
    gone = pod_json("web-old", owner="rs-1")
    draining = record("r1", Lifecycle.DRAINING, planned_pods=(planned(gone),))
    state = inputs(pods=[pod_json("web-new", owner="rs-1")], records=(draining,))
    assert [pod.name for pod in pods_to_plan(state, frozenset())] == ["web-new"]


def test_a_pod_that_fits_a_node_in_flight_joins_it_instead_of_launching_another(aws_catalog) -> None:
    flying = record("r1", Lifecycle.PENDING, instance_type="m5.xlarge", node_name="")
    pod = pod_json("small", cpu="250m", memory="256Mi")
    decided = _plan(inputs(pods=[pod], records=(flying,), catalog=aws_catalog))
    assert not decided.launches and not decided.binds
    ((join),) = decided.joins
    assert join.record_id == "r1" and [p.name for p in join.planned] == ["small"]


def test_a_pod_that_fits_a_ready_node_is_bound_to_it_now(aws_catalog) -> None:
    ready = record("r1", instance_type="m5.xlarge")
    node = node_json("node-r1", instance_id="i-r1", record_id="r1", cpu="3900m", memory="14Gi")
    pod = pod_json("small", cpu="250m", memory="256Mi")
    decided = _plan(inputs(pods=[pod], nodes=[node], records=(ready,), catalog=aws_catalog))
    assert not decided.launches and not decided.joins
    assert [(b.name, b.node_name) for b in decided.binds] == [("small", "node-r1")]


def test_pods_the_planner_cannot_take_stay_pending_without_a_decision(aws_catalog) -> None:
    unreadable = pod_json("broken", cpu="lots")
    amd = pod_json("amd", extra_requests={"amd.com/gpu": "1"})
    decided = _plan(inputs(pods=[unreadable, amd], catalog=aws_catalog))
    reasons = {p.pod_key: p for p in decided.pending}
    assert reasons["default/broken"].reason.startswith("cannot read its requests")
    assert "amd.com/gpu" in reasons["default/amd"].reason
    assert not any(p.remember for p in decided.pending)
    assert not decided.launches


def test_draining_replacing_and_unpriced_nodes_are_not_offered_to_the_planner(aws_catalog) -> None:
    records = (
        record("ready", instance_type="m5.large", replaced_by_id="replacing"),
        record("draining", Lifecycle.DRAINING),
        record("replacing", Lifecycle.PENDING, node_name=""),
        record("odd", Lifecycle.PENDING, capacity_type="", node_name=""),
        record("flying", Lifecycle.PENDING, node_name="", reserved_for_pod="default/solo"),
    )
    nodes = [node_json("node-ready", instance_id="i-ready", record_id="ready")]
    offered = {n.name: n for n in existing_nodes(inputs(nodes=nodes, records=records, catalog=aws_catalog))}
    assert set(offered) == {"node-ready", "managed:flying"}
    assert offered["managed:flying"].reserved_for_pod == "held:flying" and not offered["managed:flying"].ready


def test_a_new_node_reserves_room_only_for_the_daemonsets_that_would_run_on_it(aws_catalog) -> None:
    def plan_with(selector: dict[str, str]) -> str:
        agent = pod_json("agent", cpu="3", memory="1Gi", node="old", daemonset="ds-big")
        agent["spec"]["nodeSelector"] = selector
        agent["spec"]["tolerations"] = [{"operator": "Exists"}]
        node = node_json("old", cpu="16", memory="64Gi")
        waiting = pod_json("web", cpu="1", memory="1Gi")
        (launch,) = _plan(inputs(pods=[agent, waiting], nodes=[node], catalog=aws_catalog)).launches
        return launch.launch.chosen.instance_type

    small = plan_with({"kubernetes.io/os": "windows"})  # a Windows DaemonSet runs on no new node
    big = plan_with({"kubernetes.io/os": "linux"})  # this one runs on every new node: 3 CPUs reserved
    catalog = {t.name: t for t in aws_catalog.instance_types}
    assert catalog[big].vcpu >= 4 > catalog[small].vcpu
