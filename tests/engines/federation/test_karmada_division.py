"""Karmada's own division tables, run through ``schedule``: the same inputs give the same replicas.

Every case is a row of a Karmada test table (karmada-io/karmada at f8fdd02), cited by file and
case name, with Karmada's expected output. Clusters are named member1..member4 as there, their
free room (Karmada's ``AllocatableReplicas``) is given in one-core replicas, and the workload id
plays the resource UID that seeds Karmada's tie order (``tieBreakerByUID``).

Deliberate differences, each tested last: Karmada places a static or duplicated copy without
looking at room and fails a dynamic/aggregated binding outright when the room is short; here no
cluster is given more than its room and what fits is placed, the shortfall reported.
"""

from __future__ import annotations

import pytest

from engines.federation import (
    ClusterSnapshot,
    Outcome,
    PlacementPolicy,
    SpreadSettings,
    Strategy,
    WeightMode,
    WeightRule,
    schedule,
)
from engines.federation.division import fnv32a, names_descending_for
from tests.engines.federation.federation_builders import by_name, ids, observe_cluster, workload

# binding_test.go: an UID whose FNV-32a is even (names ascend on ties) and one whose hash is odd.
EVEN_UID = "4858ca61-3ff8-4095-8267-f3d059d8074c"
ODD_UID = "d43fdeeb-d750-4e2b-bee3-64eb94534f4c"


def members(*rooms: int, names: tuple[str, ...] = ()) -> list[ClusterSnapshot]:
    """Clusters ``member1..`` (or ``names``) with room for exactly ``rooms[i]`` one-core replicas."""
    labels = names or tuple(f"member{number}" for number in range(1, len(rooms) + 1))
    return [
        observe_cluster(name, cores=room, memory_gib=10_000) for name, room in zip(labels, rooms, strict=True)
    ]


def spread(weights: WeightMode, *rules: WeightRule) -> PlacementPolicy:
    return PlacementPolicy(Strategy.SPREAD, spread=SpreadSettings(weights=weights, static_weights=rules))


def weight(value: int, *names: str) -> WeightRule:
    return WeightRule(value, cluster_names=frozenset(names))


def test_tie_order_is_karmadas_fnv32a_parity_of_the_uid() -> None:
    assert fnv32a(EVEN_UID.encode()) % 2 == 0 and fnv32a(ODD_UID.encode()) % 2 == 1
    assert names_descending_for(ODD_UID) and not names_descending_for(EVEN_UID)
    for number in range(200):
        uid = f"workload-{number}"
        assert names_descending_for(uid) == (fnv32a(uid.encode()) % 2 == 1)


@pytest.mark.parametrize(
    ("uid", "expected"),
    [
        # binding_test.go "brand new assign 5 replicas with odd uuid" / "... with even uuid":
        # 1:1 weights, the fifth replica is a tie that the UID decides.
        (ODD_UID, {"A": 2, "B": 3}),
        (EVEN_UID, {"A": 3, "B": 2}),
    ],
)
def test_ties_go_where_karmada_sends_them_for_the_same_uid(uid: str, expected: dict[str, int]) -> None:
    clusters = members(100, 100, names=("A", "B"))
    result = schedule(workload(5, workload_id=uid), spread(WeightMode.STATIC), clusters)
    assert by_name(dict(result.replicas)) == expected


STATIC_CASES = [
    # assignment_test.go Test_assignByStaticWeightStrategy
    (
        "replica 12, weight 3:2:1",
        12,
        [(3, "member1"), (2, "member2"), (1, "member3")],
        {"member1": 6, "member2": 4, "member3": 2},
    ),
    ("replica 12, default weight", 12, [], {"member1": 4, "member2": 4, "member3": 4}),
    (
        "replica 13, weight 3:2:1",
        13,
        [(3, "member1"), (2, "member2"), (1, "member3")],
        {"member1": 7, "member2": 4, "member3": 2},
    ),
    (
        "replica 14, weight 3:2:1",
        14,
        [(3, "member1"), (2, "member2"), (1, "member3")],
        {"member1": 7, "member2": 5, "member3": 2},
    ),
    ("insufficient replica assignment should get 0 replica", 0, [(1, "member1"), (1, "member2")], {}),
    ("selected cluster without weight should be ignored", 2, [(1, "member1")], {"member1": 2}),
    (
        "cluster with multiple weights",
        3,
        [(1, "member1"), (1, "member2"), (2, "member1")],
        {"member1": 2, "member2": 1},
    ),
    # scheduling docs / assignment.go comment: 9 at 1:2 -> 3:6, 9 at 1:3 -> 2:7
    ("docs 9 at 1:2", 9, [(1, "member1"), (2, "member2")], {"member1": 3, "member2": 6}),
    ("docs 9 at 1:3", 9, [(1, "member1"), (3, "member2")], {"member1": 2, "member2": 7}),
]


