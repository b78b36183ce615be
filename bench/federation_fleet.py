"""Federation at fleet scale: many workloads over many simulated members, end to end, against a
Karmada-like sequential apply measured in the same run.

    make bench-federation-fleet
    python bench/federation_fleet.py --workloads 1000 --clusters 100

Each run signs up an organization, connects ``--clusters`` simulated member clusters (the
simulator's kube-apiservers, each behind its own HTTPS port, in a process of their own, as the
customer's clusters are not the product's; ``--member-processes`` spreads them over several) through the product's kubeconfig path, and submits ``--workloads`` Deployments (four API
clients at once), spread over spread/aggregated/cheapest/static-weight policies. A Celery worker
(solo pool) runs the federation loop in a process of its own, as in production
(``--worker-in-process`` keeps it in the bench's process, as ``--profile`` needs). ``--via`` says
how the Deployments are sent:

- ``rest`` (default): ``POST /api/v1/workloads/`` with the manifest and the policy's name;
- ``endpoint``: the organization's Kubernetes API, ``POST /k8s/apis/apps/v1/namespaces/<ns>/deployments``
  with the Deployment itself, its policy named by the ``policy.nodeless.io/name`` annotation (the
  namespaces are created through the endpoint first, outside the clock), as kubectl would send it.

Figures:

- ``workloads_per_second``: workloads over the seconds from the first submission until every
  workload is Running in its members (the product's status, synced from the members);
- ``applied_p50_seconds`` / ``applied_p99_seconds``: per workload, from its submission (the API
  call returning) until its Deployment exists on every member it was placed on, as the simulated
  API server records it (a listener on its store, in the members' process; both processes read
  the same monotonic clock);
- the same figures for the baseline: ``NODELESS_FEDERATION_APPLY_THREADS=1``, one member after
  the other, each object one call, as a sequential executor would (same members, same process,
  its own organization and namespaces).

Both runs keep the per-member API budget (``NODELESS_CLUSTER_API_RATE``/``_BURST``, as client-go's
QPS/burst) and the one client per member and process. The machine's load average is reported with
each run: the simulated members, the worker and the API clients share its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.federation_e2e import _throwaway_database  # noqa: E402
from bench.federation_processes import (  # noqa: E402
    ApiServer,
    MemberAddress,
    MemberProcesses,
    PassProfile,
    WorkerProcess,
    database_cpu_seconds,
)

if TYPE_CHECKING:
    from tenants.models import Organization

API_CLIENTS = 4
POLICIES = ("spread", "aggregated", "cheapest", "static")
POLICY_ANNOTATION = "policy.nodeless.io/name"  # policies.kubeapi.federation.POLICY_ANNOTATION
NAMESPACES = 8
VIAS = ("rest", "endpoint")


def _manifest(run: str, number: int, rng: random.Random) -> dict[str, object]:
    name = f"svc-{number}"
    requests = {"cpu": f"{rng.choice((100, 200, 250))}m", "memory": f"{rng.choice((128, 256))}Mi"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": f"{run}-team-{number % NAMESPACES}", "labels": {"app": name}},
        "spec": {
            "replicas": rng.choice((1, 2, 2, 3)),
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx:1.27", "resources": {"requests": requests}}
                    ]
                },
            },
        },
    }


def _organization(run: str, sims: list[MemberAddress]) -> tuple[Organization, str]:
    from clusters.kube.kubeconfig import KubeCredentials, minimal_kubeconfig
    from clusters.models import Cluster, ClusterStatus
    from clusters.services import cluster_connect_kubeconfig
    from policies.federation import services as federation
    from tenants import services as tenants
    from tenants.actors import Actor

    user, organization = tenants.signup(
        email=f"{run}@nodeless.local", password="bench-password-1", full_name=run, organization_name=run
    )
    actor = Actor(user=user)
    _, token = tenants.api_token_create(organization, actor=actor, name=run, scopes=["read", "write"])
    for number, sim in enumerate(sims):
        kubeconfig = minimal_kubeconfig(sim.name, KubeCredentials(sim.url, sim.ca_pem, token=sim.token))
        region = ("us-east-1", "us-west-2", "eu-west-1")[number % 3]
        cluster_connect_kubeconfig(
            organization,
            actor=actor,
            name=sim.name,
            kubeconfig=kubeconfig,
            labels={"cloud": "aws", "region": region, "env": "prod"},
        )
    specs: dict[str, dict[str, object]] = {
        "spread": {"strategy": "spread", "spread": {"weights": "capacity", "max_groups": 3}},
        "aggregated": {"strategy": "spread", "spread": {"weights": "aggregated"}},
        "cheapest": {"strategy": "cheapest"},
        "static": {
            "strategy": "spread",
            "spread": {"weights": "static", "spread_by": "region", "min_groups": 2},
        },
    }
    for name in POLICIES:
        federation.federation_policy_create(organization, actor=actor, data={"name": name, **specs[name]})
    # The worker checks each new cluster (connecting queues the check); the run starts once every
    # member is connected, so no check competes with the passes measured.
    deadline = time.monotonic() + 600
    clusters = Cluster.objects.filter(organization=organization)
    while clusters.exclude(status=ClusterStatus.CONNECTED).exists():
        failed = clusters.filter(status=ClusterStatus.FAILED).first()
        if failed is not None:
            raise RuntimeError(f"{failed.name} could not be connected: {failed.health_problem}")
        if time.monotonic() > deadline:
            raise RuntimeError("the members were not all connected within 10 minutes")
        time.sleep(0.5)
    return organization, token


def _body(via: str, manifest: dict[str, Any], policy: str) -> dict[str, Any]:
    """What one client sends for a workload: the REST API's submission, or the endpoint's object."""
    if via == "rest":
        return {"manifest": manifest, "policy": policy}
    metadata = {**manifest["metadata"], "annotations": {POLICY_ANNOTATION: policy}}
    return {**manifest, "metadata": metadata}


def _warm_up_namespace(run: str) -> str:
    return f"{run}-warm-up"


def _warm_up(organization: Organization, token: str, run: str) -> None:
    """Before the clock: one workload (not counted) until it runs, so the worker has looked at every
    member once and holds what a running worker holds (each member's informer, watching its pods
    and nodes, and its pooled connections). Without it, the first pass of the run started 100
    informers (200 TLS connections, their lists and watches) among the measured submissions."""
    from policies.models import Workload, WorkloadStatus

    manifest: dict[str, Any] = _manifest(run, 0, random.Random(0))
    manifest["metadata"] = {**manifest["metadata"], "name": "warm-up", "namespace": _warm_up_namespace(run)}
    _submit(token, "rest", [_body("rest", manifest, POLICIES[0])], {}, None)
    deadline = time.monotonic() + 120
    warm = Workload.objects.filter(organization=organization, namespace=_warm_up_namespace(run))
    while not warm.filter(status=WorkloadStatus.RUNNING).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up workload did not run within 2 minutes")
        time.sleep(0.2)


def _namespaces_create(token: str, run: str) -> None:
    """The endpoint keeps objects only in namespaces it has (as the API server): create them."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for number in range(NAMESPACES):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{run}-team-{number}"}}
        response = client.post("/k8s/api/v1/namespaces", body, format="json")
        if response.status_code != 201:
            raise RuntimeError(f"namespace failed: {response.status_code} {response.content[:300]!r}")


