"""How the rest of the product asks the workers for work: by task name and id.

Apps import this module and nothing else of `workers/` (an import-linter contract): the tasks import
the loops and the loops import the apps' services, so an app that imported a task would import
itself back round. Sending by name keeps the arrow one way; `tests/workers/test_tasks.py` checks every
name here is a registered task.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

from nodeless_saas.celery import app

FEDERATION_PASS = "workers.tasks.federation_pass"
TASK_NAMES = (FEDERATION_PASS,)

# Federation passes are coalesced per organization: while one is queued and not yet started, asking
# for another does nothing (a burst of 200 submissions costs one or two passes, not 200, and beat
# does not pile passes up behind a slow one). The mark expires after this long, so a lost message
# cannot block an organization for longer than that.
QUEUED_MARK_SECONDS = 60


def federation_queued_key(organization_id: str) -> str:
    return f"federation-queued:{organization_id}"


def request_federation_pass(organization_id: str, *, countdown: float = 0) -> bool:
    """Queue a federation pass unless one is already queued; True when this call queued it."""
    if not cache.add(federation_queued_key(organization_id), 1, timeout=QUEUED_MARK_SECONDS):
        return False
    app.send_task(FEDERATION_PASS, args=(organization_id,), countdown=countdown)
    return True


def federation_pass_on_commit(organization_id: str) -> None:
    """A federation pass for the organization once the current transaction commits."""
    transaction.on_commit(lambda: request_federation_pass(organization_id))
