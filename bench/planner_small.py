"""The `small-batches` case of `bench/planner.py`: the provisioning loop's plans of small batches
against their exact optimum, measured in the same run.

Each batch (`lab.planner.batches.small_batch`, seeded) is planned four ways: in the loop's mode
(`thorough=False`, the default exact budget), by the heuristics alone in both modes (`exact=None`:
the planner before the exact pass), and with the exact pass given REFERENCE_SECONDS (the
reference). The optimum is the reference's cost when its bound proves it; otherwise the cheapest
plan found counts, and the batch is reported as unproven. Prints cost over the optimum
(p50/p90/max), the bound over the optimum (min, p10), how many loop plans their bound proves
optimal (the exact pass finished within the loop's budget), and wall and CPU plan times
(p50/p95/max).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from clusters.pricing import build_aws_catalog
from engines.planner import Plan, plan
from engines.planner.exact import ExactBudget
from engines.planner.table import offering_table
from lab.planner.batches import Batch, node_pool_types, small_batch

SMALL_BATCHES = "small-batches"
REFERENCE = ExactBudget(seconds=30.0, nodes=10**9)
PROVEN = 1e-5  # a reference bound this close (relatively) to its cost proves the optimum
TARGET_P90_OVER_OPTIMUM = 0.01
TARGET_MAX_OVER_OPTIMUM = 0.03
TARGET_P95_SECONDS = 0.2

MODES: dict[str, Callable[[Batch], Plan]] = {
    "loop": lambda b: plan(b.snapshot, b.policy, b.catalog, thorough=False),
    "heuristic_fast": lambda b: plan(b.snapshot, b.policy, b.catalog, thorough=False, exact=None),
    "heuristic_thorough": lambda b: plan(b.snapshot, b.policy, b.catalog, thorough=True, exact=None),
    "reference": lambda b: plan(b.snapshot, b.policy, b.catalog, thorough=False, exact=REFERENCE),
}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 4),
        "p90": round(_quantile(values, 0.9), 4),
        "p95": round(_quantile(values, 0.95), 4),
        "max": round(max(values), 4),
    }


def small_batches(count: int, first_seed: int = 0) -> dict[str, object]:
    catalog = build_aws_catalog("us-east-1")
    pool = node_pool_types(catalog)
    over: dict[str, list[float]] = {mode: [] for mode in MODES}
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    bound_ratio: dict[str, list[float]] = {"loop": [], "heuristic_fast": []}
    unproven = pods = offerings = proven_by_loop = 0
    for seed in range(first_seed, first_seed + count):
        batch = small_batch(catalog, seed, pool)
        pods += len(batch.snapshot.pods)
        offerings += len(batch.catalog.offerings)
        # The loop plans one cluster's batches with one catalog: its compiled table is cached.
        offering_table(batch.catalog, batch.policy, batch.snapshot)
        plans: dict[str, Plan] = {}
        for mode, run in MODES.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            plans[mode] = run(batch)
            wall[mode].append(time.perf_counter() - started)
            cpu[mode].append(time.process_time() - started_cpu)
        reference = plans["reference"]
        # Only plans that place the most pods solve the batch: one that leaves a pod out is
        # cheaper by that pod, not better.
        fewest = min(len(p.unschedulable) for p in plans.values())
        optimum = min(p.cost_per_hour for p in plans.values() if len(p.unschedulable) == fewest)
        if reference.lp_lower_bound < optimum * (1 - PROVEN) - 1e-12:
            unproven += 1
        for mode, result in plans.items():
            over[mode].append(result.cost_per_hour / optimum - 1 if optimum > 0 else 0.0)
        for mode, ratios in bound_ratio.items():
            ratios.append(plans[mode].lp_lower_bound / optimum if optimum > 0 else 1.0)
        loop = plans["loop"]
        proven_by_loop += loop.lp_lower_bound >= loop.cost_per_hour * (1 - PROVEN) - 1e-12
    loop_over, loop_wall = _summary(over["loop"]), _summary(wall["loop"])
    return {
        "case": SMALL_BATCHES,
        "batches": count,
        "mean_pods": round(pods / count, 1),
        "mean_offerings": round(offerings / count, 1),
        "unproven_optima": unproven,
        "cost_over_optimum": {mode: _summary(values) for mode, values in over.items() if mode != "reference"},
        "min_bound_over_optimum": {mode: round(min(values), 4) for mode, values in bound_ratio.items()},
        "bound_over_optimum": {
            mode: {"min": round(min(values), 4), "p10": round(_quantile(values, 0.1), 4)}
            for mode, values in bound_ratio.items()
        },
        # Batches whose loop plan comes with a bound that proves it optimal (the exact pass
        # finished in the loop's budget); the others keep the LP bound or a stopped pass's.
        "loop_plans_proven_optimal": proven_by_loop,
        "seconds": {mode: _summary(values) for mode, values in wall.items()},
        "cpu_seconds": {mode: _summary(values) for mode, values in cpu.items()},
        "targets_met": {
            "p90_over_optimum": loop_over["p90"] <= TARGET_P90_OVER_OPTIMUM,
            "max_over_optimum": loop_over["max"] <= TARGET_MAX_OVER_OPTIMUM,
            "p95_seconds": loop_wall["p95"] <= TARGET_P95_SECONDS,
        },
    }
