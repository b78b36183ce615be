"""The fleet's reconcile schedule: each nodeless cluster's pass comes due every
`NODELESS_RECONCILE_SECONDS`, and a beat tick (`provisioning_schedule`, every
`NODELESS_SCHEDULE_TICK_SECONDS`) queues the passes that are due.

- **Oldest due first.** Due times live in `ReconcileDue`, one row per cluster; a tick reads the due
  rows oldest first, so a cluster that has waited longest goes next.
- **Organizations in turn.** Among the due passes, each organization's oldest goes first, then each
  one's second, and so on: an organization with five hundred clusters due puts one pass ahead of
  another organization's single cluster, not five hundred.
- **Coalesced.** Passes are queued through `workers.enqueue.request_reconcile_batch`: a cluster whose
  pass is still queued or running (a slow cluster, or one its pods' changes triggered) gets no second
  one; the others go in batches of one shard's clusters (`NODELESS_RECONCILE_BATCH`), one task each,
  which pays a pass's fixed costs once for the batch (`workers.provisioning.reconcile.reconcile_batch`).
- **Bounded.** A tick tops the shard queues up to `NODELESS_SCHEDULE_MAX_QUEUED` waiting passes; the
  rest stay due, in order, in the table, where the next tick can still order them fairly (the
  broker's queues are first in, first out). A pass queued late makes the next one due a full period
  after the tick that queued it, so a backlog never turns into passes bunched back to back.
- **Spread.** A cluster met for the first time comes due at a point of the period fixed by its id,
  so a thousand clusters connected at once do not all come due in the same second.

Which queue a pass lands on is `workers.routing`'s business; the pass itself is `reconcile_cluster`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.expressions import Expression
from django.utils import timezone

from clusters.models import Cluster, ClusterMode
from workers.enqueue import request_reconcile_batch
from workers.models import ReconcileDue
from workers.routing import shard_backlog, shard_queue

# How many due rows a tick reads for each pass it may queue: enough for the turn-taking to see every
# organization with work due, without reading a whole backlog every second.
CANDIDATES_PER_SLOT = 4
TICK_MARK = "reconcile-schedule-tick"
Row = tuple[Any, Any, datetime]  # cluster id, organization id, when its pass is due


@dataclass(frozen=True)
class Tick:
    enrolled: int = 0  # clusters met for the first time
    due: int = 0  # due passes read
    sent: int = 0  # passes queued
    coalesced: int = 0  # due passes whose cluster already had one queued or running


def in_turn(rows: Sequence[Row]) -> list[Row]:
    """`(cluster, organization, due)` rows, oldest due first, reordered so organizations take turns:
    every organization's first row (in the order of their oldest), then every one's second, …"""
    queues: dict[Any, list[Row]] = {}
    for row in rows:
        queues.setdefault(row[1], []).append(row)
    turns: list[Row] = []
    depth = 0
    while len(turns) < len(rows):
        turns.extend(queue[depth] for queue in queues.values() if depth < len(queue))
        depth += 1
    return turns


def next_due(now: datetime, period: timedelta) -> Expression:
    """A due row's next due time, computed by the database in the statement that moves the rows on (a
    CASE per row, as `bulk_update` writes them, cost the tick more CPU than all its other steps): on
    time, passes keep a fixed rate; late, the next one comes a full period after now."""
    return Case(
        When(due_at__gt=now - period, then=F("due_at") + period),
        default=Value(now + period),
        output_field=DateTimeField(),
    )


def schedule_due_passes(now: datetime | None = None) -> Tick:
    """One tick: enrol new nodeless clusters, queue the due passes fairly, move their due times on."""
    # One tick at a time: beat fires every second and a tick over a large fleet may take longer.
    if not cache.add(TICK_MARK, 1, timeout=max(30, 5 * settings.NODELESS_SCHEDULE_TICK_SECONDS)):
        return Tick()
    try:
        return _tick(now or timezone.now())
    finally:
        cache.delete(TICK_MARK)


def _tick(now: datetime) -> Tick:
    period = timedelta(seconds=settings.NODELESS_RECONCILE_SECONDS)
    enrolled = _enrol(now, period)
    size = settings.NODELESS_RECONCILE_BATCH
    # The backlog is counted in messages, each up to a batch of passes: counted as full ones.
    batch = max(0, settings.NODELESS_SCHEDULE_MAX_QUEUED - shard_backlog() * size)
    due = list(
        ReconcileDue.objects.filter(due_at__lte=now, cluster__mode=ClusterMode.NODELESS)
        .order_by("due_at", "cluster_id")
        .values_list("cluster_id", "cluster__organization_id", "due_at")[: batch * CANDIDATES_PER_SLOT]
    )
    chosen = in_turn(due)[:batch]
    sent = 0
    for rows in batches(chosen, size):
        # Queued now, or coalesced into the pass already in flight: either way these due times are served.
        sent += len(
            request_reconcile_batch([str(row[0]) for row in rows], [row[2].timestamp() for row in rows])
        )
    if chosen:
        ReconcileDue.objects.filter(cluster_id__in=[row[0] for row in chosen]).update(
            due_at=next_due(now, period)
        )
    return Tick(enrolled=enrolled, due=len(due), sent=sent, coalesced=len(chosen) - sent)


def batches(rows: Sequence[Row], size: int) -> list[list[Row]]:
    """`rows` in turn order, cut into batches of one shard's clusters (a batch's task goes to its
    shard's queue) of at most `size`, in the order of each batch's first row: the turn order between
    organizations holds across batches, and within each."""
    by_shard: dict[str, list[list[tuple[int, Row]]]] = {}
    for index, row in enumerate(rows):
        shard = by_shard.setdefault(shard_queue(str(row[0])), [[]])
        if len(shard[-1]) == size:
            shard.append([])
        shard[-1].append((index, row))
    cut = [batch for shard in by_shard.values() for batch in shard if batch]
    cut.sort(key=lambda batch: batch[0][0])
    return [[row for _, row in batch] for batch in cut]


def _enrol(now: datetime, period: timedelta) -> int:
    missing = (
        Cluster.objects.filter(mode=ClusterMode.NODELESS)
        .exclude(pk__in=ReconcileDue.objects.values("cluster_id"))
        .values_list("pk", flat=True)
    )
    rows = [ReconcileDue(cluster_id=pk, due_at=now + period * _phase(str(pk))) for pk in missing]
    ReconcileDue.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _phase(cluster_id: str) -> float:
    """Where in the period a cluster's passes fall, in [0, 1): fixed by its id."""
    return (zlib.crc32(cluster_id.encode()) % 1000) / 1000