def _path(via: str, body: dict[str, Any]) -> str:
    if via == "rest":
        return "/api/v1/workloads/"
    return f"/k8s/apis/apps/v1/namespaces/{body['metadata']['namespace']}/deployments"


def _poster(token: str, api: ApiServer | None) -> Any:
    """``post(path, body)``: over HTTP to gunicorn (``--api-workers``), else through Django's whole
    stack in this process (DRF's APIClient)."""
    if api is not None:
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        return lambda path, body: session.post(api.base + path, json=body, timeout=60)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return lambda path, body: client.post(path, json.dumps(body), content_type="application/json")


def _submit(
    token: str,
    via: str,
    bodies: list[dict[str, Any]],
    submitted: dict[str, float],
    api: ApiServer | None,
    send_at: list[float] | None = None,
) -> None:
    """Send ``bodies`` one after the other (``send_at``: each not before that ``perf_counter``
    time, the offered load of ``--rate``); ``submitted`` gets when each call returned, by workload
    id (``rest``: the answer's) or by ``namespace/name`` (``endpoint``: the object's; its workload
    id is looked up afterwards, outside the clock)."""
    from django.db import connections

    post = _poster(token, api)
    try:
        for number, body in enumerate(bodies):
            if send_at is not None:
                time.sleep(max(0.0, send_at[number] - time.perf_counter()))
            response = post(_path(via, body), body)
            if response.status_code != 201:
                raise RuntimeError(f"submit failed: {response.status_code} {response.content[:300]!r}")
            if via == "rest":
                key = str(response.json()["id"])
            else:
                key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
            submitted[key] = time.perf_counter()
    finally:
        connections.close_all()


