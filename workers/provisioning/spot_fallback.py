"""The policy's "fall back to on-demand after N seconds": a launch whose plan prefers spot asks EC2
for its spot offerings only, for the first `spot_fallback_seconds` of its life. If none of them has
capacity (InsufficientInstanceCapacity, or a fleet left unfulfilled), the launch waits and asks again;
once the time is up, its on-demand offerings are tried too, after the spot ones (the plan's order).

Zero falls back at once, within the same CreateFleet sequence. Pure: the launch step applies it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from clusters.cloud.interface import LaunchRequest
from engines.kube import CapacityType


def waits_for_spot(request: LaunchRequest, *, created_at: datetime, now: datetime, seconds: int) -> bool:
    """Whether the launch is still within its spot-only window: its plan prefers spot (its first
    offering is spot), it also has on-demand offerings to fall back to, and N seconds have not passed."""
    if not request.offerings or request.offerings[0].capacity_type is not CapacityType.SPOT:
        return False
    if all(o.capacity_type is CapacityType.SPOT for o in request.offerings):
        return False
    return now < created_at + timedelta(seconds=seconds)


def spot_only(request: LaunchRequest) -> LaunchRequest:
    """The request's spot offerings, each with its placement (template version and subnet), which
    the request lists in the same order as the offerings."""
    keep = [i for i, o in enumerate(request.offerings) if o.capacity_type is CapacityType.SPOT]
    placements = tuple(request.placements[i] for i in keep) if request.placements else ()
    return replace(request, offerings=tuple(request.offerings[i] for i in keep), placements=placements)


def fallback_seconds(settings: dict[str, object]) -> int:
    """The policy's setting (revisions saved before it existed meant the default, 120 s)."""
    value = settings.get("spot_fallback_seconds", 120)
    return int(value) if isinstance(value, int | str) else 120
