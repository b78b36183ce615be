"""Consolidation benchmark: one scan over a large cluster, against Karpenter's way measured in the
same run.

The cluster (seeded, AWS us-east-1 on-demand prices, m5/c5/r5 families): 1,000 nodes of mixed
sizes and about 10,000 pods; most nodes well used, some underused, some well used but of a type a
cheaper one could replace (r5 nodes holding pods that need no r5 memory).

Prints one JSON object:

- scan: seconds, cpu_seconds (time.process_time), candidates_evaluated (every node),
  sets_planned (merge_sets of them merging well-sized nodes), moves, deletions (moves with no new
  node), nodes_removed, replacement_nodes, several_onto_one (moves of several nodes onto one new
  node), pods_moved, cost_before/after/saved per hour, saving_per_pod_moved, declined moves;
- scan_without_merging: the same without the merging step (single-node candidates only);
- scan_as_the_loop: the same with the provisioning loop's rule (one replacement per move: the
  moves it can act on; before its disruption budget);
- baseline (Karpenter's single-node consolidation): each candidate simulated alone with a full
  re-plan of its pods onto every other node, one by one, for --baseline-candidates nodes drawn at
  random (seeded); seconds for those, seconds per candidate,
  and the seconds a scan of every node would take at that rate (extrapolated, said so);
  the saving the single-node moves found among those candidates would give if all were taken
  (each was simulated alone, so this overstates what taking them together gives).

The target is the scan's CPU seconds (one core; wall seconds on a shared machine include waiting).

    .venv/bin/python bench/consolidation.py [--nodes 1000] [--seed 7] [--baseline-candidates 40]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusters.pricing import build_aws_catalog
from engines.kube.resources import Resources
from engines.planner import (
    CapacityType,
    Catalog,
    ExistingNode,
    InstanceRequirements,
    PlannerPolicy,
    PodRequest,
    Snapshot,
    plan,
)
from engines.planner.consolidation import ConsolidationRules, RunningNode, consolidate

REGION = "us-east-1"
POLICY = PlannerPolicy(
    capacity_types=frozenset({CapacityType.ON_DEMAND}),
    instance_requirements=InstanceRequirements(families_allow=frozenset({"m5", "c5", "r5"})),
)
DAEMONSETS = Resources(cpu_millis=200, memory_mib=256, pods=2)
TARGET_SECONDS = 5.0
# (instance type, MiB of memory per vCPU its pods ask for, share of nodes)
SHAPES = (
    ("m5.xlarge", 4096, 0.2),
    ("m5.2xlarge", 4096, 0.3),
    ("m5.4xlarge", 4096, 0.15),
    ("c5.2xlarge", 1792, 0.2),
    ("r5.2xlarge", 7168, 0.15),
)
UNDERUSED_SHARE = 0.15  # filled to 10-35 %
REPLACEABLE_SHARE = 0.10  # r5.2xlarge nodes holding m5-shaped pods
REPLACEABLE_MIB_PER_CPU = 3584
CPU_MILLIS = (100, 250, 500, 750, 1000, 1500)
# Pods come from workloads: replicas share their requests, so a cluster has far fewer distinct
# requests than pods. Each memory-per-vCPU profile has this many workloads.
WORKLOADS_PER_PROFILE = 25


def _on_demand_prices(catalog: Catalog) -> dict[str, float]:
    prices: dict[str, float] = {}
    for offering in catalog.offerings:
        if offering.capacity_type is CapacityType.ON_DEMAND and offering.zone == f"{REGION}a":
            prices[offering.instance_type] = offering.price
    return prices


def build_cluster(catalog: Catalog, nodes: int, seed: int = 7) -> list[RunningNode]:
    rng = random.Random(seed)
    workloads = {
        ratio: [
            Resources(cpu, int(cpu * ratio / 1000 * rng.uniform(0.8, 1.1)))
            for cpu in rng.choices(CPU_MILLIS, k=WORKLOADS_PER_PROFILE)
        ]
        for ratio in {shape[1] for shape in SHAPES} | {REPLACEABLE_MIB_PER_CPU}
    }
    types = {t.name: t for t in catalog.instance_types}
    prices = _on_demand_prices(catalog)
    cluster = []
    for index in range(nodes):
        roll = rng.random()
        if roll < REPLACEABLE_SHARE:
            type_name, mib_per_cpu = "r5.2xlarge", REPLACEABLE_MIB_PER_CPU
            fill = rng.uniform(0.75, 0.95)
        else:
            type_name, mib_per_cpu, _ = rng.choices(SHAPES, weights=[s[2] for s in SHAPES])[0]
            underused = roll < REPLACEABLE_SHARE + UNDERUSED_SHARE
            fill = rng.uniform(0.10, 0.35) if underused else rng.uniform(0.80, 0.97)
        instance = types[type_name]
        room = instance.allocatable - DAEMONSETS
        pods: list[PodRequest] = []
        used = Resources()
        while True:
            request = rng.choice(workloads[mib_per_cpu])
            if (used + request).cpu_millis > fill * room.cpu_millis or (
                used + request
            ).memory_mib > fill * room.memory_mib:
                break
            used = used + request
            uid = f"n{index}-p{len(pods)}"
            pods.append(PodRequest(uid=uid, name=uid, requests=request))
        free = Resources(
            room.cpu_millis - used.cpu_millis,
            room.memory_mib - used.memory_mib,
            0,
            room.ephemeral_mib,
            instance.max_pods - DAEMONSETS.pods - len(pods),
        )
        node = ExistingNode(
            name=f"node-{index:04d}",
            instance_type=type_name,
            zone=f"{REGION}a",
            capacity_type=CapacityType.ON_DEMAND,
            price_per_hour=prices[type_name],
            free=free,
        )
        cluster.append(RunningNode(node, tuple(pods)))
    return cluster


def scan(
    cluster: list[RunningNode],
    catalog: Catalog,
    share: float,
    *,
    one_replacement: bool = False,
    merge: bool = True,
) -> dict[str, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = consolidate(
        cluster,
        POLICY,
        catalog,
        daemonset_overhead=DAEMONSETS,
        region=REGION,
        rules=ConsolidationRules(min_saving_share=share, one_replacement=one_replacement, merge=merge),
    )
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "candidates_evaluated": result.candidates_evaluated,
        "sets_planned": result.sets_planned,
        "merge_sets": result.merge_sets,
        "moves": len(result.moves),
        "deletions": sum(1 for move in result.moves if not move.launches),
        "nodes_removed": sum(len(move.nodes) for move in result.moves),
        "replacement_nodes": sum(len(move.launches) for move in result.moves),
        "several_onto_one": sum(
            1 for move in result.moves if len(move.nodes) > 1 and len(move.launches) == 1
        ),
        "pods_moved": result.pods_moved,
        "cost_before_per_hour": round(result.cost_before, 4),
        "cost_after_per_hour": round(result.cost_after, 4),
        "saved_per_hour": round(result.saving, 4),
        "saved_share": round(result.saving / result.cost_before, 4) if result.cost_before else 0.0,
        "saved_per_pod_moved": round(result.saving / max(result.pods_moved, 1), 5),
        "declined_moves": len(result.declined),
        "min_saving_share": share,
    }


def karpenter_baseline(
    cluster: list[RunningNode], catalog: Catalog, cap: int, share: float, seed: int
) -> dict[str, object]:
    """Single-node consolidation as Karpenter runs it: each candidate simulated alone, a full
    re-plan of its pods onto every other node (and new nodes), one candidate after the other."""
    # A seeded sample of every node (Karpenter's own order, fewest pods first, would time only the
    # smallest candidates and flatter the extrapolation).
    evaluated = random.Random(seed).sample(range(len(cluster)), min(cap, len(cluster)))
    saving, found = 0.0, 0
    wall, cpu = time.perf_counter(), time.process_time()
    for index in evaluated:
        running = cluster[index]
        others = tuple(r.node for r in cluster if r is not running)
        trial = plan(
            Snapshot(pods=running.pods, existing_nodes=others, daemonset_overhead=DAEMONSETS, region=REGION),
            POLICY,
            catalog,
            thorough=False,
        )
        if trial.unschedulable:
            continue
        move_saving = running.node.price_per_hour - trial.billed_cost_per_hour
        if move_saving > 0 and move_saving >= share * running.node.price_per_hour:
            saving += move_saving
            found += 1
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    per_candidate = seconds / max(len(evaluated), 1)
    return {
        "candidates_evaluated": len(evaluated),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "seconds_per_candidate": round(per_candidate, 4),
        "extrapolated_seconds_all_nodes": round(per_candidate * len(cluster), 1),
        "extrapolated_cpu_seconds_all_nodes": round(cpu_seconds / max(len(evaluated), 1) * len(cluster), 1),
        "single_node_moves_found": found,
        "saved_per_hour_if_all_taken": round(saving, 4),
        "note": "each candidate simulated alone; the extrapolation assumes the same time per candidate",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-candidates", type=int, default=40)
    parser.add_argument("--min-saving-share", type=float, default=0.10)
    args = parser.parse_args()
    catalog = build_aws_catalog(REGION)
    cluster = build_cluster(catalog, args.nodes, args.seed)
    figures = {
        "nodes": len(cluster),
        "pods": sum(len(r.pods) for r in cluster),
        "scan": scan(cluster, catalog, args.min_saving_share),
        "scan_without_merging": scan(cluster, catalog, args.min_saving_share, merge=False),
        "scan_as_the_loop": scan(cluster, catalog, args.min_saving_share, one_replacement=True),
        "baseline": karpenter_baseline(
            cluster, catalog, args.baseline_candidates, args.min_saving_share, args.seed
        ),
        "target_seconds": TARGET_SECONDS,
    }
    scan_figures = figures["scan"]
    assert isinstance(scan_figures, dict)
    figures["target_met"] = scan_figures["cpu_seconds"] <= TARGET_SECONDS
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
