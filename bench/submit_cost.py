"""What one workload submission costs the product's process, on both ways in.

    NODELESS_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/nodeless_cost \\
        REDIS_URL=redis://127.0.0.1:6379/3 CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \\
        python bench/submit_cost.py --posts 300

Signs up an organization with an API token and a federation policy in a throw-away database, then
submits ``--posts`` Deployments one after the other (one client, no worker running) through:

- ``rest``: ``POST /api/v1/workloads/`` with ``{"manifest": {...}, "policy": name}``, as the
  federation fleet bench's clients do;
- ``endpoint``: ``POST /k8s/apis/apps/v1/namespaces/<ns>/deployments`` with the Deployment itself,
  its policy named by the ``policy.nodeless.io/name`` annotation (namespaces created beforehand);
- ``apply``: the same Deployments by server-side apply (``PATCH`` with
  ``application/apply-patch+yaml``, field manager ``flux``), each creating its object;
- ``reapply``: those applied again unchanged (created first, outside the clock), as a GitOps tool
  does every few minutes;
- ``rollout``: those applied again with a new image (created first, outside the clock), as a
  rollout does.

Both go through Django's whole stack in process (DRF's APIClient: middleware, authentication,
parsing, the view, the services, the response), which is where the fleet bench's submissions spend
their CPU. Printed per path: CPU milliseconds of this process per POST (mean and median; PostgreSQL
and Redis run elsewhere and are not counted), wall milliseconds, and SQL queries per POST.
``--profile rest|endpoint`` prints the top functions of that path under cProfile (CPU time; the
stats are kept in ``/tmp/submit_cost_<path>.pstats``) and ``--queries`` the SQL of one POST per
path, instead. Compare a change by running the same command on both checkouts, one after the
other: the machine is shared, so the figures move with its load (printed with each line).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.federation_e2e import _throwaway_database  # noqa: E402

NAMESPACES = 8
POLICY = "cheapest"
POLICY_ANNOTATION = "policy.nodeless.io/name"  # policies.kubeapi.federation.POLICY_ANNOTATION
WARMUP = 20
PATHS = ("rest", "endpoint", "apply", "reapply", "rollout")
# Paths that apply again what they created first, outside the clock.
AGAIN = ("reapply", "rollout")


def deployment(namespace: str, number: int, *, annotated: bool, image: str = "nginx:1.27") -> dict[str, Any]:
    name = f"svc-{number}"
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"app": name}}
    if annotated:
        metadata["annotations"] = {POLICY_ANNOTATION: POLICY}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1 + number % 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }


def _setup() -> str:
    from policies.federation import services as federation
    from tenants import services as tenants
    from tenants.actors import Actor

    user, organization = tenants.signup(
        email="cost@nodeless.local", password="bench-password-1", full_name="Cost", organization_name="cost"
    )
    actor = Actor(user=user)
    _, token = tenants.api_token_create(organization, actor=actor, name="cost", scopes=["read", "write"])
    federation.federation_policy_create(
        organization, actor=actor, data={"name": POLICY, "strategy": "cheapest"}
    )
    return token


def _request(path: str, number: int) -> tuple[str, str, str, str, int]:
    """(method, URL path, body, content type, the status it must answer) of submission ``number``."""
    if path == "rest":
        body = {
            "manifest": deployment(f"rest-{number % NAMESPACES}", number, annotated=False),
            "policy": POLICY,
        }
        return "POST", "/api/v1/workloads/", json.dumps(body), "application/json", 201
    namespace = f"k8s-{number % NAMESPACES}"
    collection = f"/k8s/apis/apps/v1/namespaces/{namespace}/deployments"
    image = "nginx:1.28" if path == "rollout" else "nginx:1.27"
    obj = json.dumps(deployment(namespace, number, annotated=True, image=image))
    if path == "endpoint":
        return "POST", collection, obj, "application/json", 201
    # JSON is YAML: the apply's body as kubectl --server-side sends it, field manager ``flux``.
    url = f"{collection}/svc-{number}?fieldManager=flux"
    return "PATCH", url, obj, "application/apply-patch+yaml", 201 if path == "apply" else 200


def _namespaces(token: str) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for index in range(NAMESPACES):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"k8s-{index}"}}
        response = client.post("/k8s/api/v1/namespaces", namespace, format="json")
        if response.status_code not in (201, 409):  # 409: an earlier path made it
            raise RuntimeError(f"namespace: {response.status_code} {response.content[:300]!r}")


def _poster(path: str, token: str) -> Callable[[int], None]:
    """One submission of workload ``number`` on ``path`` through Django's stack in this process;
    raises unless it answered as it must."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    if path != "rest":
        _namespaces(token)

    def post(number: int) -> None:
        method, url, body, content_type, expected = _request(path, number)
        response = client.generic(method, url, body, content_type=content_type)
        if response.status_code != expected:
            raise RuntimeError(f"{path}: {response.status_code} {response.content[:300]!r}")

    return post


def _ready(path: str, token: str, first: int, count: int) -> Callable[[int], None]:
    """``_poster(path)``, with what ``reapply`` and ``rollout`` apply again (``count`` from
    ``first``) created."""
    if path in AGAIN:
        create = _poster("apply", token)
        for number in range(first, first + count):
            create(number)
    return _poster(path, token)


