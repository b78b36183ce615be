"""Metering one cluster: the step the every-minute Celery task runs.

`meter_cluster(cluster_id)` (the Celery task `workers.tasks.metering_meter_cluster` runs it under the
cluster's metering lease, so one worker meters a cluster at a time):

1. picks the complete intervals (`NODELESS_METERING_SECONDS`: a minute, 10 s in the demo) not
   metered yet, oldest first, at most 60 per run and none older than a day, so metering that was
   down catches up (about an hour per minute) without a flood of work. Node cost of caught-up minutes is exact (launch and termination times are
   known); pods that came and went meanwhile were not seen, so their share shows as idle;
2. reads the cluster once (pods, nodes, metrics when served) and the nodes Nodeless launched;
3. meters every interval with the pure engine (`engines.metering.meter_interval`) and records it,
   replacing any earlier record of the same interval, then rebuilds the rollups of the hours and
   days touched, all in one transaction;
4. fills in list prices Nodeless did not know at launch, refreshes the pod placements, and adds
   what the metrics API measured of each container to its workload's usage history (right-sizing).

A cluster that cannot be listed is still metered for the nodes Nodeless launched (their cost is
known), with every pod unknown, so its spend is never silently missing; one with no such node is
not metered at all until it answers (its minutes stay due), rather than recorded at $0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from billing.cluster_prices import cluster_prices, list_prices
from billing.models import UsageInterval
from billing.services.ledger import interval_record, rollups_refresh
from billing.services.placements import placements_refresh
from billing.services.samples import (
    managed_nodes_billed,
    node_samples,
    observe_cluster,
    pod_samples,
)
from billing.services.usage_history import usage_history_record
from clusters.models import Cluster, ManagedNode
from engines.metering import Interval, meter_interval

logger = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=1)
CATCH_UP_INTERVALS = 60  # per run
CATCH_UP_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class MeteringResult:
    cluster_id: str
    outcome: str  # "metered", "up-to-date", "unreachable" or "missing"
    intervals: int = 0
    pods_observed: bool = True
    error: str = ""
    seconds: float = 0.0


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def metering_interval() -> timedelta:
    """The ledger's interval (`NODELESS_METERING_SECONDS`, a divisor of a minute)."""
    return timedelta(seconds=settings.NODELESS_METERING_SECONDS)


def floor_interval(moment: datetime, interval: timedelta = INTERVAL) -> datetime:
    """The start of the interval holding `moment` (intervals tile every minute from its start)."""
    minute = floor_minute(moment)
    return minute + ((moment - minute) // interval) * interval


def due_intervals(
    last_metered: datetime | None, now: datetime, interval: timedelta = INTERVAL
) -> list[datetime]:
    """Starts of the complete intervals after `last_metered` (within CATCH_UP_LOOKBACK), the oldest
    CATCH_UP_INTERVALS of them: the next run goes on from where this one stops."""
    latest = floor_interval(now, interval) - interval
    if last_metered is None:
        return [latest]  # a newly metered cluster starts now: its past was never observed
    first = max(last_metered + interval, latest - CATCH_UP_LOOKBACK + interval)
    starts: list[datetime] = []
    while first <= latest and len(starts) < CATCH_UP_INTERVALS:
        starts.append(first)
        first += interval
    return starts


def _fill_list_prices(cluster: Cluster, rows: Sequence[ManagedNode]) -> None:
    """Nodes launched before their list price was known get it from the list-price catalog."""
    prices = list_prices(cluster)
    for row in rows:
        if row.list_price_per_hour or not row.instance_type:
            continue
        price = prices.price(row.instance_type, row.zone, row.capacity_type)
        if price is not None:
            ManagedNode.objects.filter(pk=row.pk, list_price_per_hour=0).update(
                list_price_per_hour=Decimal(str(round(price, 6)))
            )


def meter_cluster(
    cluster_id: str, *, now: datetime | None = None, starts: Sequence[datetime] | None = None
) -> MeteringResult:
    """Meter the cluster's due intervals (or exactly `starts`, which re-meters them).

    A system entry point, not a tenant service: the metering worker runs it by cluster id, for
    whichever organization owns the cluster, and tenant-facing code never calls it."""
    began = time.perf_counter()
    now = now or timezone.now()
    interval = metering_interval()
    cluster = Cluster.objects.select_related("cloud_account", "organization").filter(pk=cluster_id).first()
    if cluster is None:
        return MeteringResult(cluster_id, "missing")
    if starts is None:
        last = UsageInterval.objects.filter(cluster=cluster).aggregate(last=Max("start"))["last"]
        starts = due_intervals(last, now, interval)
    if not starts:
        return MeteringResult(cluster_id, "up-to-date")
    starts = sorted(start.astimezone(UTC) for start in starts)
    prices = cluster_prices(cluster)
    observation = observe_cluster(cluster, now)
    managed = managed_nodes_billed(cluster, starts[0], starts[-1] + interval)
    if observation.pods is None and not managed:
        # Nothing of this cluster's spend is known (no node Nodeless launched, and its own nodes
        # unseen): recording $0 would be a lie. The minutes stay due and are metered when it
        # answers again, within the catch-up day.
        return MeteringResult(cluster_id, "unreachable", pods_observed=False, error=observation.error)
    pods = pod_samples(observation, prices)
    nodes = node_samples(observation, managed, pods, prices)
    # The pods waiting now are counted in the latest interval only: caught-up ones were not seen.
    waiting = len(observation.state.pending) if observation.state is not None else 0
    with transaction.atomic():
        for start in starts:
            usage = meter_interval(Interval(start.timestamp(), (start + interval).timestamp()), nodes, pods)
            interval_record(
                cluster,
                usage=usage,
                pods_observed=observation.pods is not None,
                pending_pods=waiting if start == starts[-1] else 0,
            )
        rollups_refresh(cluster, moments=starts)
    _fill_list_prices(cluster, managed)
    placements_refresh(cluster, read=observation, nodes=nodes, pods=pods, now=now)
    usage_history_record(cluster, read=observation, nodes=nodes, now=now)
    if observation.error:
        logger.info("metered %s without its pods: %s", cluster.name, observation.error)
    return MeteringResult(
        cluster_id,
        "metered",
        intervals=len(starts),
        pods_observed=observation.pods is not None,
        error=observation.error,
        seconds=time.perf_counter() - began,
    )
