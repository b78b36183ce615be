"""The planner's output: what to launch, what to bind, what cannot be served and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engines.kube.capacity import CapacityType
from engines.kube.resources import Resources


@dataclass(frozen=True, slots=True)
class OfferingChoice:
    """One acceptable way to buy a node. For serverless, `instance_type` names the shape
    (e.g. 'fargate-0.5vCPU-1GB') and `zone` is empty (the service picks the subnet)."""

    instance_type: str
    zone: str
    capacity_type: CapacityType
    price_per_hour: float
    effective_price_per_hour: float
    interruption_bucket: int | None = None

    def describe(self) -> str:
        """The offering at the price it is billed at; offerings are ranked by the effective price
        (spot weighted by its interruption risk), so when that differs it is named as such — a
        reader comparing the sentence with the bill must find the billed figure."""
        where = f" in {self.zone}" if self.zone else ""
        price = f"${self.price_per_hour:.4f}/h"
        if self.effective_price_per_hour > self.price_per_hour * (1 + 1e-9):
            price += f" (${self.effective_price_per_hour:.4f}/h counting its interruption risk)"
        return f"{self.instance_type} {self.capacity_type.label}{where} at {price}"


@dataclass(frozen=True, slots=True)
class Decision:
    """Why a node looks the way it does: the chosen offering, the runner-ups, one line for humans."""

    chosen: OfferingChoice
    runner_ups: tuple[OfferingChoice, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Launch:
    """A node to launch, with its pods and the offerings to try in order.

    `node_id` depends only on the pods it carries, so re-planning the same pods yields the same
    id and a provisioning loop can derive an idempotency token from it. `requests` includes the
    daemonset overhead. `reserved_for_pod` is set for bin-selected (isolated) pods.
    """

    node_id: str
    pod_uids: tuple[str, ...]
    offerings: tuple[OfferingChoice, ...]
    requests: Resources
    reserved_for_pod: str | None
    decision: Decision

    @property
    def chosen(self) -> OfferingChoice:
        return self.offerings[0]

    @property
    def serverless(self) -> bool:
        return self.chosen.capacity_type is CapacityType.SERVERLESS


@dataclass(frozen=True, slots=True)
class Binding:
    """A pod that fits on an existing (ready or in-flight) node's free capacity."""

    pod_uid: str
    node_name: str


class UnschedulableCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    NO_MATCHING_OFFERING = "no_matching_offering"
    UNTOLERATED_TAINT = "untolerated_taint"
    LIMIT_REACHED = "limit_reached"
    POD_AFFINITY = "pod_affinity"
    POD_ANTI_AFFINITY = "pod_anti_affinity"
    TOPOLOGY_SPREAD = "topology_spread"
    VOLUME_ZONE = "volume_zone"
    VOLUME_LIMIT = "volume_limit"
    HOST_PORT = "host_port"


@dataclass(frozen=True, slots=True)
class Unschedulable:
    pod_uid: str
    code: UnschedulableCode
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """A provisioning plan.

    `cost_per_hour` is the sum of the launches' effective prices (price after discount plus
    expected spot interruption cost): the quantity the planner minimizes and that
    `lp_lower_bound` bounds from below for the pods this plan places. `billed_cost_per_hour`
    is what the cloud would bill for the same launches.
    """

    launches: tuple[Launch, ...]
    bindings: tuple[Binding, ...]
    unschedulable: tuple[Unschedulable, ...]
    cost_per_hour: float
    billed_cost_per_hour: float
    lp_lower_bound: float

    @property
    def node_count(self) -> int:
        return len(self.launches)