@pytest.mark.parametrize(
    ("case", "replicas", "rules", "expected"), STATIC_CASES, ids=[c[0] for c in STATIC_CASES]
)
def test_static_weights_match_karmada(
    case: str, replicas: int, rules: list[tuple[int, str]], expected: dict[str, int]
) -> None:
    clusters = members(100, 100, 100) if "default" in case or "3:2:1" in case else members(100, 100)
    policy = spread(WeightMode.STATIC, *(weight(value, name) for value, name in rules))
    result = schedule(workload(replicas), policy, clusters)
    assert by_name(dict(result.replicas)) == expected


DYNAMIC_CASES = [
    # division_algorithm_test.go Test_dynamicDivideReplicas (first placement, DynamicWeight)
    ("replica 12, dynamic weight 18:12:6", 12, (18, 12, 6), {}, {"member1": 6, "member2": 4, "member3": 2}),
    ("replica 12, dynamic weight 20:12:6", 12, (20, 12, 6), {}, {"member1": 6, "member2": 4, "member3": 2}),
    ("replica 12, dynamic weight 6:12:6", 12, (6, 12, 6), {}, {"member1": 3, "member2": 6, "member3": 3}),
    # assignment_test.go Test_assignByDynamicStrategy (steady scale-down and scale-up)
    (
        "replica 12 -> 6, dynamic weighted 1:1:1",
        6,
        (1, 1, 1),
        {"member1": 2, "member2": 4, "member3": 6},
        {"member1": 1, "member2": 2, "member3": 3},
    ),
    (
        "replica 12 -> 24, dynamic weighted 10:10:10",
        24,
        (10, 10, 10),
        {"member1": 2, "member2": 4, "member3": 6},
        {"member1": 6, "member2": 8, "member3": 10},
    ),
    # assignment_test.go Test_dynamicScaleUp
    ("replica 12, dynamic weight 6:8:10", 12, (6, 8, 10), {}, {"member1": 3, "member2": 4, "member3": 5}),
    ("replica 12, dynamic weight 8:8:10", 12, (8, 8, 10), {}, {"member1": 4, "member2": 4, "member3": 4}),
]


