"""`manage.py replay_trace --cluster <name> [--speed 300]`: play the Alibaba GPU trace into a cluster
Nodeless is connected to (a simulated one: the pods are annotated for the simulator's kubelet)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clusters.kube.access import cluster_api
from clusters.kube.api import ClusterApi
from clusters.models import Cluster
from lab.traces import replay as trace_replay
from lab.traces.alibaba import DEFAULT_TRACE, busiest_moment, read_alibaba_pods


class Command(BaseCommand):
    help = "Replay a trace (Alibaba OpenB pod list) into a connected cluster at a speed-up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cluster", required=True, help="the cluster's name in Nodeless")
        parser.add_argument("--organization", default="", help="organization slug, when names repeat")
        parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
        parser.add_argument("--speed", type=float, default=300.0, help="trace seconds per real second")
        parser.add_argument(
            "--start",
            type=int,
            default=None,
            help="trace second to start at (default: an hour before the busiest moment)",
        )
        parser.add_argument("--hours", type=float, default=24.0, help="trace hours to replay")
        parser.add_argument(
            "--cluster-clock-speed",
            type=float,
            default=None,
            help="how fast the cluster's clock runs (default: --speed); pod lifetimes are compressed to it",
        )
        parser.add_argument("--namespace", default="trace")
        parser.add_argument(
            "--follow",
            action="store_true",
            help="after the window, go on with the next ones; when the trace ends, stay idle "
            "until stopped (what the demo runs)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        clusters = Cluster.objects.select_related("organization", "cloud_account").filter(
            name=options["cluster"]
        )
        if options["organization"]:
            clusters = clusters.filter(organization__slug=options["organization"])
        cluster = clusters.first()
        if cluster is None:
            raise CommandError(f"no cluster named {options['cluster']!r}; see the Clusters page for names")
        pods = read_alibaba_pods(options["trace"])
        start = options["start"] if options["start"] is not None else max(busiest_moment(pods) - 3600, 0)

        def connect() -> ClusterApi:
            # The cluster's current client every time: a replay outlives EKS tokens (15 minutes).
            return cluster_api(cluster)

        trace_replay.ensure_namespace(connect, options["namespace"])
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())

        def announce(count: int, first: int, last: int) -> None:
            self.stdout.write(
                f"Replaying {count} pods of {options['trace'].name} into {cluster.name} at "
                f"{options['speed']:g}x (trace seconds {first}-{last})"
            )

        created = trace_replay.replay_windows(
            connect,
            pods,
            start=start,
            window=int(options["hours"] * 3600),
            speed=options["speed"],
            namespace=options["namespace"],
            trace=options["trace"].stem,
            stop=stop,
            follow=options["follow"],
            announce=announce,
            clock_speed=options["cluster_clock_speed"],
        )
        self.stdout.write(f"Created {created} pods.")
