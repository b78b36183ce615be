"""How the rest of the product asks the workers for work: by task name and id.

Apps import this module and nothing else of `workers/` (an import-linter contract): the tasks import
the loops and the loops import the apps' services, so an app that imported a task would import
itself back round. Sending by name keeps the arrow one way; `tests/workers/test_tasks.py` checks every
name here is a registered task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

from nodeless_saas.celery import app

FEDERATION_PASS = "workers.tasks.federation_pass"
PROVISIONING_LAUNCH = "workers.tasks.provisioning_launch"
PROVISIONING_RECONCILE = "workers.tasks.provisioning_reconcile"
PROVISIONING_RECONCILE_BATCH = "workers.tasks.provisioning_reconcile_batch"
CLUSTER_CHECK = "workers.tasks.cluster_check"
MARKET_REFRESH = "workers.tasks.market_refresh"
NODE_CLASS_RELEASE = "workers.tasks.node_class_release"
BILLING_REPLAY_STEP = "workers.tasks.billing_replay_step"
TASK_NAMES = (
    FEDERATION_PASS,
    PROVISIONING_LAUNCH,
    PROVISIONING_RECONCILE,
    PROVISIONING_RECONCILE_BATCH,
    CLUSTER_CHECK,
    MARKET_REFRESH,
    NODE_CLASS_RELEASE,
    BILLING_REPLAY_STEP,
)

# Work is coalesced per subject: while a task for it is queued (and, for a launch or a reconcile pass,
# running), asking for another does nothing — a burst of 200 submissions costs one or two federation
# passes, not 200; the scheduler does not pile passes up behind a slow one; a backlog does not fill
# with copies of the same launch. The mark expires after this long, so a lost message cannot block a
# subject for longer.
QUEUED_MARK_SECONDS = 60
# What a mark holds: queued, or (a reconcile pass) running. A change seen while a pass runs may have
# come after the pass read the cluster, so it asks for one more pass after it; while the pass is still
# queued, the pass will read the change itself.
QUEUED, RUNNING = "queued", "running"
# A reconcile pass may wait behind a fleet's backlog (up to NODELESS_SCHEDULE_MAX_QUEUED passes) for
# longer than a minute: its mark lasts long enough that the scheduler never queues a copy behind it.
RECONCILE_MARK_SECONDS = 600


def federation_queued_key(organization_id: str) -> str:
    return f"federation-queued:{organization_id}"


def federation_follow_up_key(organization_id: str) -> str:
    return f"federation-follow-up:{organization_id}"


def launch_queued_key(row_id: str) -> str:
    return f"launch-queued:{row_id}"


def cluster_check_queued_key(cluster_id: str) -> str:
    return f"cluster-check-queued:{cluster_id}"


def reconcile_queued_key(cluster_id: str) -> str:
    return f"reconcile-queued:{cluster_id}"


def market_refresh_queued_key(region: str, kind: str) -> str:
    return f"market-refresh-queued:{kind}:{region}"


def reconcile_again_key(cluster_id: str) -> str:
    return f"reconcile-again:{cluster_id}"


def send_once(
    mark: str,
    task_name: str,
    args: tuple[str, ...],
    *,
    countdown: float = 0,
    kwargs: dict[str, object] | None = None,
    timeout: float = QUEUED_MARK_SECONDS,
) -> bool:
    """Send the task unless `mark` says one is in flight; True when this call sent it. The task
    clears the mark (`cache.delete`) when it no longer counts as in flight."""
    if not cache.add(mark, QUEUED, timeout=timeout):
        return False
    app.send_task(task_name, args=args, kwargs=kwargs, countdown=countdown)
    return True


def request_reconcile(cluster_id: str, *, due: float | None = None, countdown: float = 0) -> bool:
    """Queue a reconcile pass of the cluster unless one is queued or running: True when this call queued
    it. `due` (a timestamp) is when the scheduler meant the pass to happen, for the pass to report
    its lag."""
    kwargs: dict[str, object] = {} if due is None else {"due": due}
    mark = reconcile_queued_key(cluster_id)
    if send_once(
        mark,
        PROVISIONING_RECONCILE,
        (cluster_id,),
        countdown=countdown,
        kwargs=kwargs,
        timeout=RECONCILE_MARK_SECONDS,
    ):
        return True
    if due is None and cache.get(mark) == RUNNING:
        cache.set(reconcile_again_key(cluster_id), 1, timeout=RECONCILE_MARK_SECONDS)
    return False


def add_many(keys: Sequence[str], value: object, *, timeout: float) -> list[bool]:
    """`cache.add` of each key (True where this call set it), in one round trip when the cache is
    Redis: a scheduler tick marks a hundred clusters, and a round trip each was most of its CPU."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache) or not timeout:
        return [cache.add(key, value, timeout=timeout) for key in keys]
    # What `RedisCache.add` does for each key: SET NX with the expiry, the value as its serializer stores it.
    client: Any = backend._cache
    stored = client._serializer.dumps(value)
    expires = backend.get_backend_timeout(timeout)
    pipeline = client.get_client(write=True).pipeline(transaction=False)
    for key in keys:
        pipeline.set(
            backend.make_and_validate_key(key), stored, ex=None if expires is None else int(expires), nx=True
        )
    return [bool(added) for added in pipeline.execute()]


