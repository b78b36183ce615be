"""The processes `make demo` starts: the product's own (`workers.processes`), with the demo's flags,
and the simulation and trace replay beside them."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from simulator.tls import issue_server_certificate
from workers.processes import BEAT, WATCHER, WEB, WORKER, federation_worker_flags, general_worker_flags


def local(bin_dir: Path, command: list[str]) -> list[str]:
    return [str(bin_dir / command[0]), *command[1:]]


def demo_web(bin_dir: Path, bind: str) -> list[str]:
    return [
        *local(bin_dir, WEB),
        "--bind",
        bind,
        "--workers",
        "2",
        "--threads",
        "4",
        "--log-level",
        "warning",
    ]


def demo_kube_endpoint(bin_dir: Path, bind: str, tls_dir: Path) -> list[str]:
    """The product's web command over HTTPS, for the Kubernetes endpoint: kubectl sends API tokens
    only over TLS, and the demo's pages are plain HTTP. Same app, database and settings as ``web``;
    threads enough for watches, which last minutes (docker-compose.yml's ``kube``)."""
    cert, key, _ = endpoint_certificate(tls_dir)
    return [
        *local(bin_dir, WEB),
        "--bind",
        bind,
        "--workers",
        "1",
        "--threads",
        "32",
        "--log-level",
        "warning",
        "--certfile",
        str(cert),
        "--keyfile",
        str(key),
    ]


def endpoint_certificate(tls_dir: Path) -> tuple[Path, Path, Path]:
    """(certificate, key, CA) for 127.0.0.1 under ``tls_dir``, issued by a CA of the demo's own on
    first use and kept (a kubeconfig downloaded once keeps working across restarts)."""
    cert, key, ca = tls_dir / "endpoint.pem", tls_dir / "endpoint-key.pem", tls_dir / "ca.pem"
    if not (cert.exists() and key.exists() and ca.exists()):
        issued = issue_server_certificate("nodeless-demo")
        tls_dir.mkdir(parents=True, exist_ok=True)
        key.touch(mode=0o600)
        key.write_text(issued.key_pem)
        cert.write_text(issued.cert_pem)
        ca.write_text(issued.ca_pem)
    return cert, key, ca


def demo_simulation(bin_dir: Path, workdir: Path, speed: float) -> list[str]:
    """Two EKS-like clusters (nodeless) and one on-prem cluster; a fixed seed keeps account ids and
    cluster names stable across restarts, so the demo database stays valid. At `speed` 1 the
    clusters' clock is the real one (pods' ages read true in kubectl) and nodes boot in 45 s."""
    return [
        str(bin_dir / "python"),
        "manage.py",
        "simulate",
        "--clusters",
        "2",
        "--onprem",
        "1",
        "--speed",
        f"{speed:g}",
        "--boot-delay",
        "45" if speed == 1 else "90",
        "--pod-start-delay",
        "3" if speed == 1 else "10",
        "--seed",
        "7",
        "--workdir",
        str(workdir),
    ]


def demo_background(
    bin_dir: Path, *, replay_cluster: str, speed: float, clock_speed: float | None = None
) -> dict[str, list[str]]:
    return {
        "worker": [
            *local(bin_dir, WORKER),
            *general_worker_flags(settings.NODELESS_FEDERATION_QUEUES),
            "--loglevel",
            "WARNING",
            "--concurrency",
            "2",
        ],
        "federation": [
            *local(bin_dir, WORKER),
            *federation_worker_flags(settings.NODELESS_FEDERATION_QUEUES),
            "--loglevel",
            "WARNING",
        ],
        "beat": [*local(bin_dir, BEAT), "--loglevel", "WARNING"],
        "watcher": local(bin_dir, WATCHER),
        "replay": [
            *local(bin_dir, ["python", "manage.py", "replay_trace"]),
            "--cluster",
            replay_cluster,
            "--speed",
            f"{speed:g}",
            "--follow",  # the demo runs until Ctrl-C: its replay must not end after one window
            *(["--cluster-clock-speed", f"{clock_speed:g}"] if clock_speed else []),
        ],
    }
