"""Replaying a draft provisioning policy over a cluster's recorded last 24 hours or 7 days.

`replay_start(organization, actor=, cluster=, window=, data=)` validates the draft exactly as the
policy form and API do (`policies.provisioning_settings.clean_settings`), records a `ReplayRun`
and asks the workers for its first step once the transaction commits. `replay_step(run_id)` (the
Celery task `workers.tasks.billing_replay_step` runs it, then asks for the next while there is
one) does one bounded, idempotent step:

1. the replay: the period's pods, rebuilt from the usage ledger (`engines.replay.ledger`), run
   through the planner with the draft (`engines.replay.replay`): nodes boot in
   `BOOT_SECONDS`, an empty node goes after the draft's scale-down delay, and long-running pods
   are consolidated every `CONSOLIDATION_SECONDS` when the draft's minimum saving is met. What
   really happened over the period is read from the same ledger next to it;
2. the LP lower bound of any schedule of those pods (`engines.replay.bounds`), at most
   `BOUND_POOLS_PER_STEP` planner calls per step, so no step holds a worker for long;
3. the last step integrates the bound and stores the result.

A step recomputes the pods from the ledger (the period is in the past, so they do not change)
rather than storing thousands of them; it writes its outcome only if the run is still at the
step it read (`steps_done`), so a task delivered twice changes nothing the second time.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from billing.models import ReplayRun, ReplayState
from billing.selectors.replay import recorded_figures, recorded_intervals, recorded_workloads
from clusters.models import Cluster, ClusterObservation
from clusters.observation.summary import resources_from
from clusters.pricing.catalogs import list_price_catalog, priced_catalog
from engines.planner import Catalog, PlannerPolicy, Resources
from engines.planner.catalog import Discount
from engines.replay import (
    BoundWindow,
    Consolidation,
    ReplayPod,
    Timing,
    bound_windows,
    distinct_pools,
    integrate_bound,
    pool_bound_per_hour,
    replay,
)
from engines.replay.ledger import LedgerTooLarge, PeriodFigures, pods_from_ledger, replayed_figures
from policies.provisioning_settings import clean_settings, planner_policy
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization
from workers.enqueue import replay_step_on_commit

logger = logging.getLogger(__name__)

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
MAX_PODS = 20_000
BOOT_SECONDS = 60.0
CONSOLIDATION_SECONDS = 600.0
BOUND_POOLS_PER_STEP = 20
# Busy stretches of the bound: windows of at most this many arrivals and departures, pooled over
# slots of this length (engines.replay.bounds); an hour without events is bounded exactly.
BOUND_WINDOW_EVENTS = 40
BOUND_SLOT_SECONDS = 60.0


class ReplayInputError(ValueError):
    """The window or the draft cannot be replayed; `errors` by field, as the API answers them."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(texts)}" for field, texts in errors.items()))
        self.errors = errors


def _catalog_for_validation(cluster: Cluster) -> Catalog:
    return list_price_catalog(cluster.region or "us-east-1")


