"""CPU of an idle reconcile pass and of a scheduler tick, measured in this process, without Celery:
what `bench/fleet.py`'s workers spend per pass beside the task machinery.

    .venv/bin/python bench/fleet_cpu.py --clusters 160 --rounds 20 --batch 16
    .venv/bin/python bench/fleet_cpu.py --profile pass.prof    # cProfile of the passes (batch of 1)

Seeds its own PostgreSQL database (`<DATABASE_URL's name>_bench_fleet_cpu`) with `--clusters` idle
nodeless clusters, then runs `--rounds` rounds of the product's `reconcile_batch` over all of them in
batches of `--batch` (the pass pool's threads, as a threads worker runs them), through the fleet
bench's ports with no latency, and answers this process's CPU (user + system) per pass; then
`--ticks` scheduler ticks over the same clusters, all due (the broker's shard queues emptied after
each), and the CPU per tick and per pass it queued. The figures are this process's CPU only: the
database's and Redis's own are not in them. One JSON object per line.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
os.environ.setdefault("NODELESS_ENV", "test")
os.environ["FLEET_LATENCY_MS"] = "0"
os.environ["FLEET_SLOW_LATENCY_MS"] = "0"

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.fleet import seed  # noqa: E402
from clusters.models import Cluster  # noqa: E402
from workers.models import ReconcileDue  # noqa: E402
from workers.provisioning import batch as pass_pool  # noqa: E402
from workers.provisioning.reconcile import reconcile_batch  # noqa: E402
from workers.schedule import schedule_due_passes  # noqa: E402


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def passes(ids: list[str], rounds: int, size: int) -> dict[str, Any]:
    began, cpu = time.perf_counter(), time.process_time()
    outcomes: dict[str, int] = {}
    for _ in range(rounds):
        for start in range(0, len(ids), size):
            for report in reconcile_batch(ids[start : start + size]):
                outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
    count = rounds * len(ids)
    return {
        "case": f"idle passes, batches of {size}",
        "passes": count,
        "outcomes": outcomes,
        "cpu_ms_per_pass": round(1000 * (time.process_time() - cpu) / count, 3),
        "wall_ms_per_pass": round(1000 * (time.perf_counter() - began) / count, 3),
    }


def ticks(count: int, broker: redis.Redis) -> dict[str, Any]:
    cpu_total, sent = 0.0, 0
    for _ in range(count):
        ReconcileDue.objects.update(due_at=timezone.now())
        broker.flushdb()
        cpu = time.process_time()
        sent += schedule_due_passes().sent
        cpu_total += time.process_time() - cpu
    return {
        "case": "scheduler ticks, every cluster due",
        "ticks": count,
        "passes_queued": sent,
        "cpu_ms_per_tick": round(1000 * cpu_total / count, 3),
        "cpu_ms_per_pass_queued": round(1000 * cpu_total / max(1, sent), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument(
        "--profile",
        default="",
        help="write CPU profiles of the calling thread here (the passes on the pool are not in it) and of ticks (<path>.ticks)",
    )
    args = parser.parse_args()
    settings.NODELESS_PROVISIONING_PORTS = "bench.fleet_world.sleeping_ports"
    settings.NODELESS_RECONCILE_BATCH = args.batch
    settings.NODELESS_SCHEDULE_MAX_QUEUED = args.clusters
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = f"{old_name}_bench_fleet_cpu"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        seed(max(1, args.clusters // 10), min(10, args.clusters), 0)
        ids = [str(pk) for pk in Cluster.objects.order_by("pk").values_list("pk", flat=True)]
        emit(case="setup", clusters=len(ids), load=os.getloadavg())
        passes(ids, 1, args.batch)  # warm: catalogs, clients, the pool's threads and connections
        emit(**passes(ids, args.rounds, args.batch), load=os.getloadavg())
        if args.profile:
            # CPU time, not wall time: what the calling thread computes, not what it waits for.
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            figures = passes(ids, max(1, args.rounds // 4), args.batch)
            profiler.disable()
            profiler.dump_stats(args.profile)
            emit(**figures, profile=args.profile)
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            figures = ticks(max(1, args.ticks // 4), broker)
            profiler.disable()
            profiler.dump_stats(f"{args.profile}.ticks")
            emit(**figures, profile=f"{args.profile}.ticks")
        emit(**ticks(args.ticks, broker), load=os.getloadavg())
    finally:
        broker.flushdb()
        pass_pool.shutdown()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
