"""Celery entrypoints of the policies app: thin, id-based, idempotent.

Federation passes are coalesced per organization: while one is queued and not yet started, asking
for another does nothing (a burst of 200 submissions costs one or two passes, not 200, and beat
does not pile passes up behind a slow one). The mark expires after ``QUEUED_MARK_SECONDS``, so a
lost message cannot block an organization for longer than that.
"""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from policies.federation.selectors import organization_ids_with_federation_work
from workers.federation_loop import run_pass
from workers.leases import LeaseLost

# A pass that leaves work in flight (rolling out, failing, within a grace period) asks for the
# next one this much later.
FOLLOW_UP_SECONDS = 2
QUEUED_MARK_SECONDS = 60


def _queued(organization_id: str) -> str:
    return f"federation-queued:{organization_id}"


def request_federation_pass(organization_id: str, *, countdown: float = 0) -> bool:
    """Queue a pass unless one is already queued; True when this call queued it."""
    if not cache.add(_queued(organization_id), 1, timeout=QUEUED_MARK_SECONDS):
        return False
    federation_pass.apply_async((organization_id,), countdown=countdown)
    return True


@shared_task(ignore_result=True)
def federation_pass(organization_id: str) -> None:
    # Writes made while this pass runs must be able to queue the next one.
    cache.delete(_queued(organization_id))
    try:
        report = run_pass(organization_id)
    except LeaseLost:
        return  # another worker took the organization over mid-pass; it carries on
    if report is not None and report.unsettled:
        request_federation_pass(organization_id, countdown=FOLLOW_UP_SECONDS)


@shared_task(ignore_result=True)
def federation_pass_all() -> int:
    """Beat: one pass per organization with federated workloads."""
    organization_ids = organization_ids_with_federation_work()
    for organization_id in organization_ids:
        request_federation_pass(organization_id)
    return len(organization_ids)
