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
PROVISIONING_LAUNCH = "workers.tasks.provisioning_launch"
CLUSTER_CHECK = "workers.tasks.cluster_check"
TASK_NAMES = (FEDERATION_PASS, PROVISIONING_LAUNCH, CLUSTER_CHECK)

# Work is coalesced per subject: while a task for it is queued (and, for a launch, running), asking
# for another does nothing — a burst of 200 submissions costs one or two federation passes, not 200;
# beat does not pile passes up behind a slow one; a backlog does not fill with copies of the same
# launch. The mark expires after this long, so a lost message cannot block a subject for longer.
QUEUED_MARK_SECONDS = 60


def federation_queued_key(organization_id: str) -> str:
    return f"federation-queued:{organization_id}"


def launch_queued_key(row_id: str) -> str:
    return f"launch-queued:{row_id}"


def cluster_check_queued_key(cluster_id: str) -> str:
    return f"cluster-check-queued:{cluster_id}"


def send_once(mark: str, task_name: str, args: tuple[str, ...], *, countdown: float = 0) -> bool:
    """Send the task unless `mark` says one is in flight; True when this call sent it. The task
    clears the mark (`cache.delete`) when it no longer counts as in flight."""
    if not cache.add(mark, 1, timeout=QUEUED_MARK_SECONDS):
        return False
    app.send_task(task_name, args=args, countdown=countdown)
    return True


def request_federation_pass(organization_id: str, *, countdown: float = 0) -> bool:
    """Queue a federation pass unless one is already queued; True when this call queued it."""
    return send_once(
        federation_queued_key(organization_id), FEDERATION_PASS, (organization_id,), countdown=countdown
    )


def federation_pass_on_commit(organization_id: str) -> None:
    """A federation pass for the organization once the current transaction commits."""
    transaction.on_commit(lambda: request_federation_pass(organization_id))


def request_cluster_check(cluster_id: str) -> bool:
    """Queue a check of the cluster unless one is already queued; True when this call queued it."""
    return send_once(cluster_check_queued_key(cluster_id), CLUSTER_CHECK, (cluster_id,))


def cluster_check_on_commit(cluster_id: str) -> None:
    """A check of the cluster (connecting it, or "Check now") once the current transaction commits."""
    transaction.on_commit(lambda: request_cluster_check(cluster_id))