def _clean(cluster: Cluster, draft: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return clean_settings(dict(draft), _catalog_for_validation(cluster))
    except ValidationError as error:
        raise ReplayInputError(
            {field: [str(text) for text in texts] for field, texts in error.message_dict.items()}
        ) from None


def replay_start(
    organization: Organization,
    *,
    actor: Actor,
    cluster: Cluster,
    window: str,
    data: Mapping[str, Any],
    now: datetime | None = None,
) -> ReplayRun:
    """Validate the draft and the window, record the run, queue its first step on commit."""
    if window not in WINDOWS:
        raise ReplayInputError({"window": [f"Choose one of {', '.join(WINDOWS)} (got {window!r})."]})
    settings = _clean(cluster, data)
    end = (now or timezone.now()).replace(second=0, microsecond=0)
    with transaction.atomic():
        run = ReplayRun.objects.create(
            organization=organization,
            cluster=cluster,
            created_by=actor.user,
            window=window,
            period_start=end - WINDOWS[window],
            period_end=end,
            draft=_jsonable(settings),
        )
        audit_record(
            organization,
            actor=actor,
            action="policy_replay.start",
            target=run,
            target_label=f"replay of {cluster.name} over {window}",
        )
        replay_step_on_commit(str(run.pk))
    return run


def _jsonable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Decimals as strings (clean_settings reads them back), everything else as it is."""
    loaded: dict[str, Any] = json.loads(DjangoJSONEncoder().encode(settings))
    return loaded


@dataclass(frozen=True)
class _Inputs:
    pods: tuple[ReplayPod, ...]
    catalog: Catalog
    policy: PlannerPolicy
    overhead: Resources
    settings: dict[str, Any]
    windows: tuple[BoundWindow, ...]


def _inputs(run: ReplayRun) -> _Inputs:
    cluster = run.cluster
    settings = _clean(cluster, run.draft)
    start, end = run.period_start, run.period_end
    pods = pods_from_ledger(
        recorded_intervals(cluster, start, end),
        recorded_workloads(cluster, start, end),
        end=end.timestamp(),
        max_pods=MAX_PODS,
    )
    account = cluster.cloud_account
    catalog = priced_catalog(cluster.region, account.discount if account else Discount())
    observation = ClusterObservation.objects.filter(cluster=cluster).first()
    summary = (observation.summary if observation else None) or {}
    overhead = resources_from(summary.get("daemonset_overhead") or (0, 0, 0, 0, 0))
    windows = bound_windows(pods, slot_seconds=BOUND_SLOT_SECONDS, window_events=BOUND_WINDOW_EVENTS)
    return _Inputs(pods, catalog, planner_policy(settings), overhead, settings, windows)


def _figures(figures: PeriodFigures) -> dict[str, float]:
    return {
        "spend": round(figures.spend, 6),
        "pending_pod_hours": round(figures.pending_pod_hours, 4),
        "average_nodes": round(figures.average_nodes, 3),
        "peak_nodes": figures.peak_nodes,
    }


def _replay_figures(run: ReplayRun, inputs: _Inputs) -> dict[str, Any]:
    share = inputs.settings.get("consolidation_min_saving_pct")
    consolidation = Consolidation(
        CONSOLIDATION_SECONDS,
        min_savings=(10 if share is None else min(int(share), 99)) / 100,
        min_pod_age_seconds=CONSOLIDATION_SECONDS,
    )
    timing = Timing(
        boot_seconds=BOOT_SECONDS, scale_down_seconds=float(inputs.settings["scale_down_delay_seconds"])
    )
    result = replay(
        inputs.pods,
        inputs.catalog,
        inputs.policy,
        timing,
        daemonset_overhead=inputs.overhead,
        consolidation=consolidation,
    )
    start, end = run.period_start.timestamp(), run.period_end.timestamp()
    replayed = replayed_figures(result, inputs.pods, start=start, end=end)
    return {
        "pods": len(inputs.pods),
        "replayed": {
            **_figures(replayed),
            "effective_spend": round(result.effective_cost, 6),
            "unplaced_pods": len({item.pod_uid for item in result.unplaced}),
            "unplaced_reasons": sorted({item.reason for item in result.unplaced})[:5],
            "plan_calls": result.plan_calls,
            "pods_moved": result.pods_moved,
        },
        "actual": _figures(recorded_figures(run.cluster, run.period_start, run.period_end)),
        "pool_bounds": [],
    }


def _advance(run: ReplayRun, **changes: Any) -> bool:
    """Write a step's outcome if no other delivery of the task wrote it first."""
    return (
        ReplayRun.objects.filter(pk=run.pk, steps_done=run.steps_done, state__in=_OPEN).update(**changes) == 1
    )


_OPEN = (ReplayState.QUEUED, ReplayState.RUNNING)


def _fail(run: ReplayRun, error: str) -> None:
    _advance(run, state=ReplayState.FAILED, error=error[:500], finished_at=timezone.now())


def replay_step(run_id: str) -> bool:
    """One step of the run (see the module docstring); True when another step is due.

    A system entry point, not a tenant service: the worker runs it by id."""
    run = ReplayRun.objects.select_related("cluster", "cluster__cloud_account").filter(pk=run_id).first()
    if run is None or run.finished:
        return False
    try:
        return _step(run)
    except (ReplayInputError, LedgerTooLarge) as error:
        _fail(run, str(error))
    except Exception:
        # Said once in the log with the traceback; the page says only that it failed.
        logger.exception("replay %s failed", run.pk)
        _fail(run, "The replay failed on our side; it is logged and we are looking into it.")
    return False


def _step(run: ReplayRun) -> bool:
    inputs = _inputs(run)
    pools = distinct_pools(inputs.windows)
    bound_steps = math.ceil(len(pools) / BOUND_POOLS_PER_STEP)
    if run.steps_done == 0:
        work = _replay_figures(run, inputs)
        # The last step (integrating the bound and storing the result) is due even with no pools.
        return _advance(run, state=ReplayState.RUNNING, work=work, steps_done=1, steps_total=2 + bound_steps)
    done = list(run.work.get("pool_bounds") or [])
    if len(done) < len(pools):
        chunk = pools[len(done) : len(done) + BOUND_POOLS_PER_STEP]
        done += [pool_bound_per_hour(pool, inputs.catalog, inputs.policy, inputs.overhead) for pool in chunk]
        return _advance(run, work={**run.work, "pool_bounds": done}, steps_done=run.steps_done + 1)
    bound = integrate_bound(inputs.windows, done)
    result = {key: value for key, value in run.work.items() if key != "pool_bounds"}
    result["lower_bound"] = {
        "effective_spend": round(bound.dollars, 6),
        "windows": bound.windows,
        "plan_calls": bound.plan_calls,
    }
    _advance(
        run,
        state=ReplayState.DONE,
        result=result,
        steps_done=run.steps_done + 1,
        finished_at=timezone.now(),
    )
    return False
