"""Connecting clusters whose API server is a port that accepts TCP and never speaks TLS (issue 17).

    make bench-hostile-connect     # PostgreSQL + Redis on 127.0.0.1 (uses a throw-away database)

1. baseline, in this process: how long checking such a cluster takes (`cluster_check_run`, what the
   connect request itself used to do) — the time a request thread was held;
2. gunicorn with production settings (docker-compose.yml's web command, 1 worker x 4 threads, loopback
   allowed as a cluster network) takes `--clusters` concurrent POST /api/v1/clusters/ at such a port,
   while /healthz is asked alongside.

One JSON object per line: {"case": "baseline", "check_s"} and {"case": "connect", "posts",
"post_max_ms", "statuses", "healthz_ms"}. The POSTs should answer in milliseconds and /healthz stay
unaffected, against a baseline of seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import certifi
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
os.environ.setdefault("NODELESS_ENV", "test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from clusters import services as cluster_services  # noqa: E402
from clusters.kube.kubeconfig import KubeCredentials, minimal_kubeconfig  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.actors import Actor  # noqa: E402
from tests.fixtures.production import gunicorn, production_environment  # noqa: E402


def _any_ca() -> str:
    """A well-formed CA certificate (the first of certifi's bundle): the handshake never gets far
    enough to use it."""
    text = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    return text[text.index("-----BEGIN CERTIFICATE-----") : text.index(end) + len(end)] + "\n"


CA_PEM = _any_ca()


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def kubeconfig(server: str) -> str:
    return minimal_kubeconfig("silent", KubeCredentials(server, CA_PEM, token="t" * 32))


def baseline(organization: Any, actor: Actor, server: str) -> float:
    cluster = cluster_services.cluster_connect_kubeconfig(
        organization, actor=actor, name="baseline", kubeconfig=kubeconfig(server)
    )
    began = time.perf_counter()
    cluster_services.cluster_check_run(str(cluster.pk))
    return time.perf_counter() - began


def connect_all(base: str, token: str, server: str, count: int) -> dict[str, Any]:
    posts: list[tuple[int, float]] = []
    healthz: list[float] = []

    def post(index: int) -> None:
        began = time.perf_counter()
        response = requests.post(
            f"{base}/api/v1/clusters/",
            json={"name": f"silent-{index}", "kubeconfig": kubeconfig(server)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        posts.append((response.status_code, (time.perf_counter() - began) * 1000))

    def health() -> None:
        time.sleep(0.05)  # once the POSTs are in
        began = time.perf_counter()
        requests.get(f"{base}/healthz", timeout=60)
        healthz.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(count)]
    threads.append(threading.Thread(target=health))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "posts": len(posts),
        "post_max_ms": round(max(ms for _, ms in posts), 1),
        "statuses": sorted({status for status, _ in posts}),
        "healthz_ms": round(healthz[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=4)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/hostile_connect.py needs PostgreSQL: set DATABASE_URL")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)
    server = f"https://127.0.0.1:{silent.getsockname()[1]}"
    try:
        user, organization = tenant_services.signup(
            email="hostile@bench.example", password="a-long-bench-passphrase", organization_name="Hostile"
        )
        actor = Actor(user=user)
        _, token = tenant_services.api_token_create(
            organization, actor=actor, name="bench", scopes=["read", "write", "admin"]
        )
        emit(case="baseline", check_s=round(baseline(organization, actor, server), 2))
        db = connection.settings_dict
        env = production_environment(
            database_url=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            redis_url=str(settings.REDIS_URL),
            broker_url=str(settings.CELERY_BROKER_URL),
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            SECURE_SSL_REDIRECT="false",
            NODELESS_CLUSTER_NETWORKS="public,private,loopback",
        )
        with gunicorn(env, workers=1, extra=("--threads", "4", "--log-level", "warning")) as port:
            emit(case="connect", **connect_all(f"http://127.0.0.1:{port}", token, server, args.clusters))
    finally:
        silent.close()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
