"""The fleet bench's side of the worker processes: the ports a pass reaches its cluster through, and
a record of every scheduled pass.

Loaded into `celery worker` with `--include bench.fleet_world`, and named to the product by
`NODELESS_PROVISIONING_PORTS=bench.fleet_world.sleeping_ports`: the pass is the product's own
(task → lease → context → observe, list instances, read notices → decisions → ledger), and only its
cluster I/O is replaced by ports that answer like an empty cluster after waiting a simulated network
latency. The wait is a sleep, so the work is I/O-bound like a real pass's, whatever the number of
cores: `FLEET_LATENCY_MS` per call (`FLEET_SLOW_LATENCY_MS` for clusters named `slow-…`, the bench's
slow neighbours).

Every pass the scheduler queued (it carries `due`; a batch task `dues`, and answers when each of its
passes ended) appends `cluster due done outcome` to the Redis list `RECORD_KEY`, on the broker's
database, when it ends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import redis
from celery.signals import task_postrun
from django.conf import settings

from clusters.cloud import interface as cloud
from clusters.models import Cluster
from engines.kube.cluster import ClusterState, cluster_state
from workers.enqueue import PROVISIONING_RECONCILE, PROVISIONING_RECONCILE_BATCH
from workers.provisioning.ports import Eviction

RECORD_KEY = "bench:fleet:passes"
SLOW_PREFIX = "slow-"


def _latency(slow: bool) -> float:
    name = "FLEET_SLOW_LATENCY_MS" if slow else "FLEET_LATENCY_MS"
    return float(os.environ.get(name, "40")) / 1000


class SleepingCloud:
    """A cloud account with no instances and no notices, answering after `latency` seconds."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def launch(self, request: cloud.LaunchRequest) -> cloud.LaunchResult:
        raise NotImplementedError("the fleet's clusters have no pending pods: nothing to launch")

    def terminate(self, instance_ids: Sequence[str]) -> None:
        time.sleep(self.latency)

    def list_instances(self, tags: Mapping[str, str]) -> list[cloud.Instance]:
        time.sleep(self.latency)
        return []

    def find_interruption_queue(self, cluster_name: str) -> str:
        time.sleep(self.latency)
        return ""

    def read_interruption_notices(self, max_notices: int = 10) -> list[cloud.InterruptionNotice]:
        time.sleep(self.latency)
        return []

    def acknowledge_interruption_notices(self, notices: Sequence[cloud.InterruptionNotice]) -> None:
        return None

    def describe_cluster(self, name: str) -> cloud.EksClusterInfo:
        raise NotImplementedError

    def on_demand_prices(self, instance_types: Sequence[str] | None = None) -> list[cloud.PriceQuote]:
        return []

    def spot_prices(self, *args: Any, **kwargs: Any) -> list[cloud.PriceQuote]:
        return []


class SleepingKube:
    """An API server of a cluster with no nodes and no pods, answering after `latency` seconds."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def read(self, now: datetime) -> ClusterState:
        time.sleep(self.latency)
        return cluster_state([], [], now)

    def bind(self, namespace: str, name: str, node_name: str) -> bool:
        time.sleep(self.latency)
        return False

    def label_node(self, node_name: str, labels: Mapping[str, str]) -> None:
        time.sleep(self.latency)  # no node answers: the pass keeps what it observed

    def cordon(self, node_name: str) -> None:
        time.sleep(self.latency)

    def volume_zones(self, pods: Sequence[Any]) -> Mapping[str, frozenset[str] | None]:
        return {}

    def attach_room(self, state: Any) -> Mapping[str, int]:
        return {}

    def remove_taint(self, node_name: str, key: str) -> None:
        time.sleep(self.latency)

    def own_taint(self, node_name: str, key: str, value: str) -> None:
        time.sleep(self.latency)

    def tolerate(self, namespace: str, name: str, uid: str, tolerations: Sequence[Mapping[str, Any]]) -> bool:
        time.sleep(self.latency)
        return False

    def evict(self, namespace: str, name: str) -> Eviction:
        time.sleep(self.latency)
        return "gone"

    def delete_node(self, node_name: str) -> None:
        time.sleep(self.latency)


def sleeping_ports(cluster: Cluster) -> tuple[SleepingCloud, SleepingKube]:
    latency = _latency(cluster.name.startswith(SLOW_PREFIX))
    return SleepingCloud(latency), SleepingKube(latency)


_client: dict[int, redis.Redis] = {}


def record_client() -> redis.Redis:
    pid = os.getpid()  # a forked pool process opens its own connection
    if pid not in _client:
        _client[pid] = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return _client[pid]


@task_postrun.connect  # type: ignore[untyped-decorator]
def _record_pass(
    task: Any = None, args: Any = None, kwargs: Any = None, retval: Any = None, **_: Any
) -> None:
    if task is None or not kwargs:
        return
    if task.name == PROVISIONING_RECONCILE and kwargs.get("due") is not None:
        record_client().rpush(RECORD_KEY, f"{args[0]} {kwargs['due']:.6f} {time.time():.6f} {retval}")
    elif task.name == PROVISIONING_RECONCILE_BATCH and kwargs.get("dues") and retval:
        # Each pass of a batch with the time it ended (the task answers them), not the batch's end.
        dues = dict(zip(args[0], kwargs["dues"], strict=True))
        lines = [f"{cluster} {dues[cluster]:.6f} {at:.6f} {outcome}" for cluster, outcome, at in retval]
        record_client().rpush(RECORD_KEY, *lines)
