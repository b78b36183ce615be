"""DescribeInstances page tokens that survive instances leaving the account, as AWS's do.

moto's NextToken is the id of the last reservation on the page, and the next page starts after it
in the listing of the moment: when that reservation is gone by then (the simulated account drops
terminated instances an hour after they end, `retention`), moto fails the request with a 500 page
that is not even XML. AWS's tokens are opaque and keep working while the account changes. Here a
token whose reservation is gone resumes after the last reservation still listed that came before
it (reservations are kept in the order they were made), so no page repeats or skips one that is
still there. `tests/simulator/test_moto_paging.py` holds it.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

_installed = False
_lock = threading.Lock()
_counter = itertools.count()
_order: dict[str, int] = {}  # reservation id -> its place among all reservations ever seen


def _places(reservation_ids: list[str]) -> list[int]:
    with _lock:
        return [_order.setdefault(rid, next(_counter)) for rid in reservation_ids]


def resumed_token(token: str, listed_ids: list[str], all_ids: list[str]) -> str | None:
    """The token to hand moto for a listing whose ``token`` reservation is gone: the last listed
    reservation made before it, or None (start from the first) when there is none."""
    _places(all_ids)  # every reservation of the account gets its place, in the order they were made
    with _lock:
        place = _order.get(token)
    if place is None:
        return None
    before = [rid for rid, at in zip(listed_ids, _places(listed_ids), strict=True) if at < place]
    return before[-1] if before else None


def install() -> None:
    """Make moto's DescribeInstances resume a page whose token's reservation is gone (once)."""
    global _installed
    if _installed:
        return
    from moto.ec2.responses.instances import InstanceResponse

    original = InstanceResponse.describe_instances

    def describe_instances(self: Any) -> Any:
        token = self._get_param("NextToken")
        if token and not self._get_param("InstanceIds", []):
            backend = self.ec2_backend
            listed = [r.id for r in backend.describe_instances(filters=self._filters_from_querystring())]
            if token not in listed:
                replacement = resumed_token(token, listed, list(backend.reservations))
                for params in (getattr(self, "params", None), self.querystring):
                    if isinstance(params, dict) and "NextToken" in params:
                        if replacement is None:
                            del params["NextToken"]
                        else:
                            params["NextToken"] = [replacement] if params is self.querystring else replacement
        else:
            _places(list(self.ec2_backend.reservations))
        return original(self)

    InstanceResponse.describe_instances = describe_instances  # type: ignore[method-assign]
    _installed = True
