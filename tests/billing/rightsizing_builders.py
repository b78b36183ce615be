"""Usage history for right-sizing tests, through the real write path: metering reads built by hand
(pods as the API serves them, container usage as metrics.k8s.io reports it) recorded with
`usage_history_record`, and the ledger the saving's replicas come from (`record_minutes`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from billing.services.samples import ClusterRead
from billing.services.usage_history import usage_history_record
from clusters.models import Cluster
from engines.kube.cluster import cluster_state
from engines.kube.pods import Pod
from engines.metering import PodSample, Quantities
from engines.metering.windows import floor_hour
from tests.billing.ledger_builders import record_minutes, shop_nodes


@dataclass
class FakePod:
    """One pod of a workload: its container's requests (and limits), where it runs, and what it uses."""

    name: str
    namespace: str
    owner: tuple[str, str]  # (kind, name) of its controller; a Deployment's pods name their ReplicaSet
    requests: dict[str, str]
    limits: dict[str, str] = field(default_factory=dict)
    node: str = "od-1"
    container: str = "app"
    oom_at: str = ""  # finishedAt of an OOM kill in its container's last state

    def raw(self) -> dict[str, Any]:
        kind, name = self.owner
        labels = {}
        if kind == "Deployment":
            labels["pod-template-hash"] = "5d8f9c7b6"
            kind, name = "ReplicaSet", f"{name}-5d8f9c7b6"
        status: dict[str, Any] = {"name": self.container, "restartCount": 0, "state": {"running": {}}}
        if self.oom_at:
            status["restartCount"] = 1
            status["lastState"] = {
                "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": self.oom_at}
            }
        resources: dict[str, Any] = {"requests": self.requests}
        if self.limits:
            resources["limits"] = self.limits
        return {
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": f"uid-{self.namespace}-{self.name}",
                "labels": labels,
                "ownerReferences": [{"kind": kind, "name": name, "uid": f"uid-{name}", "controller": True}],
            },
            "spec": {"nodeName": self.node, "containers": [{"name": self.container, "resources": resources}]},
            "status": {"phase": "Running", "containerStatuses": [status]},
        }

    def sample(self) -> PodSample:
        """The pod as metering prices it (for the ledger the replicas come from)."""
        cpu = float(self.requests["cpu"].removesuffix("m")) / (
            1000 if self.requests["cpu"].endswith("m") else 1
        )
        memory = self.requests["memory"]
        gib = (
            float(memory.removesuffix("Gi"))
            if memory.endswith("Gi")
            else float(memory.removesuffix("Mi")) / 1024
        )
        kind, name = self.owner
        return PodSample(self.namespace, self.name, f"{kind}/{name}", self.node, Quantities(cpu, gib))


def read_of(pods: list[FakePod], usage: dict[str, Quantities], at: datetime) -> ClusterRead:
    """One metering read: the pods, and each pod's container usage (pods absent from `usage` were
    not measured)."""
    state = cluster_state([Pod(pod.raw()) for pod in pods], [], at)
    containers = {
        (pod.namespace, pod.name): {pod.container: usage[pod.name]} for pod in pods if pod.name in usage
    }
    return ClusterRead(at.timestamp(), state, None, containers=containers)


def record_reads(
    cluster: Cluster,
    pods: list[FakePod],
    usage_at: Any,  # (pod name, read index) -> Quantities | None
    *,
    hours: int,
    now: datetime | None = None,
) -> None:
    """A read at 5 past each of the last `hours` hours (the last one in the current hour), and a
    metered minute in each, so the ledger's pod-seconds say how many pods ran."""
    last = floor_hour(now or timezone.now())
    starts = [last - timedelta(hours=hours - 1 - index) for index in range(hours)]
    for index, start in enumerate(starts):
        usage = {pod.name: q for pod in pods if (q := usage_at(pod.name, index)) is not None}
        usage_history_record(
            cluster,
            read=read_of(pods, usage, start + timedelta(minutes=5)),
            nodes=shop_nodes(),
            now=start + timedelta(minutes=5),
        )
    record_minutes(cluster, starts, nodes=shop_nodes(), pods=[pod.sample() for pod in pods])


WEB = [
    FakePod(f"web-{index}", "shop", ("Deployment", "web"), {"cpu": "1", "memory": "2Gi"}) for index in (1, 2)
]
DB = FakePod(
    "db-0",
    "shop",
    ("StatefulSet", "db"),
    {"cpu": "500m", "memory": "1Gi"},
    limits={"memory": "1Gi"},
    oom_at="2026-12-01T10:00:00Z",
)
ETL = FakePod("etl-1", "batch", ("Job", "etl"), {"cpu": "2", "memory": "4Gi"}, node="spot-1")


SHOP_HOURS = 30


def shop_usage(name: str, index: int) -> Quantities | None:
    """web: 0.2 cores, and 0.5 at every twelfth read, 512 MiB; db: 0.3 cores, 900 MiB (it was
    OOM-killed); etl: measured in the last two reads only (too little data)."""
    if name.startswith("web"):
        return Quantities(0.5 if index % 12 == 11 else 0.2, 0.5)
    if name == "db-0":
        return Quantities(0.3, 900 / 1024)
    return Quantities(1.5, 3.0) if index >= SHOP_HOURS - 2 else None


def record_shop(cluster: Cluster) -> None:
    record_reads(cluster, [*WEB, DB, ETL], shop_usage, hours=SHOP_HOURS)
