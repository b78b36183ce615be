"""What a pass reads before it decides: the cluster (`observe`), our instances, interruption notices.

`observe` is the one seam through which the pass sees the cluster: the kube port's read (for the
real port, the cluster's one watch-fed observation). The pass does not keep a summary of what it read:
a busy cluster is read every second or so, and the health check and metering keep one every minute.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

from clusters.cloud.errors import CloudError
from clusters.cloud.interface import Instance, InterruptionNotice
from engines.kube.cluster import ClusterState
from workers.provisioning.context import ReconcileContext
from workers.provisioning.launch_request import CLUSTER_TAG

logger = logging.getLogger(__name__)
T = TypeVar("T")


def observe(ctx: ReconcileContext) -> ClusterState:
    """The cluster's nodes with their pods, the pods waiting for a node, and the DaemonSets' overhead."""
    return ctx.kube.read(ctx.now)


def list_instances_when_due(ctx: ReconcileContext) -> Mapping[str, Instance] | None:
    """Our instances, listed at most every NODELESS_INSTANCE_LIST_SECONDS per cluster: listing is the
    slowest read of a pass and only the checks for vanished or leaked instances need it, which can
    wait a few seconds; everything else follows the nodes. None when not due."""
    key = f"provisioning:instances-listed:{ctx.cluster.pk}"
    interval = settings.NODELESS_INSTANCE_LIST_SECONDS
    # One round trip: the mark is set by the pass that finds it gone, which lists (and clears it again
    # if the listing fails, so the next pass lists).
    if interval and not cache.add(key, value=True, timeout=interval):
        return None
    try:
        return {i.instance_id: i for i in ctx.provider.list_instances({CLUSTER_TAG: str(ctx.cluster.pk)})}
    except BaseException:
        if interval:
            cache.delete(key)
        raise


def acknowledge_notices(ctx: ReconcileContext, notices: tuple[InterruptionNotice, ...]) -> None:
    """Delete the notices this pass acted on; if that fails they come back after the queue's
    visibility timeout and a later pass sees interruptions it already recorded (a no-op)."""
    if not notices:
        return
    try:
        ctx.provider.acknowledge_interruption_notices(notices)
    except CloudError:
        return


def read_notices(ctx: ReconcileContext) -> tuple[InterruptionNotice, ...]:
    """Pending interruption notices; none when the queue cannot be read (the next pass tries again)."""
    try:
        return tuple(ctx.provider.read_interruption_notices())
    except CloudError:
        return ()


def answer_in_time(read: Future[T], fallback: T, ctx: ReconcileContext, what: str) -> T:
    """The cloud read's answer, or `fallback` once NODELESS_CLOUD_READ_WAIT_SECONDS have passed: the
    pass goes on as one for which the read is not due (pods still get nodes), instead of holding its
    lease and worker on a slow cloud until the task's time limit. The read ends on its own thread
    (the clients' timeouts bound it); a listing that answers late counts as done for its interval,
    and notices read late come back after the queue's visibility timeout."""
    seconds = settings.NODELESS_CLOUD_READ_WAIT_SECONDS
    try:
        return read.result(timeout=seconds)
    except FutureTimeout:
        logger.warning(
            "cluster %s: the %s took over %s s; this pass goes on without it", ctx.cluster.pk, what, seconds
        )
        return fallback
    except CloudError as error:
        # A failed read is one the pass did not get (the listing's mark is cleared, so the next
        # pass reads again): pods still get nodes meanwhile, and the pass does not die on it.
        logger.warning(
            "cluster %s: the %s failed (%s); this pass goes on without it", ctx.cluster.pk, what, error
        )
        return fallback
