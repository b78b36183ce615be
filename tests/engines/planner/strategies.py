"""Hypothesis strategies for random pods, policies and existing nodes over the tiny catalog."""

from __future__ import annotations

from hypothesis import strategies as st

from engines.kube import labels as wk
from engines.planner import (
    CapacityType,
    ExistingNode,
    IsolationRules,
    Limits,
    NodeSelectorTerm,
    Operator,
    Packing,
    PlannerPolicy,
    PodRequest,
    Resources,
    Taint,
    Toleration,
    TolerationOperator,
)
from tests.engines.planner.planner_builders import ZONES, existing_node, requirement


@st.composite
def pods(draw: st.DrawFn, max_size: int = 14) -> list[PodRequest]:
    count = draw(st.integers(1, max_size))
    result = []
    for index in range(count):
        gpus = draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
        share = draw(st.sampled_from([0, 0, 300, 700])) if gpus == 1 else 0
        selector = {}
        if draw(st.booleans()):
            selector[wk.ARCH] = draw(st.sampled_from(["amd64", "arm64"]))
        terms: tuple[NodeSelectorTerm, ...] = ()
        if draw(st.booleans()):
            zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True))
            expressions = [requirement(wk.ZONE, Operator.IN, *zones)]
            if draw(st.booleans()):
                expressions.append(
                    requirement(wk.CAPACITY_TYPE, Operator.IN, draw(st.sampled_from(["spot", "on-demand"])))
                )
            if draw(st.booleans()):
                expressions.append(requirement(wk.INSTANCE_FAMILY, Operator.NOT_IN, "c5"))
            terms = (NodeSelectorTerm(tuple(expressions)),)
        result.append(
            PodRequest(
                uid=f"p{index}",
                name=f"p{index}",
                namespace=draw(st.sampled_from(["default", "default", "tenant-a"])),
                requests=Resources(
                    cpu_millis=draw(st.sampled_from([0, 50, 100, 250, 500, 1000, 1500, 3000, 7000])),
                    memory_mib=draw(st.sampled_from([0, 64, 256, 512, 1024, 4096, 16384])),
                    gpus=0 if share else gpus,
                ),
                gpu_share_milli=share,
                gpu_models=draw(
                    st.sampled_from([frozenset(), frozenset({"T4"}), frozenset({"V100", "A10G"})])
                ),
                node_selector=selector,
                required_node_affinity=terms,
                tolerations=(Toleration("dedicated", TolerationOperator.EXISTS),)
                if draw(st.booleans())
                else (),
                isolate=draw(st.booleans()) and draw(st.booleans()),
                priority=draw(st.integers(0, 2)),
            )
        )
    return result


@st.composite
def policies(draw: st.DrawFn, limits: bool = True) -> PlannerPolicy:
    capacity = draw(st.sets(st.sampled_from(list(CapacityType)), min_size=1))
    return PlannerPolicy(
        capacity_types=frozenset(capacity),
        packing=draw(st.sampled_from([Packing.PACK, Packing.PACK, Packing.ISOLATE])),
        isolation=IsolationRules(
            namespaces=frozenset({"tenant-a"}) if draw(st.booleans()) else frozenset(),
            cpu_threshold_millis=draw(st.sampled_from([None, 3000])),
            gpu_pods=draw(st.booleans()),
        ),
        max_pods_per_node=draw(st.sampled_from([None, 3, 8])),
        spot_max_interruption_bucket=draw(st.sampled_from([None, 0, 2])),
        gpu_sharing=draw(st.booleans()),
        node_taints=(Taint("dedicated", "x"),) if draw(st.booleans()) else (),
        limits=Limits(max_nodes=draw(st.sampled_from([None, 2, 5]))) if limits else Limits(),
    )


@st.composite
def existing(draw: st.DrawFn) -> tuple[ExistingNode, ...]:
    nodes = []
    for index in range(draw(st.integers(0, 3))):
        nodes.append(
            existing_node(
                f"node-{index}",
                Resources(
                    cpu_millis=draw(st.sampled_from([0, 500, 2000, 6000])),
                    memory_mib=draw(st.sampled_from([0, 1024, 8192])),
                    gpus=draw(st.sampled_from([0, 0, 1])),
                    pods=draw(st.sampled_from([0, 2, 10])),
                ),
                labels={
                    wk.ARCH: draw(st.sampled_from(["amd64", "arm64"])),
                    wk.ZONE: draw(st.sampled_from(ZONES)),
                },
                taints=(Taint("dedicated", "x"),) if draw(st.booleans()) else (),
                reserved_for_pod=draw(st.sampled_from([None, None, "p0"])),
            )
        )
    return tuple(nodes)
