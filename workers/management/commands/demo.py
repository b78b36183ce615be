"""`make demo`: migrate, seed, then run every process of the product until Ctrl-C.

Processes: the web server (gunicorn) on 127.0.0.1:8000, a Celery worker, Celery beat, and the
simulated cloud and clusters. Ctrl-C (or SIGTERM) stops them all; if one dies, the rest are stopped
too, so a half-running demo never lingers.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from workers.demo import demo_seed
from workers.processes import demo_commands


class Command(BaseCommand):
    help = "Migrate, seed the demo organization and run web + worker + beat + simulated clusters."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--no-simulation", action="store_true", help="Do not start simulated clusters.")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        credentials = demo_seed()
        commands = demo_commands(Path(sys.executable).parent, options["bind"])
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                processes[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, start_new_session=True)
            self.stdout.write(self.style.SUCCESS(f"\nNodeless is running at http://{options['bind']}/"))
            self.stdout.write(f"  organization: {credentials.organization.name}")
            self.stdout.write(f"  e-mail:       {credentials.email}")
            self.stdout.write(f"  password:     {credentials.password}")
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
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()  # each process shuts its own children down (celery pools)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            self.stdout.write("Stopped.")
