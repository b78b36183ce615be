"""What a replay takes and returns: pods with their lifetimes, timing settings, metered results.

Every time is in seconds on the trace's own clock; every price is USD per hour; every cost is
USD. `cost` is what the cloud bills (the offering's price after discount);
`effective_cost` adds the expected spot interruption cost the planner minimizes, which is the
unit of the planner's lower bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engines.planner import CapacityType, PodRequest, Resources, Unschedulable

SECONDS_PER_HOUR = 3600.0
# No daemonsets: every new node's allocatable is the pods' to use.
NO_OVERHEAD = Resources()


@dataclass(frozen=True, slots=True)
class ReplayPod:
    """A pod of a trace: it asks for `request` at `arrival` and runs for `departure - arrival`
    seconds once it has a node (a pod whose node boots late still runs its full duration)."""

    request: PodRequest
    arrival: float
    departure: float

    def __post_init__(self) -> None:
        if self.departure < self.arrival:
            raise ValueError(
                f"pod {self.request.uid} departs ({self.departure}) before it arrives ({self.arrival})"
            )

    @property
    def uid(self) -> str:
        return self.request.uid

    @property
    def duration(self) -> float:
        return self.departure - self.arrival


@dataclass(frozen=True, slots=True)
class Timing:
    """How long capacity takes to appear and to go, and how it is billed.

    `boot_seconds` runs from a launch until the node takes pods (instance boot, kubelet
    registration, image pull); serverless pods take `serverless_boot_seconds` (None: the same).
    A node empty for `scale_down_seconds` is released; None keeps every node to the end (a
    static pool). Billing starts at the launch, is per second, with a `minimum_billed_seconds`
    charge per node. `series_bucket_seconds` is the width of the cost time series' buckets.
    """

    boot_seconds: float = 0.0
    scale_down_seconds: float | None = 0.0
    serverless_boot_seconds: float | None = None
    minimum_billed_seconds: float = 60.0
    series_bucket_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.boot_seconds < 0 or (self.serverless_boot_seconds or 0) < 0:
            raise ValueError("boot times must not be negative")
        if self.scale_down_seconds is not None and self.scale_down_seconds < 0:
            raise ValueError("the scale-down delay must not be negative")
        if self.minimum_billed_seconds < 0 or self.series_bucket_seconds <= 0:
            raise ValueError("the minimum charge must not be negative and buckets must have a width")

    @property
    def serverless_boot(self) -> float:
        return self.boot_seconds if self.serverless_boot_seconds is None else self.serverless_boot_seconds


@dataclass(frozen=True, slots=True)
class MeteredNode:
    """One node (or one serverless pod's micro-VM) from launch to release, as billed."""

    name: str
    instance_type: str
    zone: str
    capacity_type: CapacityType
    price_per_hour: float
    effective_price_per_hour: float
    launched_at: float
    ready_at: float
    released_at: float
    billed_seconds: float
    pods_served: int

    @property
    def cost(self) -> float:
        return self.price_per_hour * self.billed_seconds / SECONDS_PER_HOUR

    @property
    def effective_cost(self) -> float:
        return self.effective_price_per_hour * self.billed_seconds / SECONDS_PER_HOUR


@dataclass(frozen=True, slots=True)
class CapacityUsage:
    """Billed node-seconds and their cost for one capacity type."""

    node_seconds: float
    cost: float
    effective_cost: float


@dataclass(frozen=True, slots=True)
class CostSeries:
    """Billed cost per time bucket: bucket i covers [origin + i*width, origin + (i+1)*width)."""

    origin: float
    bucket_seconds: int
    costs: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay cost, where the money went, and what could not run.

    `unplaced` lists the pods the planner could not place (with its reason); they never ran
    and cost nothing. `start_delay_seconds` sums, over the pods that ran, how long each waited
    for its node. `plan_calls` counts the planner calls actually made (identical pending sets
    facing no usable existing capacity are planned once).
    """

    cost: float
    effective_cost: float
    by_capacity_type: Mapping[CapacityType, CapacityUsage]
    series: CostSeries
    nodes: tuple[MeteredNode, ...]
    unplaced: tuple[Unschedulable, ...]
    pods_run: int
    start_delay_seconds: float
    plan_calls: int
    consolidations: int = 0
    pods_moved: int = 0
