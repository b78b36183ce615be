"""`make demo`: migrate, seed, then run the whole product until Ctrl-C.

1. migrate the embedded database and (re)create the demo owner;
2. start the simulated AWS account and clusters (`simulate`), then the web server on 127.0.0.1:8000;
3. connect the simulation the way a customer would (role with the external ID, EKS clusters in nodeless
   mode, an on-prem cluster by kubeconfig) and start the Celery worker and beat, the cluster watcher, and a
   replay of the Alibaba GPU trace into the first nodeless cluster, so spend, decisions and savings move;
   metering runs every 10 s (`NODELESS_METERING_SECONDS`) so spend shows within the first minute.
Ctrl-C (or SIGTERM) stops everything; if one process dies, the rest are stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from clusters.onboarding.aws import eks_tokens
from lab.demo.processes import (
    demo_background,
    demo_kube_endpoint,
    demo_simulation,
    demo_web,
    endpoint_certificate,
)
from lab.demo.seed import demo_connect, demo_owner, publish_template
from nodeless_saas.celery import app
from simulator.descriptor import load_descriptor

# Trace and simulated-cluster seconds per real second. The pods alive at once do not depend on it
# (arrivals and runtimes scale together), but every change does: at 300x the simulated world spent
# its time rewriting ~200 pending GPU pods' conditions, and passes waited on it past their time limit.
SPEED = 100.0
# The simulated clusters' clock: real time, so pods' and nodes' ages read true in kubectl and on the
# pages (at SPEED it ran two days ahead within half an hour); the trace still plays at SPEED, its pods'
# lifetimes compressed to this clock.
CLUSTER_CLOCK_SPEED = 1.0
# The demo's ledger interval: metering records only complete intervals, and with production's minute
# the first spend showed two to three minutes in. Ten seconds puts it on the pages within the first.
METERING_SECONDS = "10"


def discard_queued_tasks(celery_app: Celery = app) -> int:
    """Every demo starts a new simulated cloud, so what the last run left queued (launches for its
    instances, passes over its clusters) has nothing to act on: drop it rather than replay a backlog
    the new run would spend its first minutes on. The database is kept; passes repair its rows."""
    return int(celery_app.control.purge() or 0)


class Command(BaseCommand):
    help = "Migrate, seed the demo organization and run web + worker + beat + simulated clusters."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument(
            "--kube-bind", default="127.0.0.1:8443", help="where the Kubernetes endpoint is served over HTTPS"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        dropped = discard_queued_tasks()
        if dropped:
            self.stdout.write(
                f"Discarded {dropped} tasks queued by the last run (its simulated world is gone)."
            )
        credentials = demo_owner()
        bin_dir = Path(sys.executable).parent
        workdir = Path(settings.VAR_DIR) / "simulation"
        descriptor_path = workdir / "simulation.json"
        descriptor_path.unlink(missing_ok=True)
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        def start(name: str, command: list[str]) -> None:
            processes[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, start_new_session=True)

        try:
            start("simulation", demo_simulation(bin_dir, workdir, CLUSTER_CLOCK_SPEED))
            descriptor = self._wait_for(descriptor_path, processes["simulation"])
            # Every process of the demo reaches the simulated cloud and clusters, not AWS.
            os.environ["NODELESS_AWS_ENDPOINT_URL"] = descriptor.aws.endpoint_url if descriptor.aws else ""
            os.environ["NODELESS_EKS_ENDPOINT_OVERRIDES"] = descriptor.eks_endpoints_file
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo-vendor")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo-vendor")
            os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
            os.environ.setdefault("NODELESS_METERING_SECONDS", METERING_SECONDS)
            # "Launch the stack" opens the simulation's console, which reads the template the
            # product publishes (here to the simulated S3) and creates the stack in the account.
            if descriptor.aws is not None:
                os.environ["NODELESS_AWS_CONSOLE_URL"] = descriptor.aws.console_url
                os.environ["NODELESS_CFN_TEMPLATE_URL"] = publish_template(descriptor)
            settings.NODELESS_AWS_ENDPOINT_URL = os.environ["NODELESS_AWS_ENDPOINT_URL"]
            settings.NODELESS_EKS_ENDPOINT_OVERRIDES = descriptor.eks_endpoints_file
            eks_tokens.clear()
            # The Kubernetes endpoint over HTTPS (kubectl sends tokens only over TLS); the workloads
            # page's kubeconfig points there and trusts the demo's CA.
            tls_dir = Path(settings.VAR_DIR) / "endpoint-tls"
            os.environ["NODELESS_KUBE_API_URL"] = f"https://{options['kube_bind']}/k8s"
            os.environ["NODELESS_KUBE_API_CA_FILE"] = str(endpoint_certificate(tls_dir)[2])
            start("web", demo_web(bin_dir, options["bind"]))
            start("web-kube", demo_kube_endpoint(bin_dir, options["kube_bind"], tls_dir))
            nodeless = demo_connect(credentials, descriptor)
            for name, command in demo_background(
                bin_dir, replay_cluster=nodeless[0], speed=SPEED, clock_speed=CLUSTER_CLOCK_SPEED
            ).items():
                start(name, command)
            self.stdout.write(self.style.SUCCESS(f"\nNodeless is running at http://{options['bind']}/"))
            self.stdout.write(f"  organization: {credentials.organization.name}")
            self.stdout.write(f"  e-mail:       {credentials.email}")
            self.stdout.write(f"  password:     {credentials.password}")
            self.stdout.write(
                f"  clusters:     kubectl --kubeconfig {workdir / 'kubeconfig'} --context {nodeless[0]} get nodes"
            )
            self.stdout.write(
                f"  kubectl:      https://{options['kube_bind']}/k8s (Workloads -> kubeconfig, and a token "
                "from Settings -> API tokens)"
            )
            self.stdout.write(f"  trace:        the Alibaba GPU trace plays into {nodeless[0]} at {SPEED:g}x")
            self.stdout.write("Press Ctrl-C to stop everything.\n")
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with status {process.returncode}; stopping the demo."
                        )
                        stopping = True
                time.sleep(0.5)
        finally:
            # The product first, then the simulation it talks to: a worker mid-pass must not find
            # its cluster gone and print a traceback on the way out.
            simulation = processes.pop("simulation", None)
            self._stop(list(processes.values()), signal.SIGTERM)
            if simulation is not None:
                self._stop([simulation], signal.SIGINT)
            self.stdout.write("Stopped.")

    @staticmethod
    def _stop(processes: list[subprocess.Popen[bytes]], how: signal.Signals) -> None:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(how)
        deadline = time.monotonic() + 15
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()

    def _wait_for(self, path: Path, process: subprocess.Popen[bytes]) -> Any:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError("the simulation exited while starting; see its output above")
            if path.exists():
                try:
                    return load_descriptor(path)
                except (ValueError, KeyError):
                    pass  # still being written
            time.sleep(0.3)
        raise CommandError("the simulation did not start within two minutes")
