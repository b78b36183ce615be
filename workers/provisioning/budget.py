"""Each cluster's budget of API calls: a token bucket in Redis, shared by every worker process.

A pass calls the cluster's API server and its cloud account through its ports; `metered` wraps them
so that every call first takes a token from the cluster's bucket (`NODELESS_CLUSTER_API_RATE` tokens a
second, up to `NODELESS_CLUSTER_API_BURST` saved up). A call that finds the bucket short waits for its
token if that takes at most `MAX_WAIT_SECONDS`; longer, the call is not made and the pass stops with
`ApiBudgetSpent` — every step of a pass is idempotent, so the next pass carries on where it stopped.
So a cluster with a storm of work neither floods its own API server (or the cloud account's request
quota) nor holds a worker process while it waits, and other clusters' passes go on.

The bucket lives in Redis (one hash per cluster, updated by one Lua script, on Redis's clock) so every
worker spends from the same budget. The embedded demo has no Redis: there, one process does all the
work against simulated clusters, and calls are not metered.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import redis
from django.conf import settings

from workers.provisioning.ports import CloudProvider, KubePort

MAX_WAIT_SECONDS = 2.0

# Tokens refill at `rate` a second up to `burst`; a call costing `cost` takes them when the wait for
# them is at most `max_wait` (the bucket may go below zero: the waits of calls admitted together add
# up) and returns that wait; a refused call takes nothing. Each bucket of KEYS in turn (a batch of
# passes takes its clusters' first calls in one round trip), the waits answered in their order.
# Redis's own clock keeps workers on different machines agreeing.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local waits = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or at == nil then tokens, at = burst, now end
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local wait = 0
  if tokens < cost then wait = (cost - tokens) / rate end
  if wait <= max_wait then tokens = tokens - cost end
  redis.call('HSET', key, 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
  waits[i] = string.format('%.6f', wait)
end
return waits
"""


class ApiBudgetSpent(Exception):
    """The cluster's API budget would make this call wait too long: the pass stops here."""


def budget_key(cluster_id: str) -> str:
    return f"nodeless:api-budget:{cluster_id}"


_scripts_lock = threading.Lock()
_scripts: dict[tuple[int, str], Any] = {}


def _take_script(url: str) -> Any:
    """The registered script on this process's client (a forked worker must not share sockets)."""
    key = (os.getpid(), url)
    with _scripts_lock:
        if key not in _scripts:
            client = redis.Redis.from_url(url)
            _scripts[key] = client.register_script(_TAKE)
        return _scripts[key]


def take_many(
    cluster_ids: Sequence[str], *, cost: float = 1, max_wait: float = MAX_WAIT_SECONDS
) -> list[float]:
    """Take `cost` tokens from each cluster's bucket, in one round trip: the seconds each must wait
    before calling (0 when its budget has them now). A wait longer than `max_wait` took nothing: that
    cluster must not make the calls."""
    url: str | None = settings.REDIS_URL
    if not url or not cluster_ids:
        return [0.0] * len(cluster_ids)
    rate, burst = settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST
    keys = [budget_key(cluster_id) for cluster_id in cluster_ids]
    return [float(wait) for wait in _take_script(url)(keys=keys, args=[rate, burst, cost, max_wait])]


def take(cluster_id: str, *, cost: float = 1, max_wait: float = MAX_WAIT_SECONDS) -> float:
    """Take `cost` tokens from the cluster's bucket: the seconds to wait before calling (0 when the
    budget has them now); raises ApiBudgetSpent when that would be longer than `max_wait`."""
    [wait] = take_many([cluster_id], cost=cost, max_wait=max_wait)
    _admitted(cluster_id, wait, max_wait)
    return wait


def _admitted(cluster_id: str, wait: float, max_wait: float) -> None:
    if wait > max_wait:
        raise ApiBudgetSpent(f"cluster {cluster_id}: its API budget frees a call only in {wait:.1f}s")


def spend(cluster_id: str) -> None:
    """One call's worth of the budget, waiting for it if need be."""
    wait = take(cluster_id)
    if wait > 0:
        time.sleep(wait)


class _Prepaid:
    """Calls of one cluster paid for together, ahead of making them (`metered(prepaid=...)`): each of
    the next that many calls through the cluster's ports spends one of them instead of its own token."""

    def __init__(self, cluster_id: str, calls: int, taken: float | None = None) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        if calls:
            if taken is None:
                wait = take(cluster_id, cost=calls)
            else:  # taken already, with the other clusters of a batch (`take_many`)
                _admitted(cluster_id, taken, MAX_WAIT_SECONDS)
                wait = taken
            if wait > 0:
                time.sleep(wait)
            self._calls = calls

    def spend(self) -> bool:
        """One prepaid call, if any is left."""
        with self._lock:
            if self._calls:
                self._calls -= 1
                return True
            return False


class _Metered:
    """A port whose every public method spends one call of the cluster's budget first (a port call is
    one request, or a few pages of one)."""

    def __init__(self, port: object, cluster_id: str, prepaid: _Prepaid) -> None:
        self._port, self._cluster_id, self._prepaid = port, cluster_id, prepaid

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._port, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        return self._metered(attribute)

    def _metered(self, call: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(call)
        def metered(*args: Any, **kwargs: Any) -> Any:
            if not self._prepaid.spend():
                spend(self._cluster_id)
            return call(*args, **kwargs)

        return metered


def metered(
    cluster_id: str,
    provider: CloudProvider,
    kube: KubePort,
    *,
    prepaid: int = 0,
    taken: float | None = None,
) -> tuple[CloudProvider, KubePort]:
    """The cluster's ports, each call within the cluster's API budget. `prepaid`: calls the caller
    will make first (a pass's first reads), paid for now in one take from the bucket (one round trip
    to Redis instead of one each), or already (`taken`: the wait `take_many` answered for them),
    waiting for them if need be; raises ApiBudgetSpent as the first of them would."""
    purse = _Prepaid(cluster_id, prepaid, taken)
    return (
        cast(CloudProvider, _Metered(provider, cluster_id, purse)),
        cast(KubePort, _Metered(kube, cluster_id, purse)),
    )
