"""Fleet scale of the provisioning loop on Celery: many clusters, each due a pass every period, through
the product's scheduler, shard queues and real `celery worker` processes.

    make bench-fleet                       # 5 minutes with 2, then 4 worker processes
    .venv/bin/python bench/fleet.py --seconds 60 --workers 2   # a quick look

1. seeds its own PostgreSQL database (`<DATABASE_URL's name>_bench_fleet`): `--orgs` organizations
   × `--per-org` nodeless clusters, each with a cloud account; the first organization's first
   `--slow` clusters are slow neighbours (`--slow-latency-ms` per call instead of `--latency-ms`);
2. for each worker count N: empties the Redis database of CELERY_BROKER_URL (queues, marks, budgets),
   starts the workers, consuming every shard queue with the product's settings (prefetch 1, acks
   late) — `--pool prefork`: one `celery -A nodeless_saas worker --pool prefork --concurrency N` (N
   pool processes, one pass each at a time, one cluster per task); `--pool threads`: N `celery worker
   --pool threads --concurrency --batches` processes, how a fleet is deployed: the scheduler sends
   coalesced passes (`--batch` clusters of one shard per task) and each process runs `--threads`
   passes at once on its pass pool (a pass mostly waits on its cluster, so one process carries many) —
   and runs the product's scheduler tick
   (`workers.schedule.schedule_due_passes`, what beat's `provisioning_schedule` task calls) every
   second in this process for `--warmup` + `--seconds`;
3. the pass is the product's reconcile task with the cluster's I/O replaced through
   `NODELESS_PROVISIONING_PORTS` by ports that sleep a simulated latency (`bench/fleet_world.py`): the
   passes are I/O-bound, as real ones are (waiting on the API server and the cloud), so the number of
   worker processes, not this machine's two cores, sets the capacity, and the 4-vs-2 ratio measures
   the design (a shared-nothing pass per process; nothing global serializing them) rather than the CPU.

Figures (the warm-up, in which each pool process loads its price catalog, is not counted), one JSON
object per line:
- `passes_per_second`: scheduled passes finished per second;
- `lag_p50_s`, `lag_p95_s`: from the time a pass was due to the time it finished;
- `starved`: clusters that went more than two periods without a finished pass (counted from the
  start of the measured window to its end), of all and of the normal clusters; where the workers
  cannot carry the fleet's demand (clusters ÷ period passes a second), every cluster's period
  stretches and this counts them all, so `achieved_period_s` (clusters ÷ passes per second) and
  `starved_vs_achieved` (clusters with a gap over twice the achieved period: the fairness figure under
  overload) are printed beside it, with the passes each cluster got (`passes_per_cluster`: fair
  turns give every cluster the same number, give or take one) and `never_reconciled` (none in the
  measured window);
- `cpu_ms_per_pass`: CPU (user + system) per finished pass of the worker processes (their pool
  processes included), of the scheduler's ticks (this process), and of the PostgreSQL backends serving
  the bench's database (sampled every 5 s: a backend that lives less than that is missed), and
  `postgres_per_pass`: the database's own counts per pass (`pg_stat_database`: connections opened,
  milliseconds running statements, transactions), so a run on a busy machine still says what a pass
  costs (`bench/fleet_cpu.py` breaks an idle pass and a tick down, in one process);
- then (`--capacity-seconds`) the same fleet due every `--capacity-period` seconds, more than the
  workers can carry, for each worker count: their capacity in passes per second;
- `ratio_4_vs_2_at_period`: passes per second with 4 worker processes over 2 at the fleet's period
  (4 processes make at most the passes due), and `ratio_4_vs_2_capacity`: the capacities' ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
os.environ.setdefault("NODELESS_ENV", "test")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from bench.fleet_world import RECORD_KEY, SLOW_PREFIX  # noqa: E402
from clusters.models import CloudAccount, Cluster, ClusterConnection, ClusterMode  # noqa: E402
from nodeless_saas.celery import app  # noqa: E402
from tenants.models import Organization  # noqa: E402
from workers.models import ReconcileDue  # noqa: E402
from workers.schedule import schedule_due_passes  # noqa: E402


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3) if ordered else 0.0


def seed(orgs: int, per_org: int, slow: int) -> None:
    organizations = Organization.objects.bulk_create(
        [Organization(name=f"Fleet {i:03}", slug=f"fleet-{i:03}") for i in range(orgs)]
    )
    accounts = CloudAccount.objects.bulk_create(
        [
            CloudAccount(
                organization=organization,
                name="prod",
                account_id=f"{100000000000 + i}",
                role_arn=f"arn:aws:iam::{100000000000 + i}:role/nodeless",
                regions=["us-east-1"],
            )
            for i, organization in enumerate(organizations)
        ]
    )
    clusters = []
    for i, (organization, account) in enumerate(zip(organizations, accounts, strict=True)):
        for j in range(per_org):
            name = f"{SLOW_PREFIX if i == 0 and j < slow else ''}cluster-{i:03}-{j:02}"
            clusters.append(
                Cluster(
                    organization=organization,
                    name=name,
                    connection=ClusterConnection.EKS,
                    cloud_account=account,
                    eks_cluster_name=name,
                    region="us-east-1",
                    mode=ClusterMode.NODELESS,
                )
            )
    Cluster.objects.bulk_create(clusters, batch_size=500)


def start_workers(processes: int, args: argparse.Namespace, period: int) -> list[subprocess.Popen[bytes]]:
    """`processes` worker processes: one prefork worker with that many pool processes (one pass each),
    or, with `--pool threads`, that many `celery worker` processes running `--batches` batch tasks at
    once, with `--threads` passes in flight each."""
    if args.pool == "prefork":
        workers = [
            start_worker(
                ["--pool", "prefork", "--concurrency", str(processes)], f"fleet{processes}", args, period
            )
        ]
    else:
        workers = [
            start_worker(
                ["--pool", "threads", "--concurrency", str(args.batches)],
                f"fleet{processes}-{i}",
                args,
                period,
            )
            for i in range(processes)
        ]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for worker in workers:
            if worker.poll() is not None:
                sys.exit(f"celery worker exited with {worker.returncode}")
        if len(app.control.ping(timeout=1.0)) >= len(workers):
            return workers
    stop(*workers)
    sys.exit("celery workers did not answer a ping within 90 s")


def start_worker(
    pool: list[str], node: str, args: argparse.Namespace, period: int
) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "NODELESS_PROVISIONING_PORTS": "bench.fleet_world.sleeping_ports",
        "NODELESS_RECONCILE_SECONDS": str(period),
        "NODELESS_RECONCILE_BATCH": str(args.batch),
        # prefork: one pass per pool process, as before batches; threads: the process's pass pool.
        "NODELESS_PASSES_IN_FLIGHT": str(1 if args.pool == "prefork" else args.threads),
        "FLEET_LATENCY_MS": str(args.latency_ms),
        "FLEET_SLOW_LATENCY_MS": str(args.slow_latency_ms),
    }
    command = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "nodeless_saas",
        "worker",
        *pool,
        "--include",
        "bench.fleet_world",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
        "-n",
        f"{node}-{os.getpid()}@%h",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def stop(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: passes under way finish
    for worker in workers:
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def run(
    concurrency: int, args: argparse.Namespace, broker: redis.Redis, *, period: int, seconds: float
) -> dict[str, Any]:
    broker.flushdb()
    ReconcileDue.objects.all().delete()
    settings.NODELESS_RECONCILE_SECONDS = period  # the scheduler runs in this process
    workers = start_workers(concurrency, args, period)
    began = time.time()
    measured_from, until = began + args.warmup, began + args.warmup + seconds
    ticks = 0
    tick_cpu = 0.0
    meter = CpuMeter(workers, str(connection.settings_dict["NAME"]))
    database_from = database_to = database_stats()
    try:
        while time.time() < until:
            if time.time() >= measured_from and ticks % 5 == 0:
                if meter.began is False:
                    database_from = database_stats()
                meter.sample()
            cpu = time.process_time()
            schedule_due_passes()
            if time.time() >= measured_from:
                tick_cpu += time.process_time() - cpu
            ticks += 1
            time.sleep(max(0.0, began + ticks * settings.NODELESS_SCHEDULE_TICK_SECONDS - time.time()))
        meter.sample()
        database_to = database_stats()
    finally:
        stop(*workers)
    lines: list[bytes] = broker.lrange(RECORD_KEY, 0, -1)  # type: ignore[assignment]
    records = [line.decode().split() for line in lines]
    figures = analyse(concurrency, records, measured_from, until, period)
    passes = max(1, figures["passes"])
    figures["cpu_ms_per_pass"] = {
        "workers": round(1000 * meter.spent("workers") / passes, 2),
        "scheduler": round(1000 * tick_cpu / passes, 2),
        "postgres": round(1000 * meter.spent("postgres") / passes, 2),
    }
    figures["workers_cores"] = round(meter.spent("workers") / seconds, 2)
    # The database's own count of what it did for the bench's database: connections opened (each a
    # new backend process) and milliseconds spent running statements.
    figures["postgres_per_pass"] = {
        name: round((database_to[name] - database_from[name]) / passes, 3) for name in database_to
    }
    return figures


def database_stats() -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sessions, active_time, xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        sessions, active, commits = cursor.fetchone()
    return {"sessions": float(sessions), "active_ms": float(active), "commits": float(commits)}


class CpuMeter:
    """CPU seconds (user + system) used by the worker processes (with prefork's pool processes) and by
    the PostgreSQL backends serving the bench's database, between the first sample and the last:
    sampled every few seconds, so a backend that ends between samples (connections are recycled)
    keeps what it had used at the last one."""

    def __init__(self, workers: list[subprocess.Popen[bytes]], database: str) -> None:
        self.workers = {worker.pid for worker in workers}
        self.database = f" {database} ".encode()
        self.first: dict[int, tuple[str, float]] = {}
        self.last: dict[int, float] = {}
        self.began = False

    def sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
        ours = set(self.workers)
        grown = True
        while grown:  # the workers' descendants (prefork's pool processes)
            more = {pid for pid, parent in parents.items() if parent in ours} - ours
            grown = bool(more)
            ours |= more
        for pid in cpu:
            kind = "workers" if pid in ours else None
            if kind is None and pid not in self.first:
                with contextlib.suppress(OSError):
                    if self.database in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "):
                        kind = "postgres"
            if kind is None and pid in self.first:
                kind = self.first[pid][0]
            if kind is None:
                continue
            # Met after the first sample: everything it used counts (it started within the window).
            self.first.setdefault(pid, (kind, cpu[pid] if not self.began else 0.0))
            self.last[pid] = cpu[pid]
        self.began = True

    def spent(self, kind: str) -> float:
        return sum(self.last[pid] - start for pid, (k, start) in self.first.items() if k == kind)


def analyse(
    concurrency: int, records: list[list[str]], start: float, end: float, period: int
) -> dict[str, Any]:
    names = dict(Cluster.objects.values_list("pk", "name"))
    done_at: dict[str, list[float]] = defaultdict(list)
    lags: list[float] = []
    outcomes: dict[str, int] = defaultdict(int)
    for cluster_id, due, done, outcome in records:
        due_at, finished = float(due), float(done)
        if start <= finished <= end:
            done_at[cluster_id].append(finished)
            lags.append(finished - due_at)
            outcomes[outcome] += 1
    gaps: dict[str, float] = {}
    for pk in names:
        times = [start, *sorted(done_at.get(str(pk), [])), end]
        steps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        gaps[str(pk)] = max(steps)
    passes = sum(outcomes.values())
    # The period the workers achieve for the fleet: each cluster's share of the passes made.
    achieved = len(names) * (end - start) / passes if passes else float("inf")
    normal = {str(pk) for pk, name in names.items() if not name.startswith(SLOW_PREFIX)}
    window = end - start
    counts = [len(done_at.get(str(pk), [])) for pk in names]
    return {
        "case": f"{concurrency} worker processes, {period} s period",
        "seconds": round(window, 1),
        "passes": passes,
        "outcomes": dict(outcomes),
        "passes_per_second": round(passes / window, 2),
        "demand_per_second": round(len(names) / period, 1),
        "lag_p50_s": percentile(lags, 0.5),
        "lag_p95_s": percentile(lags, 0.95),
        "achieved_period_s": round(achieved, 2),
        "starved": sum(1 for gap in gaps.values() if gap > 2 * period),
        "starved_normal": sum(1 for pk, gap in gaps.items() if gap > 2 * period and pk in map(str, normal)),
        "starved_vs_achieved": sum(1 for gap in gaps.values() if gap > 2 * achieved),
        "max_gap_s": round(max(gaps.values()), 2),
        "passes_per_cluster": {"min": min(counts), "max": max(counts)},
        "never_reconciled": sum(1 for count in counts if count == 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--per-org", type=int, default=10)
    parser.add_argument("--period", type=int, default=10, help="seconds between a cluster's passes")
    parser.add_argument("--seconds", type=float, default=300.0, help="measured seconds per worker count")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--workers", default="2,4", help="worker process counts, in order")
    # 300 ms a call: beside the pass's own work (~2 ms of worker CPU, `cpu_ms_per_pass`) it keeps the
    # passes I/O-bound on this shared 2-core machine, so the worker count, not the cores, sets the capacity.
    parser.add_argument(
        "--latency-ms", type=float, default=300.0, help="simulated latency of each cluster call"
    )
    parser.add_argument(
        "--pool",
        choices=("prefork", "threads"),
        default="prefork",
        help="prefork: one pass per worker process; threads: --threads passes in flight per process",
    )
    parser.add_argument(
        "--threads",
        type=int,
        # 20 passes of ~0.33 s in flight: ~60 passes/s a process, I/O-bound, so 2 processes carry the
        # fleet's 100 a second with room (0 starved), and the capacity runs (the fleet due every 2 s)
        # find 4 processes carrying twice what 2 do while the CPU per pass leaves the cores room.
        default=20,
        help="passes in flight per worker process (--pool threads: NODELESS_PASSES_IN_FLIGHT)",
    )
    parser.add_argument(
        "--batches", type=int, default=4, help="batch tasks a worker process runs at once (--pool threads)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="clusters per scheduled task (NODELESS_RECONCILE_BATCH; default 16 with threads, 1 with prefork)",
    )
    parser.add_argument(
        "--capacity-seconds",
        type=float,
        default=60.0,
        help="then, for each worker count, a run with the fleet due every --capacity-period seconds, "
        "more than the workers can carry: their capacity, and its 4-vs-2 ratio (0: none)",
    )
    parser.add_argument("--capacity-period", type=int, default=2)
    parser.add_argument("--slow", type=int, default=5, help="slow clusters (in the first organization)")
    parser.add_argument("--slow-latency-ms", type=float, default=1500.0)
    args = parser.parse_args()
    if args.batch is None:
        args.batch = 16 if args.pool == "threads" else 1
    settings.NODELESS_RECONCILE_BATCH = args.batch  # the scheduler runs in this process
    if connection.vendor != "postgresql":
        sys.exit("bench/fleet.py needs PostgreSQL: set DATABASE_URL (make bench-fleet does)")
    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        sys.exit("bench/fleet.py needs a Redis broker: set CELERY_BROKER_URL (make bench-fleet does)")
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = f"{old_name}_bench_fleet"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    emit(
        case="setup",
        clusters=args.orgs * args.per_org,
        organizations=args.orgs,
        period_s=args.period,
        seconds=args.seconds,
        warmup_s=args.warmup,
        shards=len(settings.NODELESS_SHARD_QUEUES),
        pool=(
            "prefork (one pass per process; prefetch 1, acks late)"
            if args.pool == "prefork"
            else f"threads ({args.threads} passes in flight per worker process, in batches of up to "
            f"{args.batch} clusters, {args.batches} batches at once; acks late)"
        ),
        latency=f"I/O-bound: each cluster call sleeps {args.latency_ms:g} ms "
        f"({args.slow} slow clusters: {args.slow_latency_ms:g} ms); passes read, decide and record for real",
        cores=os.cpu_count(),
        load=os.getloadavg(),
    )
    results: dict[int, dict[str, Any]] = {}
    capacity: dict[int, dict[str, Any]] = {}
    try:
        seed(args.orgs, args.per_org, args.slow)
        counts = [int(n) for n in args.workers.split(",")]
        for concurrency in counts:
            results[concurrency] = run(concurrency, args, broker, period=args.period, seconds=args.seconds)
            emit(**results[concurrency], load=os.getloadavg())
        if args.capacity_seconds:
            for concurrency in counts:
                capacity[concurrency] = run(
                    concurrency, args, broker, period=args.capacity_period, seconds=args.capacity_seconds
                )
                emit(**capacity[concurrency], load=os.getloadavg())
        if 2 in results and 4 in results and results[2]["passes_per_second"]:
            figures: dict[str, Any] = {
                # At the fleet's period, 4 processes make at most the passes due (the demand).
                "ratio_4_vs_2_at_period": round(
                    results[4]["passes_per_second"] / results[2]["passes_per_second"], 2
                ),
            }
            if 2 in capacity and 4 in capacity and capacity[2]["passes_per_second"]:
                figures["ratio_4_vs_2_capacity"] = round(
                    capacity[4]["passes_per_second"] / capacity[2]["passes_per_second"], 2
                )
            emit(case="scaling", **figures, target=1.8)
    finally:
        with contextlib.suppress(Exception):
            broker.flushdb()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
