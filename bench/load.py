"""Load run of the API: concurrent clients mixing reads and writes against gunicorn on PostgreSQL.

    make bench-load            # PostgreSQL + Redis on 127.0.0.1 (uses a throw-away database)

1. seeds a throw-away database: one organization, one API token per client, federation policies
   and workloads (pending: no member cluster, so the loop has nothing to do and every write is the
   API's own work);
2. starts gunicorn with production settings (DEBUG off, the API's throttle raised out of the way —
   the run measures the API, not the limiter; `NODELESS_API_TOKEN_RATE` is what it overrides) on a
   loopback port;
3. runs `--clients` threads for `--seconds`: each owns one field of one object (a policy's
   description or grace period, a workload's replicas or egress) and PATCHes it with values of
   its own, and reads (lists, details, the usage report) in between;
4. checks afterwards that every field holds its owner's last acknowledged write (a lost update
   is one that does not) and that no two acknowledged updates of one policy got the same version.

One JSON object per line: {"case": "reads"|"writes"|"all", "requests", "per_second", "p50_ms",
"p95_ms", "p99_ms", "errors"} and {"case": "consistency", "lost_updates", "reused_versions"}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
os.environ.setdefault("NODELESS_ENV", "test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from policies.federation import services as federation  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.actors import Actor  # noqa: E402
from tenants.models import AuditEvent  # noqa: E402
from tests.fixtures.production import gunicorn, production_environment  # noqa: E402

READS = ("/api/v1/workloads/", "/api/v1/federation-policies/", "/api/v1/clusters/", "/api/v1/organization/")


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1) if ordered else 0.0


def _deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "load"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "nginx",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }


@dataclass
class Owned:
    """One field of one object a client writes; `last` is its last acknowledged value."""

    path: str
    name: str
    shown_as: str = ""  # the field's name when read back, when it differs
    with_it: dict[str, Any] = field(default_factory=dict)  # what the API wants sent along
    last: Any = None


def seed(clients: int) -> tuple[list[str], list[Owned]]:
    owner = tenant_services.signup(
        email="load@bench.example", password="a-long-bench-passphrase", organization_name="Load"
    )
    user, organization = owner
    actor = Actor(user=user)
    tokens = [
        tenant_services.api_token_create(
            organization, actor=actor, name=f"client {i}", scopes=["read", "write"]
        )[1]
        for i in range(clients)
    ]
    owned: list[Owned] = []
    pairs = (clients + 1) // 2
    for i in range(pairs):
        if i % 2 == 0:
            policy = federation.federation_policy_create(
                organization, actor=actor, data={"name": f"policy-{i}", "strategy": "cheapest"}
            )
            path = f"/api/v1/federation-policies/{policy.pk}/"
            owned += [Owned(path, "description"), Owned(path, "grace_period_seconds")]
        else:
            workload = federation.workload_submit(
                organization, actor=actor, manifest=_deployment(f"web-{i}"), policy=None
            )
            path = f"/api/v1/workloads/{workload.pk}/"
            owned += [
                Owned(path, "replicas", "desired_replicas"),
                Owned(path, "egress_gb_per_hour", with_it={"data_location": "aws/us-east-1"}),
            ]
    return tokens, owned[:clients]


def _value(owned: Owned, client: int, n: int) -> Any:
    if owned.name == "description":
        return f"client {client} write {n}"
    if owned.name == "grace_period_seconds":
        return 60 + (client * 1000 + n) % 80_000
    if owned.name == "replicas":
        return 1 + n % 50
    return f"{(client * 1000 + n) % 9999}.5"


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    read_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, ms: float, response: requests.Response | None, expected: int) -> None:
        status = response.status_code if response is not None else 0
        with self.lock:
            (self.read_ms if kind == "read" else self.write_ms).append(ms)
            if status != expected:
                self.errors[f"{kind} {status}"] += 1
                self.first_error.setdefault(
                    f"{kind} {status}", response.text[:300] if response is not None else ""
                )


def client_loop(
    base: str, token: str, owned: Owned, number: int, until: float, write_share: float, tally: Tally
) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rng, writes = random.Random(number), 0
    while time.monotonic() < until:
        began = time.perf_counter()
        if rng.random() < write_share:
            writes += 1
            value = _value(owned, number, writes)
            body = {owned.name: value, **owned.with_it}
            written: requests.Response | None = None
            with contextlib.suppress(requests.RequestException):
                written = session.patch(base + owned.path, json=body, timeout=30)
            if written is not None and written.status_code == 200:
                owned.last = value
            tally.add("write", (time.perf_counter() - began) * 1000, written, 200)
        else:
            path = rng.choice([*READS, owned.path])
            read: requests.Response | None = None
            with contextlib.suppress(requests.RequestException):
                read = session.get(base + path, timeout=30)
            tally.add("read", (time.perf_counter() - began) * 1000, read, 200)


def _same(shown: dict[str, Any], item: Owned) -> bool:
    current = shown[item.shown_as or item.name]
    return bool(current == item.last) if item.name == "description" else float(current) == float(item.last)


def consistency(base: str, token: str, owned: list[Owned]) -> dict[str, int]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    lost = sum(
        1
        for item in owned
        if item.last is not None and not _same(session.get(base + item.path, timeout=30).json(), item)
    )
    versions = Counter(
        (event.target_id, event.metadata.get("version"))
        for event in AuditEvent.objects.filter(action="federation_policy.update")
    )
    return {"lost_updates": lost, "reused_versions": sum(1 for count in versions.values() if count > 1)}


def production_server(workers: int, threads: int) -> contextlib.AbstractContextManager[int]:
    """docker-compose.yml's web command and environment (tests/fixtures/production.py), on this
    machine's PostgreSQL and Redis, served over plain HTTP on 127.0.0.1 with the API's throttle lifted."""
    db = connection.settings_dict
    env = production_environment(
        database_url=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        redis_url=str(settings.REDIS_URL),
        broker_url=str(settings.CELERY_BROKER_URL),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        NODELESS_API_TOKEN_RATE="1000000/min",
    )
    return gunicorn(env, workers=workers, extra=("--threads", str(threads), "--log-level", "warning"))


def run(args: argparse.Namespace) -> None:
    tokens, owned = seed(args.clients)
    with production_server(args.workers, args.threads) as port:
        base, tally = f"http://127.0.0.1:{port}", Tally()
        until = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=client_loop, args=(base, tokens[i], owned[i], i, until, args.write_share, tally)
            )
            for i in range(args.clients)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        for case, samples, prefix in (
            ("reads", tally.read_ms, "read"),
            ("writes", tally.write_ms, "write"),
            ("all", tally.read_ms + tally.write_ms, ""),
        ):
            emit(
                case=case,
                requests=len(samples),
                per_second=round(len(samples) / elapsed, 1),
                p50_ms=percentile(samples, 0.5),
                p95_ms=percentile(samples, 0.95),
                p99_ms=percentile(samples, 0.99),
                errors={k: v for k, v in tally.errors.items() if k.startswith(prefix)},
            )
        emit(case="consistency", **consistency(base, tokens[0], owned))
        for kind, body in tally.first_error.items():
            emit(case="first error", kind=kind, body=body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--write-share", type=float, default=0.3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/load.py needs PostgreSQL: set DATABASE_URL (make bench-load does)")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    emit(
        case="setup",
        clients=args.clients,
        seconds=args.seconds,
        write_share=args.write_share,
        gunicorn=f"{args.workers} workers x {args.threads} threads",
        settings="production",
    )
    try:
        run(args)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
