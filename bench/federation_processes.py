"""The processes of ``bench/federation_fleet.py``: the simulated members (in processes of their
own, as a customer's clusters are not the product's), the Celery worker (its own process, as in
production) and the in-process pass profile (``--profile``)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD_LABEL = "nodeless.io/workload-id"


@dataclass(frozen=True)
class MemberAddress:
    name: str
    url: str
    ca_pem: str
    token: str


def _members_process(first: int, count: int, connection: Connection) -> None:
    """Simulated members ``first`` .. ``first + count - 1``, in a process of their own: start them,
    send their addresses, then
    answer "report" with when each workload's Deployment first appeared in each member
    ((workload id, member) -> perf_counter), and stop on "stop"."""
    from simulator.cluster import ClusterConfig, SimulatedCluster
    from simulator.controllers.static_nodes import StaticNodePool
    from simulator.resources import DEPLOYMENTS

    first_seen: dict[tuple[str, str], float] = {}
    lock = threading.Lock()

    def listener(member: str) -> Any:
        def listen(resource: Any, event: Any) -> None:
            if resource.key != DEPLOYMENTS.key or event.type != "ADDED":
                return
            workload = (event.current.obj["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
            if workload:
                with lock:
                    first_seen.setdefault((str(workload), member), time.perf_counter())

        return listen

    sims = []
    for number in range(first, first + count):
        config = ClusterConfig(
            name=f"member-{number}",
            static_pools=(StaticNodePool("n", 4, "m5.4xlarge"),),
            record_events=False,
            pod_start_delay=0.5,
        )
        sim = SimulatedCluster(config)
        sim.start()
        sim.store.add_listener(listener(sim.name))
        sims.append(sim)
    connection.send([MemberAddress(sim.name, sim.url, sim.ca_pem, sim.admin_token) for sim in sims])
    try:
        while (message := connection.recv()) != "stop":
            if message == "report":
                with lock:
                    connection.send(dict(first_seen))
            elif message == "cpu":
                connection.send(time.process_time())
    finally:
        for sim in sims:
            sim.stop()


class PassProfile:
    """``--profile``: every federation pass of the run under cProfile (the worker runs passes in
    its own thread, where a whole-process profile does not look): the pass proper, the stand-alone
    objects and the endpoint's status sync, printed as the top functions by cumulative time, with
    the seconds each step took."""

    STEPS = ("federation_rows_by_organization_id", "_run", "run_standalone", "statuses_sync")

    def __init__(self) -> None:
        import cProfile

        from workers.federation import runner

        self.runner = runner
        self.originals = {step: getattr(runner, step) for step in self.STEPS}
        self.profile = cProfile.Profile()
        self.lock = threading.Lock()
        self.passes = 0
        self.seconds = dict.fromkeys(self.STEPS, 0.0)
        for step, original in self.originals.items():
            setattr(runner, step, self._profiled(step, original))

    def _profiled(self, step: str, original: Any) -> Any:
        def profiled(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                started = time.perf_counter()
                try:
                    return self.profile.runcall(original, *args, **kwargs)
                finally:
                    self.passes += step == "_run"
                    self.seconds[step] += time.perf_counter() - started

        return profiled

    def report(self, top: int = 45, out: str | None = None) -> None:
        import io
        import pstats

        for step, original in self.originals.items():
            setattr(self.runner, step, original)
        if out:
            self.profile.dump_stats(out)
        text = io.StringIO()
        pstats.Stats(self.profile, stream=text).sort_stats("cumulative").print_stats(top)
        spent = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.seconds.items())
        print(f"profile: {self.passes} passes; {spent}", file=sys.stderr)
        print(text.getvalue(), file=sys.stderr, flush=True)


class MemberProcesses:
    """The members spread over ``processes`` processes of their own (a real member is an API server
    of its own; one process serving 100 of them, their controllers and kubelets included, answers
    each apply in tens of milliseconds under load, and that wait, not the product, bounded the run)."""

    def __init__(self, clusters: int, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.connections: list[Connection] = []
        self.processes = []
        self.addresses: list[MemberAddress] = []
        shares = [
            clusters // processes + (1 if index < clusters % processes else 0) for index in range(processes)
        ]
        first = 0
        for share in shares:
            parent, child = context.Pipe()
            process = context.Process(target=_members_process, args=(first, share, child))
            process.start()
            self.connections.append(parent)
            self.processes.append(process)
            first += share
        for connection in self.connections:
            self.addresses += connection.recv()

    def first_seen(self) -> dict[tuple[str, str], float]:
        seen: dict[tuple[str, str], float] = {}
        for connection in self.connections:
            connection.send("report")
        for connection in self.connections:
            seen.update(connection.recv())
        return seen

    def cpu_seconds(self) -> float:
        """CPU the members' processes have used so far."""
        for connection in self.connections:
            connection.send("cpu")
        return sum(float(connection.recv()) for connection in self.connections)

    def stop(self) -> None:
        for connection in self.connections:
            connection.send("stop")
        for process in self.processes:
            process.join(timeout=60)


class WorkerProcess:
    """The Celery worker in a process of its own, as in production (web and workers are separate
    processes there): the API clients of the run and the worker then each have a core and an
    interpreter lock of their own. ``apply_threads`` is its NODELESS_FEDERATION_APPLY_THREADS."""

    def __init__(self, apply_threads: int) -> None:
        import subprocess

        environment = {**os.environ, "NODELESS_FEDERATION_APPLY_THREADS": str(apply_threads)}
        command = [sys.executable, "-m", "celery", "-A", "nodeless_saas", "worker", "--pool", "solo"]
        self.process = subprocess.Popen(
            [
                *command,
                "--loglevel",
                os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"),  # DEBUG: each pass's report
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=environment,
        )

    def cpu_seconds(self) -> float:
        """CPU the worker has used so far (Linux: user + system time from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


class ApiServer:
    """``--api-workers``: the API served as production serves it (docker-compose.yml's gunicorn,
    production settings, ``workers`` processes) on a loopback port, with this process's database,
    broker and keys (the worker decrypts what the API stores), the API's throttle lifted.
    ``service``: ``web`` (the REST API) or ``kube`` (the Kubernetes endpoint's threads)."""

    def __init__(self, workers: int, service: str = "web") -> None:
        from django.conf import settings

        from tests.fixtures.production import gunicorn, production_environment_here

        env = production_environment_here(
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            SECURE_SSL_REDIRECT="false",
            NODELESS_API_TOKEN_RATE="1000000/min",
            DJANGO_SECRET_KEY=settings.SECRET_KEY,
            NODELESS_ENCRYPTION_KEYS=",".join(settings.NODELESS_ENCRYPTION_KEYS),
        )
        self.workers, self.service = workers, service
        self._server = gunicorn(env, workers=workers, extra=("--log-level", "warning"), service=service)
        self.port = self._server.__enter__()
        self.base = f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU gunicorn's processes have used so far (its master and workers share its command line)."""
        return processes_cpu_seconds(f"127.0.0.1:{self.port}")

    def stop(self) -> None:
        self._server.__exit__(None, None, None)


def processes_cpu_seconds(marker: str) -> float:
    """CPU used so far by the running processes whose command line holds ``marker`` (Linux: user +
    system time from /proc). A process that ended is no longer counted."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() not in stat.read_bytes():
                continue
            fields = (stat.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def database_cpu_seconds() -> float:
    """CPU of the PostgreSQL backends serving this process's database so far (each backend's
    command line names its database; Django keeps its connections open, ``CONN_MAX_AGE``)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    return processes_cpu_seconds(f" {connection.settings_dict['NAME']} ")
