"""The federation benchmark's ``end-to-end`` case (run through ``bench/federation.py --case end-to-end``).

200 workloads submitted through the REST API to 5 simulated member clusters; a Celery worker runs
the federation loop; the clock stops when every workload is Running in the members.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Django is set up only once the throw-away database is in place
    from simulator.cluster import SimulatedCluster
    from tenants.models import Organization

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# --- end-to-end: API → federation loop (Celery) → Running in simulated member clusters ----------

E2E_DATABASE = "nodeless_bench"
E2E_STRATEGIES = ("cheapest", "spread", "most_capacity", "fill_then_burst", "pinned")
E2E_AWS_REGIONS = ("us-east-1", "us-west-2", "us-east-2")
E2E_CLIENTS = 4  # API clients submitting at once


@contextlib.contextmanager
def _throwaway_database(suffix: str = "") -> Iterator[str]:
    """Point Django at a fresh database for this run and drop it afterwards; yields its engine.
    With a ``suffix`` the database is named after the configured one (``<name>_<suffix>``), so
    benchmarks run from different checkouts, each with its own database, do not drop each other's."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        with tempfile.TemporaryDirectory(prefix="nodeless-bench-") as directory:
            os.environ["NODELESS_VAR_DIR"] = directory
            yield "sqlite"
        return
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_{suffix}" if suffix else E2E_DATABASE
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        yield "postgresql"
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _e2e_manifest(number: int, rng: random.Random) -> dict[str, object]:
    name = f"svc-{number}"
    requests = {"cpu": f"{rng.choice((100, 200, 250, 500))}m", "memory": f"{rng.choice((128, 256, 512))}Mi"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": f"team-{number % 8}", "labels": {"app": name}},
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


def end_to_end_case(workload_count: int, cluster_count: int, seed: int) -> dict[str, object]:
    with _throwaway_database() as database:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
        os.environ.setdefault("NODELESS_ENV", "test")
        os.environ.setdefault("NODELESS_LOG_LEVEL", "WARNING")  # keeps the worker's task log quiet
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return _end_to_end(workload_count, cluster_count, seed, database)


def _end_to_end(workload_count: int, cluster_count: int, seed: int, database: str) -> dict[str, object]:
    from celery.contrib.testing.worker import start_worker

    from nodeless_saas.celery import app
    from policies.models import Placement

    rng = random.Random(seed)
    organization, token, sims = _bench_organization(cluster_count)
    bodies = [
        {"manifest": _e2e_manifest(number, rng), "policy": E2E_STRATEGIES[number % len(E2E_STRATEGIES)]}
        for number in range(workload_count)
    ]
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=E2E_CLIENTS) as pool:
                chunks = [bodies[index::E2E_CLIENTS] for index in range(E2E_CLIENTS)]
                list(pool.map(lambda chunk: _submit(token, chunk), chunks))
            submitted = time.perf_counter() - started
            running = _wait_until_running(organization, workload_count, deadline=started + 900)
            seconds = time.perf_counter() - started
        placed = sum(Placement.objects.filter(organization=organization).values_list("replicas", flat=True))
        pods = _pods_running_in_members(sims)
    finally:
        for sim in sims:
            sim.stop()
    return {
        "case": "end-to-end",
        "workloads": workload_count,
        "clusters": cluster_count,
        "seconds": round(seconds, 2),
        "running": running,
        "submit_seconds": round(submitted, 2),
        "replicas_placed": placed,
        "pods_running_in_members": pods,
        "policies": list(E2E_STRATEGIES),
        "api_clients": E2E_CLIENTS,
        "database": database,
        "loop": "celery worker (solo pool, in process), passes coalesced per organization",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _bench_organization(cluster_count: int) -> tuple[Organization, str, list[SimulatedCluster]]:
    """A signed-up organization with an API token, ``cluster_count`` simulated members connected
    through the product's kubeconfig path (started: the caller stops them) and one policy per
    strategy; (organization, token, simulated clusters)."""
    from clusters.kube.kubeconfig import KubeCredentials, minimal_kubeconfig
    from clusters.services import cluster_check_run, cluster_connect_kubeconfig
    from policies.federation import services as federation
    from simulator.cluster import ClusterConfig, SimulatedCluster
    from simulator.controllers.static_nodes import StaticNodePool
    from tenants import services as tenants
    from tenants.actors import Actor

    user, organization = tenants.signup(
        email="bench@nodeless.local",
        password="bench-password-1",
        full_name="Bench",
        organization_name="Bench",
    )
    actor = Actor(user=user)
    _, token = tenants.api_token_create(organization, actor=actor, name="bench", scopes=["read", "write"])
    sims: list[SimulatedCluster] = []
    for number in range(cluster_count):
        cloud, region = ("onprem", f"dc-{number}") if number < 2 else ("aws", E2E_AWS_REGIONS[number % 3])
        sim = SimulatedCluster(
            ClusterConfig(name=f"member-{number}", static_pools=(StaticNodePool("n", 6, "m5.4xlarge"),))
        )
        sim.start()
        sims.append(sim)
        kubeconfig = minimal_kubeconfig(sim.name, KubeCredentials(sim.url, sim.ca_pem, token=sim.admin_token))
        asked = cluster_connect_kubeconfig(
            organization,
            actor=actor,
            name=sim.name,
            kubeconfig=kubeconfig,
            labels={"cloud": cloud, "region": region, "env": "prod"},
        )
        cluster_check_run(str(asked.pk))  # what the worker would do
    specs: dict[str, dict[str, object]] = {
        "cheapest": {},
        "spread": {"spread": {"weights": "capacity", "spread_by": "cluster", "max_groups": 3}},
        "most_capacity": {},
        "fill_then_burst": {"burst": {"tiers": ["cloud=onprem", "cloud=aws"]}},
        "pinned": {"pinned": [sims[-1].name, sims[-2].name]},
    }
    for strategy in E2E_STRATEGIES:
        federation.federation_policy_create(
            organization, actor=actor, data={"name": strategy, "strategy": strategy, **specs[strategy]}
        )
    return organization, token, sims


def _submit(token: str, chunk: list[dict[str, object]]) -> None:
    """One API client (a CI system) submitting its share, one request at a time."""
    from django.db import connections
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    try:
        for body in chunk:
            response = client.post("/api/v1/workloads/", body, format="json")
            if response.status_code != 201:
                raise RuntimeError(f"submit failed: {response.status_code} {response.content[:300]!r}")
    finally:
        connections.close_all()


def _wait_until_running(organization: Organization, workload_count: int, *, deadline: float) -> int:
    """How many workloads are Running once all are, or at the deadline."""
    from policies.models import Workload, WorkloadStatus

    running = 0
    while time.perf_counter() < deadline:
        running = Workload.objects.filter(organization=organization, status=WorkloadStatus.RUNNING).count()
        if running == workload_count:
            break
        time.sleep(0.1)
    return running


def _pods_running_in_members(sims: list[SimulatedCluster]) -> int:
    """Our pods Running, counted in the simulated members themselves."""
    from simulator.resources import PODS

    return sum(
        1
        for sim in sims
        for pod in sim.store.list(PODS).items
        if pod.obj["metadata"].get("labels", {}).get("nodeless.io/workload-id")
        and pod.obj.get("status", {}).get("phase") == "Running"
    )


def end_to_end_cases(args: argparse.Namespace) -> Iterator[dict[str, object]]:
    yield end_to_end_case(args.e2e_workloads, args.e2e_clusters, args.seed)
