"""Which queue a task goes to: per-cluster work on shard queues, everything else on the default one.

Every per-cluster task (a reconcile pass, a launch, a health check, metering) goes to the shard queue
of its subject, `NODELESS_SHARD_QUEUES[crc32(subject id) % shards]`, so one cluster's work always lands
on the same queue. A worker consumes every queue by default (`CELERY_TASK_QUEUES` lists them all) and
the Redis transport takes from its queues in turn, so a shard with a backlog cannot keep the others
waiting; a deployment that wants dedicated workers gives each a subset
(`celery -A nodeless_saas worker -Q celery,clusters-0,clusters-1`). With acks_late and a prefetch of
one (settings), a worker process holds only the task it runs: a slow cluster's pass occupies one
process, never a line of other clusters' passes reserved behind it.

An organization's federation passes go to its federation queue,
`NODELESS_FEDERATION_QUEUES[crc32(organization id) % shards]`, the same way: a worker process that
alone consumes a federation queue (docker-compose's `federation`) runs every pass of the
organizations on it, and reuses what their last pass kept in the process. Any worker consuming the
queue runs the pass correctly; only that reuse depends on it.

Celery calls `route_task` for every task sent, by name or by function (`CELERY_TASK_ROUTES`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from nodeless_saas.celery import app

# Per-subject tasks, by name: their first argument is the id that picks the shard.
SHARDED_TASKS = frozenset(
    {
        "workers.tasks.provisioning_reconcile",
        "workers.tasks.provisioning_reconcile_batch",  # its first argument is a list of one shard's clusters
        "workers.tasks.provisioning_launch",
        "workers.tasks.cluster_health_check",
        "workers.tasks.metering_meter_cluster",
    }
)


# Passes of one organization, by name: their first argument is the organization's id.
FEDERATION_TASKS = frozenset({"workers.tasks.federation_pass"})


def _queue_of(subject_id: str, queues: Sequence[str]) -> str:
    """Stable across processes and restarts, unlike Python's salted `hash`."""
    return queues[zlib.crc32(str(subject_id).encode()) % len(queues)]


def shard_queue(subject_id: str) -> str:
    """The shard queue of a cluster (or a launch row)."""
    return _queue_of(subject_id, settings.NODELESS_SHARD_QUEUES)


def federation_queue(organization_id: str) -> str:
    """The queue of an organization's federation passes."""
    return _queue_of(organization_id, settings.NODELESS_FEDERATION_QUEUES)


def route_task(
    name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    options: dict[str, Any],
    task: Any = None,
    **_: Any,
) -> dict[str, str] | None:
    if name in SHARDED_TASKS and args and args[0]:
        subject = args[0][0] if isinstance(args[0], list | tuple) else args[0]
        return {"queue": shard_queue(str(subject))}
    if name in FEDERATION_TASKS and args and args[0]:
        return {"queue": federation_queue(str(args[0]))}
    return None  # Celery's default queue


def shard_backlog() -> int:
    """Messages waiting in the shard queues, as the broker counts them (a declare is idempotent, and
    answers the count on every transport)."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        return sum(channel.queue_declare(queue=name).message_count for name in settings.NODELESS_SHARD_QUEUES)
