"""Ports for passes run through the product's own entry points in the fleet tests: named by
`NODELESS_PROVISIONING_PORTS=tests.workers.fleet_ports.fake_ports`, one in-memory cloud and cluster per
cluster id (the fakes of `tests/workers/provisioning/fakes.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from clusters.cloud.interface import Instance
from clusters.models import Cluster
from engines.kube.cluster import ClusterState
from tests.workers.provisioning.fakes import FakeCloud, FakeKube


class ReadingCloud(FakeCloud):
    """The fake cloud, logging its reads too: a pass of an idle cluster makes no other call."""

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        self.calls.append(("list_instances", ""))
        return super().list_instances(tags)


class ReadingKube(FakeKube):
    def read(self, now: datetime) -> ClusterState:
        self.calls.append(("read",))
        return super().read(now)


PORTS: dict[str, tuple[ReadingCloud, ReadingKube]] = {}


def fake_ports(cluster: Cluster) -> tuple[ReadingCloud, ReadingKube]:
    return PORTS.setdefault(str(cluster.pk), (ReadingCloud(), ReadingKube()))