@pytest.mark.parametrize(
    ("case", "replicas", "rooms", "current", "expected"), DYNAMIC_CASES, ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic_weights_by_available_replicas_match_karmada(
    case: str, replicas: int, rooms: tuple[int, ...], current: dict[str, int], expected: dict[str, int]
) -> None:
    result = schedule(workload(replicas), spread(WeightMode.CAPACITY), members(*rooms), ids(**current))
    assert by_name(dict(result.replicas)) == expected


def test_dynamic_scale_up_re_places_replicas_of_a_cluster_that_left() -> None:
    # Test_dynamicScaleUp "replica 12, dynamic weight 3:3, with cluster3 disappeared and cluster2
    # appeared": member3's 6 are placed again, 3:3 over the candidates, on top of member1's 6.
    clusters = members(3, 3, names=("member1", "member2"))
    result = schedule(workload(12), spread(WeightMode.CAPACITY), clusters, ids(member1=6, member3=6))
    assert by_name(dict(result.replicas)) == {"member1": 9, "member2": 3}


AGGREGATED_CASES = [
    # division_algorithm_test.go Test_dynamicDivideReplicas
    ("replica 12, aggregated 12:6:6", 12, (6, 12, 6), {}, {"member2": 12}),
    ("replica 12, aggregated 6:6:6", 12, (6, 6, 6), {}, {"member1": 6, "member2": 6}),
    # assignment_test.go Test_dynamicScaleUp
    ("replica 12, aggregated 6:8:10", 12, (6, 8, 10), {}, {"member2": 5, "member3": 7}),
    ("replica 12, aggregated 12:8:10", 12, (12, 8, 10), {}, {"member1": 12}),
    # assignment_test.go Test_assignByDynamicStrategy
    ("replica 12 -> 6, aggregated 1:1:1", 6, (1, 1, 1), {"member1": 4, "member2": 8}, {"member2": 6}),
    ("replica 12 -> 8, aggregated 100:100", 8, (100, 100), {"member1": 4, "member2": 8}, {"member2": 8}),
    (
        "replica 12 -> 24, aggregated 4:6:8",
        24,
        (4, 6, 8),
        {"member1": 4, "member2": 8},
        {"member1": 7, "member2": 12, "member3": 5},
    ),
    (
        "replica 12 -> 24, aggregated 6:6:20",
        24,
        (6, 6, 20),
        {"member1": 4, "member2": 8},
        {"member1": 10, "member2": 14},
    ),
    # scheduling docs (karmada#6025): one cluster can hold everything, so it gets everything
    ("docs 12 over 6:12:18", 12, (6, 12, 18), {}, {"member3": 12}),
]


@pytest.mark.parametrize(
    ("case", "replicas", "rooms", "current", "expected"),
    AGGREGATED_CASES,
    ids=[c[0] for c in AGGREGATED_CASES],
)
def test_aggregated_matches_karmada(
    case: str, replicas: int, rooms: tuple[int, ...], current: dict[str, int], expected: dict[str, int]
) -> None:
    result = schedule(workload(replicas), spread(WeightMode.AGGREGATED), members(*rooms), ids(**current))
    assert by_name(dict(result.replicas)) == expected
    assert result.outcome is Outcome.PLACED


def test_aggregated_re_places_replicas_of_a_cluster_that_left_on_the_fewest_clusters() -> None:
    # Test_assignByDynamicStrategy "replica 12 -> 24, aggregated 4:8:12, with cluster2 disappeared
    # and cluster4 appeared".
    clusters = members(4, 8, 12, names=("member1", "member3", "member4"))
    result = schedule(workload(24), spread(WeightMode.AGGREGATED), clusters, ids(member1=4, member2=8))
    assert by_name(dict(result.replicas)) == {"member1": 7, "member3": 7, "member4": 10}


def test_duplicated_gives_every_cluster_the_full_count() -> None:
    # assignment_test.go Test_assignByDuplicatedStrategy: every candidate gets spec.replicas.
    result = schedule(workload(3), PlacementPolicy(Strategy.DUPLICATE), members(10, 10, 10))
    assert by_name(dict(result.replicas)) == {"member1": 3, "member2": 3, "member3": 3}


# --- where we differ on purpose ------------------------------------------------------------


def test_short_room_places_what_fits_where_karmada_fails_the_binding() -> None:
    # Test_assignByDynamicStrategy "replica 12 -> 24, dynamic weighted 1:1:1" and Test_dynamicScaleUp
    # "aggregated 3:3:3" expect an error ("Clusters available replicas 9 are not enough").
    for mode in (WeightMode.CAPACITY, WeightMode.AGGREGATED):
        result = schedule(workload(12), spread(mode), members(3, 3, 3))
        assert by_name(dict(result.replicas)) == {"member1": 3, "member2": 3, "member3": 3}
        assert result.outcome is Outcome.PARTIAL and result.unplaced == 3


def test_static_weights_never_exceed_a_clusters_room() -> None:
    # Karmada gives 6:4:2 regardless of room; member1 can run only 2 here, the rest goes by weight.
    policy = spread(WeightMode.STATIC, weight(3, "member1"), weight(2, "member2"), weight(1, "member3"))
    result = schedule(workload(12), policy, members(2, 100, 100))
    assert by_name(dict(result.replicas)) == {"member1": 2, "member2": 7, "member3": 3}


def test_duplicated_skips_a_cluster_without_room_for_a_full_copy() -> None:
    result = schedule(workload(3), PlacementPolicy(Strategy.DUPLICATE), members(10, 2, 10))
    assert by_name(dict(result.replicas)) == {"member1": 3, "member3": 3}
