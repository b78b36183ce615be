"""`manage.py simulate`: run the simulated cloud and clusters in this process until Ctrl-C.

python manage.py simulate --clusters 2 --onprem 1 --speed 1 --boot-delay 5
kubectl --kubeconfig var/simulation/kubeconfig --context eks-1 get nodes
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from simulator.runner import Simulation, SimulationSpec


class Command(BaseCommand):
    help = "Start the simulated AWS cloud and Kubernetes clusters; write a kubeconfig; stop on Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clusters", type=int, default=2, help="EKS clusters linked to the cloud (nodeless)"
        )
        parser.add_argument("--onprem", type=int, default=1, help="static on-prem clusters")
        parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
        parser.add_argument(
            "--boot-delay", type=float, default=5.0, help="simulated seconds from launch to Ready"
        )
        parser.add_argument(
            "--pod-start-delay", type=float, default=1.0, help="simulated seconds from bind to Running"
        )
        parser.add_argument("--region", default="us-east-1")
        parser.add_argument("--seed", type=int, default=None, help="fix account ids and external ID")
        parser.add_argument(
            "--workdir", type=Path, default=Path(settings.VAR_DIR) / "simulation", help="where to write files"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        spec = SimulationSpec(
            eks_clusters=options["clusters"],
            onprem_clusters=options["onprem"],
            region=options["region"],
            speed=options["speed"],
            boot_delay=options["boot_delay"],
            pod_start_delay=options["pod_start_delay"],
            seed=options["seed"],
        )
        simulation = Simulation(spec, options["workdir"])
        signal.signal(signal.SIGINT, lambda *_: simulation.stop())
        signal.signal(signal.SIGTERM, lambda *_: simulation.stop())
        # `kill -USR2 <pid>` writes what the simulation holds, for a soak run whose memory grows.
        census_path = options["workdir"] / "memory-census.txt"
        signal.signal(signal.SIGUSR2, lambda *_: census_path.write_text(simulation.memory_census()))
        descriptor = simulation.start()
        self.stdout.write(self.style.SUCCESS("Simulation running."))
        self.stdout.write(f"descriptor: {simulation.descriptor_path}")
        self.stdout.write(f"kubeconfig: {simulation.kubeconfig_path}")
        if descriptor.aws is not None:
            self.stdout.write(f"AWS endpoint: {descriptor.aws.endpoint_url}")
        for cluster in descriptor.clusters:
            self.stdout.write(
                f"  kubectl --kubeconfig {simulation.kubeconfig_path} --context {cluster.name} get nodes"
                f"   # {cluster.kind}, {cluster.mode}"
            )
        self.stdout.write("Press Ctrl-C to stop.")
        while not simulation.wait(timeout=1.0):
            pass
        self.stdout.write("Stopped.")