class QueryCounter:
    """Counts the statements, and times how long each POST holds the organization's
    resourceVersion counter (``policies.kubeapi.store.lock``): from its ``SELECT ... FOR UPDATE``
    until its commit returns (not counting what runs after it, such as the enqueued pass). Every
    write through the endpoint waits for that lock, so one organization's writes cannot go faster
    than one per hold, however many cores serve the API."""

    def __init__(self) -> None:
        from django.db import connection

        self.count = 0
        self.held: list[float] = []
        self._locked_at: float | None = None
        commit = connection._commit  # type: ignore[attr-defined]  # the backend's own commit

        def timed_commit() -> None:
            commit()
            if self._locked_at is not None:
                self.held.append(time.perf_counter() - self._locked_at)
                self._locked_at = None

        connection._commit = timed_commit  # type: ignore[attr-defined]

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        if "FOR UPDATE" in sql and "kubecounter" in sql and self._locked_at is None:
            self._locked_at = time.perf_counter()
        return execute(sql, params, many, context)


def measure(path: str, token: str, posts: int, first: int) -> dict[str, object]:
    from django.db import connection

    post = _ready(path, token, first, WARMUP + posts)
    for number in range(first, first + WARMUP):
        post(number)
    cpu: list[float] = []
    wall: list[float] = []
    queries = QueryCounter()
    with connection.execute_wrapper(queries):
        for number in range(first + WARMUP, first + WARMUP + posts):
            started, started_cpu = time.perf_counter(), time.process_time()
            post(number)
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
    return {
        "path": path,
        "posts": posts,
        "cpu_ms_per_post": round(1000 * statistics.mean(cpu), 2),
        "cpu_ms_median": round(1000 * statistics.median(cpu), 2),
        "wall_ms_per_post": round(1000 * statistics.mean(wall), 2),
        "queries_per_post": round(queries.count / posts, 1),
        **(
            {"counter_lock_ms_per_post": round(1000 * statistics.mean(queries.held), 2)}
            if queries.held
            else {}
        ),
    }


def measure_served(
    path: str, token: str, posts: int, first: int, *, clients: int, workers: int
) -> dict[str, object]:
    """``--served``: the submissions over HTTP to the API as production serves it (gunicorn with
    ``workers`` processes, ``bench.federation_processes.ApiServer``), from ``clients`` threads at
    once: how many one organization gets through per second when its writes contend, with the
    gunicorn and PostgreSQL CPU they cost. Nothing consumes the passes they enqueue."""
    import requests

    from bench.federation_processes import ApiServer, database_cpu_seconds

    _ready(path, token, first, WARMUP + posts)  # the namespaces (and what reapply applies again)
    api = ApiServer(workers, "web" if path == "rest" else "kube")  # as production routes them
    latencies: list[float] = []

    def send_all(numbers: range) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        for number in numbers:
            method, url, body, content_type, expected = _request(path, number)
            sent = time.perf_counter()
            response = session.request(
                method, api.base + url, data=body, headers={"Content-Type": content_type}, timeout=60
            )
            latencies.append(time.perf_counter() - sent)
            if response.status_code != expected:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]!r}")

    try:
        send_all(range(first, first + WARMUP))
        latencies.clear()
        api_cpu, database_cpu = api.cpu_seconds(), database_cpu_seconds()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            shares = [
                range(first + WARMUP + client, first + WARMUP + posts, clients) for client in range(clients)
            ]
            for done in [pool.submit(send_all, share) for share in shares]:
                done.result()
        seconds = time.perf_counter() - started
        api_cpu, database_cpu = api.cpu_seconds() - api_cpu, database_cpu_seconds() - database_cpu
    finally:
        api.stop()
    latencies.sort()
    return {
        "path": path,
        "posts": posts,
        "clients": clients,
        "api_workers": workers,
        "posts_per_second": round(posts / seconds, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
        "api_cpu_ms_per_post": round(1000 * api_cpu / posts, 2),
        "postgresql_cpu_ms_per_post": round(1000 * database_cpu / posts, 2),
    }


def show_queries(path: str, token: str, first: int) -> None:
    """The statements of one submission (after one, so the token's last use is already recorded)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post = _ready(path, token, first, 2)
    post(first)
    with CaptureQueriesContext(connection) as captured:
        post(first + 1)
    print(f"{path}: {len(captured.captured_queries)} queries")
    for query in captured.captured_queries:
        print("   ", query["sql"][:160])


def profile(path: str, token: str, posts: int) -> None:
    import cProfile
    import io
    import pstats

    post = _ready(path, token, 0, WARMUP + posts)
    for number in range(WARMUP):
        post(number)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for number in range(WARMUP, WARMUP + posts):
        post(number)
    profiler.disable()
    profiler.dump_stats(f"/tmp/submit_cost_{path}.pstats")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)
    print(text.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--path", choices=(*PATHS, "both"), default="both")
    parser.add_argument("--profile", choices=PATHS, help="cProfile one path instead")
    parser.add_argument("--queries", action="store_true", help="print the SQL of one POST per path")
    parser.add_argument(
        "--served",
        type=int,
        metavar="WORKERS",
        help="send the submissions over HTTP to gunicorn with WORKERS processes, from --clients threads",
    )
    parser.add_argument("--clients", type=int, default=4, help="with --served: threads submitting at once")
    args = parser.parse_args()
    with _throwaway_database(suffix="submitcost"):
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
        os.environ.setdefault("NODELESS_ENV", "test")
        os.environ.setdefault("NODELESS_LOG_LEVEL", "WARNING")
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        token = _setup()
        if args.profile:
            profile(args.profile, token, args.posts)
            return
        paths = ("rest", "endpoint") if args.path == "both" else (args.path,)
        if args.queries:
            for offset, path in enumerate(paths):
                show_queries(path, token, first=offset * 100_000)
            return
        load = os.getloadavg()[0]
        for offset, path in enumerate(paths):
            line = (
                measure_served(
                    path, token, args.posts, first=offset * 100_000, clients=args.clients, workers=args.served
                )
                if args.served
                else measure(path, token, args.posts, first=offset * 100_000)
            )
            print(json.dumps({**line, "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)]}))


if __name__ == "__main__":
    main()
