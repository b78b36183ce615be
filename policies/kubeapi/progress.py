"""A federated Deployment's ``Progressing`` condition, as kube-controller-manager's deployment
controller keeps it, so that what GitOps tools and kubectl read from it means the same:

- ``True``/``NewReplicaSetAvailable`` once every replica is updated and available;
- ``True``/``ReplicaSetUpdated`` while it progresses: its ``lastUpdateTime`` moves whenever it does
  (a new generation observed, more replicas updated, ready or available);
- ``False``/``ProgressDeadlineExceeded`` when it has not progressed for ``spec.progressDeadlineSeconds``
  (600 by default), until it progresses again. Argo CD then shows the application Degraded, Flux's
  health check fails, and ``kubectl rollout status`` stops with "exceeded its progress deadline",
  instead of all three waiting for good on a workload no member can take;
- ``Unknown``/``DeploymentPaused`` while ``spec.paused`` (no deadline runs), then
  ``Unknown``/``DeploymentResumed`` until the rollout goes on.

The time it would pass its deadline (``deadline``) lets the status sync look at an object again
then, though nothing else about it moved.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils.dateparse import parse_datetime

Json = dict[str, Any]
DEFAULT_DEADLINE_SECONDS = 600  # the Deployment API's default for spec.progressDeadlineSeconds
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
# The reasons whose lastUpdateTime the deadline counts from (a rollout under way).
_UNDER_WAY = ("ReplicaSetUpdated", RESUMED)
_COUNTS = ("updatedReplicas", "readyReplicas", "availableReplicas")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _previous(status: Json) -> Json:
    found = [c for c in status.get("conditions") or [] if c.get("type") == "Progressing"]
    return found[0] if found else {}


def _progressed(before: Json, now: Json) -> bool:
    """A new generation observed, or more replicas updated, ready or available than before."""
    if before.get("observedGeneration") != now.get("observedGeneration"):
        return True
    return any(int(now.get(count) or 0) > int(before.get(count) or 0) for count in _COUNTS)


def _deadline_seconds(spec: Json) -> int:
    try:
        return max(0, int(spec.get("progressDeadlineSeconds", DEFAULT_DEADLINE_SECONDS)))
    except (TypeError, ValueError):
        return DEFAULT_DEADLINE_SECONDS


def condition(
    name: str, spec: Json, before: Json, now_status: Json, *, complete: bool, message: str, now: datetime
) -> Json:
    """The ``Progressing`` condition of a Deployment whose status was ``before`` and is now
    ``now_status`` (its counts and observed generation); ``message``: why it is where it is."""
    previous = _previous(before)
    kept = parse_datetime(str(previous.get("lastUpdateTime") or ""))
    moved = kept is None or _progressed(before, now_status)
    rollout = before.get("observedGeneration") != now_status.get("observedGeneration")
    if spec.get("paused"):
        found = ("Unknown", PAUSED, "Deployment is paused")
    elif previous.get("reason") == PAUSED:
        found = ("Unknown", RESUMED, "Deployment is resumed")
    elif complete:
        found = ("True", "NewReplicaSetAvailable", f'Deployment "{name}" has successfully progressed.')
    elif previous.get("reason") == "NewReplicaSetAvailable" and not rollout:
        # Replicas lost after a rollout completed are not a rollout that stopped progressing: the
        # Available condition says so (the deployment controller keeps this one too).
        found = ("True", "NewReplicaSetAvailable", str(previous.get("message") or ""))
    elif previous.get("reason") == TIMED_OUT and not moved:
        found = ("False", TIMED_OUT, str(previous.get("message") or ""))
    elif kept is not None and not moved and now - kept > timedelta(seconds=_deadline_seconds(spec)):
        found = ("False", TIMED_OUT, f'Deployment "{name}" has timed out progressing: {message}'.rstrip(": "))
    else:
        found = ("True", "ReplicaSetUpdated", message or f'Deployment "{name}" is progressing.')
    spelled, reason, text = found
    same = not moved and (previous.get("status"), previous.get("reason")) == (spelled, reason)
    transition = previous.get("lastTransitionTime") if previous.get("status") == spelled else None
    return {
        "type": "Progressing",
        "status": spelled,
        "reason": reason,
        "message": text,
        "lastUpdateTime": previous["lastUpdateTime"] if same else _stamp(now),
        "lastTransitionTime": transition or _stamp(now),
    }


def deadline(status: Json, spec: Json) -> datetime | None:
    """When a status that stays as it is would pass its progress deadline (None: it would not)."""
    progressing = _previous(status)
    if progressing.get("reason") not in _UNDER_WAY or spec.get("paused"):
        return None
    last_update = parse_datetime(str(progressing.get("lastUpdateTime") or ""))
    if last_update is None:
        return None
    return last_update + timedelta(seconds=_deadline_seconds(spec)) + timedelta(seconds=1)
