"""Races with another request end as a 409 that says what happened, never as a 500.

Services check names and rows before they write, but two requests can pass the same check at once
(two connects of one cluster name: each probes the cluster for seconds between its check and its
insert), and a row can be deleted while a slow request works on it (verify or "check now" racing a
delete). The database is the referee: its unique constraints and foreign keys refuse the loser.
This module turns that refusal into the message a person can act on, for the API's error body
(tenants.api.errors) and for pages (RaceMiddleware).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError, IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# PostgreSQL's SQLSTATEs for the two refusals (SQLite, the embedded default, reports no state).
_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"
# Two transactions each waiting for a row the other holds: PostgreSQL ends one of them.
_DEADLOCK_DETECTED = "40P01"

# What each unique constraint a person can collide with means, in their words.
_TAKEN = {
    "unique_cluster_name": "A cluster with this name was just created in this organization; choose another name.",
    "unique_cloud_account_role": "This role was just connected to this organization by another request.",
    "unique_federation_policy_name": "A federation policy with this name was just created; choose another name.",
    "unique_workload": "A workload of this kind with this namespace and name was just submitted; update it instead.",
    "unique_membership": "This person just became a member of the organization.",
    "one_default_provisioning_policy": "The organization's default provisioning policy was just created; edit it.",
}
_GONE = "What this request worked on was deleted by another request while it ran; reload to see the current state."
_CHANGED = "Another request changed the same thing at the same moment; reload and try again."


class RaceLost(Exception):
    """A service found, under its row lock, that another request got there first."""


class StaleVersion(RaceLost):
    """The caller edited a copy older than the stored object: it sent the version it read (the API's
    ``If-Match``, a form's hidden version) and another change has been saved since."""

    def __init__(self, what: str, *, sent: int, current: int) -> None:
        super().__init__(
            f"{what} changed since you read it: you sent version {sent}, it is now at version {current}. "
            "Read it again, reapply your change and send it with the new version."
        )
        self.current = current


def _state_and_constraint(error: DatabaseError) -> tuple[str, str]:
    diagnostics = getattr(error.__cause__, "diag", None)
    state = str(getattr(error.__cause__, "sqlstate", "") or "")
    return state, str(getattr(diagnostics, "constraint_name", "") or "")


def race_message(error: Exception) -> str | None:
    """The message for a write another request beat, or None when `error` is not such a race."""
    if isinstance(error, RaceLost):
        return str(error)
    if isinstance(error, IntegrityError):
        state, constraint = _state_and_constraint(error)
        if state == _UNIQUE_VIOLATION or constraint in _TAKEN:
            return _TAKEN.get(constraint, _CHANGED)
        if state == _FOREIGN_KEY_VIOLATION:
            return _GONE
        return None
    if isinstance(error, DatabaseError) and _state_and_constraint(error)[0] == _DEADLOCK_DETECTED:
        return _CHANGED
    # Model.save(update_fields=...) on a row deleted meanwhile.
    if type(error) is DatabaseError and "did not affect any rows" in str(error):
        return _GONE
    return None


class RaceMiddleware:
    """Pages: a form whose write lost a race answers 409 with the reason, not a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        message = race_message(exception)
        if message is None:
            return None
        return render(request, "409.html", {"message": message}, status=409)