def _by_workload_id(organization: Organization, submitted: dict[str, float]) -> dict[str, float]:
    """``submitted`` keyed by ``namespace/name`` (the endpoint's) re-keyed by workload id, the
    label members see (``WORKLOAD_LABEL``)."""
    from policies.models import Workload

    ids = {
        f"{namespace}/{name}": str(pk)
        for namespace, name, pk in Workload.objects.filter(organization=organization).values_list(
            "namespace", "name", "pk"
        )
    }
    return {ids[key]: at for key, at in submitted.items() if key in ids}


def _cpu_of(worker: WorkerProcess | None, api: ApiServer | None) -> Any:
    """CPU seconds so far of the product's processes other than this one (worker, gunicorn)."""
    return lambda: (worker.cpu_seconds() if worker else 0.0) + (api.cpu_seconds() if api else 0.0)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def run_once(
    run: str,
    members: MemberProcesses,
    workloads: int,
    seed: int,
    threads: int,
    worker: WorkerProcess | None,
    via: str = "rest",
    api: ApiServer | None = None,
    rate: float = 0.0,
) -> dict[str, object]:
    from django.conf import settings

    from policies.models import Placement, Workload, WorkloadStatus

    sims = members.addresses
    organization, token = _organization(run, sims)
    rng = random.Random(seed)
    bodies = [
        _body(via, _manifest(run, number, rng), POLICIES[number % len(POLICIES)])
        for number in range(workloads)
    ]
    if via == "endpoint":
        _namespaces_create(token, run)
    _warm_up(organization, token, run)
    submitted: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    worker_cpu = _cpu_of(worker, api)
    cpu_before = (time.process_time() + worker_cpu(), members.cpu_seconds(), database_cpu_seconds())
    parts_before = (time.process_time(), api.cpu_seconds() if api else 0.0)
    started = time.perf_counter()
    # --rate: workload n is offered at n / rate seconds (client n % API_CLIENTS sends it); without
    # it, each client sends its next as soon as the last is answered (the endpoint's own pace).
    offered = [started + number / rate for number in range(workloads)] if rate else None
    with ThreadPoolExecutor(max_workers=API_CLIENTS) as pool:
        chunks = [
            (bodies[index::API_CLIENTS], offered[index::API_CLIENTS] if offered else None)
            for index in range(API_CLIENTS)
        ]
        list(pool.map(lambda chunk: _submit(token, via, chunk[0], submitted, api, chunk[1]), chunks))
    submit_seconds = time.perf_counter() - started
    submit_cpu = time.process_time() + worker_cpu() - cpu_before[0]
    running = 0
    deadline = started + 900
    while time.perf_counter() < deadline:
        running = (
            Workload.objects.filter(organization=organization, status=WorkloadStatus.RUNNING)
            .exclude(namespace=_warm_up_namespace(run))
            .count()
        )
        if running == workloads:
            break
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    cpu = (
        time.process_time() + worker_cpu() - cpu_before[0],
        members.cpu_seconds() - cpu_before[1],
        database_cpu_seconds() - cpu_before[2],
    )
    clients_cpu = time.process_time() - parts_before[0]
    api_cpu = (api.cpu_seconds() if api else 0.0) - parts_before[1]
    members_of: dict[str, list[str]] = {}
    placements = Placement.objects.filter(organization=organization, replicas__gt=0)
    for placed, member in placements.exclude(workload__namespace=_warm_up_namespace(run)).values_list(
        "workload_id", "cluster__name"
    ):
        members_of.setdefault(str(placed), []).append(member)
    first_seen = members.first_seen()
    if via == "endpoint":
        submitted = _by_workload_id(organization, submitted)
    latencies = []
    for key, at in submitted.items():
        seen = [first_seen.get((key, member)) for member in members_of.get(key, [])]
        if seen and all(moment is not None for moment in seen):
            latencies.append(max(moment for moment in seen if moment is not None) - at)
    return {
        "run": run,
        "via": via,
        "apply": "sequential (1 member at a time)"
        if threads == 1
        else f"parallel ({threads} members at a time)",
        "workloads": workloads,
        "offered_per_second": rate or "as fast as answered",
        "clusters": len(sims),
        "member_processes": len(members.processes),
        "worker": "own process" if worker is not None else "in the bench's process",
        "api": f"gunicorn ({api.service}), {api.workers} workers"
        if api is not None
        else "in the bench's process",
        "running": running,
        "seconds": round(seconds, 2),
        "workloads_per_second": round(running / seconds, 1),
        "submit_seconds": round(submit_seconds, 2),
        # The product's processes during the submissions: the four clients and the worker's passes.
        "submit_cpu_seconds": round(submit_cpu, 2),
        "applied_measured": len(latencies),
        "applied_p50_seconds": round(statistics.median(latencies), 3) if latencies else None,
        "applied_p99_seconds": round(_percentile(latencies, 0.99), 3) if latencies else None,
        "placements": sum(len(where) for where in members_of.values()),
        # Where the two cores went: the product's processes (API clients and the worker), the
        # simulated members', and PostgreSQL's backends for this database. ``product`` is the sum
        # of ``clients`` (this process: the four API clients and the wait for Running; with no
        # ``--api-workers``, the API too), ``api`` (gunicorn) and the worker.
        "cpu_seconds": {
            "product": round(cpu[0], 1),
            "api": round(api_cpu, 1),
            "members": round(cpu[1], 1),
            "postgresql": round(cpu[2], 1),
            "clients": round(clients_cpu, 1),
        },
        "api_rate_per_member": [settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST],
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered load, workloads/s submitted (default: each API client sends its next as soon as "
        "the last is answered); the latency to applied at a rate the machine keeps up with",
    )
    parser.add_argument(
        "--threads", type=int, default=32, help="members applied to at once in the product run"
    )
    parser.add_argument(
        "--member-processes", type=int, default=1, help="processes the simulated members are spread over"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the sequential baseline run")
    parser.add_argument(
        "--via",
        choices=VIAS,
        default="rest",
        help="submit through the REST API or the organization's Kubernetes endpoint (/k8s/)",
    )
    parser.add_argument(
        "--worker-in-process",
        action="store_true",
        help="run the Celery worker in the bench's process (as --profile does) instead of its own",
    )
    parser.add_argument(
        "--api-workers",
        type=int,
        default=0,
        help="serve the API with gunicorn and this many workers, as production does (0: the clients "
        "call Django in the bench's process)",
    )
    parser.add_argument(
        "--api-service",
        choices=("web", "kube"),
        help="with --api-workers: docker-compose.yml's service whose gunicorn command serves the API "
        "(default: as production routes it, kube for --via endpoint: threads; web: one request per process)",
    )
    parser.add_argument(
        "--steady-passes",
        type=int,
        default=0,
        help="after the product run, time this many passes of the organization at rest in this process",
    )
    parser.add_argument(
        "--steady-profile", metavar="FILE", help="with --steady-passes: cProfile them, stats written to FILE"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the passes of the product run (printed to stderr)"
    )
    parser.add_argument(
        "--profile-out", metavar="FILE", help="with --profile: also write the raw statistics (pstats) to FILE"
    )
    args = parser.parse_args()
    # The members' processes start before Django (and its threads and sockets) exist here.
    setup = time.perf_counter()
    members = MemberProcesses(args.clusters, max(1, args.member_processes))
    try:
        print(json.dumps({"members_started_seconds": round(time.perf_counter() - setup, 1)}), flush=True)
        with _throwaway_database(suffix="fleet") as database:
            import django

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
            os.environ.setdefault("NODELESS_ENV", "test")
            os.environ.setdefault("NODELESS_LOG_LEVEL", "WARNING")
            django.setup()
            from django.core.management import call_command

            from nodeless_saas.celery import app

            call_command("migrate", verbosity=0)
            app.control.purge()  # what an earlier, interrupted run left in the broker
            runs = [("nodeless", args.threads)] + ([] if args.no_baseline else [("baseline", 1)])
            # As production routes them (the REST API to web, the Kubernetes endpoint to kube),
            # unless --api-service says otherwise.
            service = args.api_service or ("kube" if args.via == "endpoint" else "web")
            api = ApiServer(args.api_workers, service) if args.api_workers else None
            try:
                for run, threads in runs:
                    _run_and_print(run, threads, args, members, api, database)
            finally:
                if api is not None:
                    api.stop()
    finally:
        members.stop()


def _run_and_print(
    run: str,
    threads: int,
    args: argparse.Namespace,
    members: MemberProcesses,
    api: ApiServer | None,
    database: str,
) -> None:
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from nodeless_saas.celery import app

    profile = PassProfile() if args.profile and run == "nodeless" else None
    if profile is not None or args.worker_in_process:
        # cProfile sees the passes only in this process
        settings.NODELESS_FEDERATION_APPLY_THREADS = threads
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=60):
            line = run_once(run, members, args.workloads, args.seed, threads, None, args.via, api, args.rate)
    else:
        worker = WorkerProcess(threads)
        try:
            line = run_once(
                run, members, args.workloads, args.seed, threads, worker, args.via, api, args.rate
            )
        finally:
            worker.stop()
    if profile is not None:
        profile.report(out=args.profile_out)
    if args.steady_passes and run == "nodeless":
        line.update(_steady_passes(run, args.steady_passes, args.steady_profile, members))
    print(json.dumps({**line, "database": database}), flush=True)


def _steady_passes(
    run: str, count: int, profile_out: str | None, members: MemberProcesses
) -> dict[str, object]:
    """``--steady-passes``: once every workload runs and the worker has stopped, ``count`` tasks of
    the organization's passes in this process, one after the other, as beat queues one every
    ``NODELESS_FEDERATION_SECONDS`` (each deciding every workload again): what an organization of
    this size costs at rest, a pass at a time. The first task (this process's informers starting,
    its memos empty) is not counted. The members' CPU over the same passes is what the organization
    costs its clusters' API servers at rest (their controllers' own ticking included)."""
    import cProfile

    from tenants.models import Organization
    from workers.federation.runner import run_pass

    organization_id = str(Organization.objects.get(name=run).pk)
    run_pass(organization_id)
    profiler = cProfile.Profile() if profile_out else None
    walls, cpus = [], []
    members_before = members.cpu_seconds()
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        run_pass(organization_id)
        if profiler is not None:
            profiler.disable()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    members_cpu = members.cpu_seconds() - members_before
    if profiler is not None and profile_out:
        profiler.dump_stats(profile_out)
    return {
        "steady_passes": count,
        # this process's CPU: the pass, and its informers' threads taking the members' events
        "steady_pass_ms": {
            "wall_median": round(statistics.median(walls) * 1000, 1),
            "cpu_median": round(statistics.median(cpus) * 1000, 1),
            "cpu_min": round(min(cpus) * 1000, 1),
            "members_cpu_mean": round(members_cpu / count * 1000, 1),
        },
    }


if __name__ == "__main__":
    main()