def request_reconcile_batch(cluster_ids: Sequence[str], dues: Sequence[float]) -> list[str]:
    """Queue one task passing over each of `cluster_ids` (`dues`: when each pass was due) but those
    whose pass is queued or running already; the clusters queued. The scheduler sends a batch of one
    shard's clusters (`workers.schedule`); the task goes to the first one's shard queue."""
    added = add_many(
        [reconcile_queued_key(cluster_id) for cluster_id in cluster_ids],
        QUEUED,
        timeout=RECONCILE_MARK_SECONDS,
    )
    claimed = [(cluster_id, due) for cluster_id, due, ok in zip(cluster_ids, dues, added, strict=True) if ok]
    if claimed:
        app.send_task(
            PROVISIONING_RECONCILE_BATCH,
            args=([cluster_id for cluster_id, _ in claimed],),
            kwargs={"dues": [due for _, due in claimed]},
        )
    return [cluster_id for cluster_id, _ in claimed]


def reconcile_started(cluster_id: str) -> None:
    """The pass is running: from now on a request for the cluster asks for one more pass after it."""
    cache.set(reconcile_queued_key(cluster_id), RUNNING, timeout=RECONCILE_MARK_SECONDS)


def reconcile_ended(cluster_id: str) -> bool:
    """The pass is over: clear its mark, and queue the pass a request made while it ran asked for
    (True when one was queued). A request racing with this at worst costs one extra pass, never a
    lost one: it either finds the mark gone and queues, or leaves the flag read here."""
    return reconcile_ended_many([cluster_id]) == 1


def reconcile_started_many(cluster_ids: Sequence[str]) -> None:
    """`reconcile_started` for a batch's clusters, in one cache write."""
    cache.set_many({reconcile_queued_key(c): RUNNING for c in cluster_ids}, timeout=RECONCILE_MARK_SECONDS)


def reconcile_ended_many(cluster_ids: Sequence[str]) -> int:
    """`reconcile_ended` for clusters whose passes ended together: their marks cleared and the requests
    made while they ran taken, in one round trip where the cache is Redis; the passes queued again."""
    if not cluster_ids:
        return 0
    marks = [reconcile_queued_key(c) for c in cluster_ids]
    flags = [reconcile_again_key(c) for c in cluster_ids]
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        pipeline = backend._cache.get_client(write=True).pipeline(transaction=False)
        pipeline.delete(*(backend.make_and_validate_key(mark) for mark in marks))
        for flag in flags:
            pipeline.delete(backend.make_and_validate_key(flag))
        taken = [bool(deleted) for deleted in pipeline.execute()[1:]]
    else:
        cache.delete_many(marks)
        taken = [cache.delete(flag) for flag in flags]
    # Each flag is deleted on its own: the one that deletes it queues the pass (as `reconcile_ended`).
    return sum(
        1
        for cluster_id, asked in zip(cluster_ids, taken, strict=True)
        if asked and request_reconcile(cluster_id)
    )


def request_federation_pass(organization_id: str, *, countdown: float = 0) -> bool:
    """Queue a federation pass unless one is already queued; True when this call queued it. A
    delayed one (a pass's follow-up) has a mark of its own: sharing the mark made a workload
    submitted just after a pass wait for that pass's follow-up, up to ``countdown`` seconds, instead
    of queueing its own pass (bench/federation_fleet.py's applied p50 and p99 both carried it). The
    follow-up says it is one (``workers.federation.runner``: it decides only what is not steady)."""
    kwargs: dict[str, object] = {"follow_up": True} if countdown else {}
    mark = federation_follow_up_key(organization_id) if countdown else federation_queued_key(organization_id)
    return send_once(mark, FEDERATION_PASS, (organization_id,), countdown=countdown, kwargs=kwargs)


def federation_pass_on_commit(organization_id: str) -> None:
    """A federation pass for the organization once the current transaction commits."""
    transaction.on_commit(lambda: request_federation_pass(organization_id))


def request_cluster_check(cluster_id: str) -> bool:
    """Queue a check of the cluster unless one is already queued; True when this call queued it."""
    return send_once(cluster_check_queued_key(cluster_id), CLUSTER_CHECK, (cluster_id,))


def cluster_check_on_commit(cluster_id: str) -> None:
    """A check of the cluster (connecting it, or "Check now") once the current transaction commits."""
    transaction.on_commit(lambda: request_cluster_check(cluster_id))


# A market refresh reads thousands of prices: one at a time per region and kind, for at most this long.
MARKET_REFRESH_MARK_SECONDS = 600


def request_market_refresh(region: str, kind: str) -> bool:
    """Queue a refresh of the region's market prices (`kind`: spot or on_demand) unless one is queued
    or running; True when this call queued it."""
    return send_once(
        market_refresh_queued_key(region, kind),
        MARKET_REFRESH,
        (region, kind),
        timeout=MARKET_REFRESH_MARK_SECONDS,
    )


def node_class_release_on_commit(*, account_id: str, cluster_id: str, region: str) -> None:
    """Once the transaction commits, delete the launch templates of a cluster that left nodeless mode
    or was removed (the task takes ids: the cluster row may be gone by then)."""
    transaction.on_commit(lambda: app.send_task(NODE_CLASS_RELEASE, args=(account_id, cluster_id, region)))


def request_replay_step(run_id: str) -> None:
    """The next step of a policy replay (`billing.services.replay`). Not coalesced: each step is
    idempotent (it writes only if the run is still where it read it), so a duplicate does nothing."""
    app.send_task(BILLING_REPLAY_STEP, args=(run_id,))


def replay_step_on_commit(run_id: str) -> None:
    """The first step of a policy replay, once the run's row is committed."""
    transaction.on_commit(lambda: request_replay_step(run_id))
