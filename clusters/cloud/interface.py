"""The cloud provider interface: the only way the provisioning loop (and the import of a cluster)
touches a cloud.

Narrow on purpose: launch one instance from an ordered list of offerings, terminate, list our
instances, find and read the interruption queue, read prices, describe a managed Kubernetes cluster.
Inputs and outputs are frozen dataclasses; every failure is a classified `CloudError` (see
`clusters.cloud.errors`). `tests/workers/provisioning/fakes.py` holds an in-memory implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from engines.kube.capacity import CapacityType

# Every launched instance carries its launch's idempotency token: an instance no record owns but whose
# token a LAUNCHING record holds is that record's launch, not garbage.
LAUNCH_TOKEN_TAG = "nodeless.io/launch-token"


class InstanceState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"
    STOPPING = "stopping"
    STOPPED = "stopped"


class NoticeKind(StrEnum):
    SPOT_INTERRUPTION = "spot_interruption"
    REBALANCE_RECOMMENDATION = "rebalance_recommendation"
    SCHEDULED_CHANGE = "scheduled_change"
    STATE_CHANGE = "state_change"


@dataclass(frozen=True)
class Offering:
    """Where and how an instance type can be bought: type × zone × capacity type."""

    instance_type: str
    zone: str
    capacity_type: CapacityType


@dataclass(frozen=True)
class Placement:
    """Where and from what one offering launches: a launch template version and a subnet."""

    launch_template_id: str
    launch_template_version: int
    subnet_id: str


@dataclass(frozen=True)
class LaunchRequest:
    """Launch one instance from the first offering that has capacity.

    `idempotency_token` makes retries safe: the same token never launches a second instance
    (at most 60 characters; derive it from the decision, e.g. the node claim's id).
    `node_labels` and `node_taints` are what the node registers with (its kubelet's flags, which its
    launch template carries); `placements` names, per offering (same order), the launch template
    version and subnet it launches from.
    """

    offerings: tuple[Offering, ...]
    idempotency_token: str
    tags: Mapping[str, str] = field(default_factory=dict)
    node_labels: Mapping[str, str] = field(default_factory=dict)
    node_taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect)
    placements: tuple[Placement, ...] = ()


@dataclass(frozen=True)
class OfferingFailure:
    offering: Offering
    kind: str  # an ErrorKind value
    provider_code: str
    message: str


@dataclass(frozen=True)
class Instance:
    instance_id: str
    instance_type: str
    zone: str
    capacity_type: CapacityType
    state: InstanceState
    launched_at: datetime
    private_ip: str
    private_dns_name: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class LaunchResult:
    instance: Instance
    offering: Offering
    # Offerings tried before the one that worked, with why each failed (e.g. no capacity).
    skipped: tuple[OfferingFailure, ...] = ()


@dataclass(frozen=True)
class InterruptionNotice:
    kind: NoticeKind
    instance_id: str
    noticed_at: datetime
    # When the provider will reclaim the instance (spot: two minutes after the notice).
    deadline: datetime | None
    message_id: str
    # What deletes the message once the notice is acted on (SQS's receipt handle); "" for none.
    receipt: str = ""


@dataclass(frozen=True)
class PriceQuote:
    instance_type: str
    capacity_type: CapacityType
    zone: str | None  # None: the price holds in every zone of the region
    usd_per_hour: float
    as_of: datetime


@dataclass(frozen=True)
class EksClusterInfo:
    """A managed Kubernetes cluster as the cloud describes it."""

    name: str
    region: str
    endpoint: str
    ca_pem: str
    version: str
    status: str


class CloudProvider(Protocol):
    def launch(self, request: LaunchRequest) -> LaunchResult:
        """Launch one instance, falling back along `request.offerings` on capacity errors.
        Raises InsufficientCapacityError when no offering could be served."""
        ...

    def terminate(self, instance_ids: Sequence[str]) -> None:
        """Terminate instances; terminating an already terminated instance is not an error."""
        ...

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        """Our instances: those carrying every tag in `tags` (not yet terminated ones first)."""
        ...

    def find_interruption_queue(self, cluster_name: str) -> str:
        """The address of the interruption queue the Nodeless stack created for `cluster_name`; ""
        when there is none (or it cannot be read)."""
        ...

    def read_interruption_notices(self, max_notices: int = 10) -> list[InterruptionNotice]:
        """Read pending notices (spot interruptions, rebalance recommendations, ...). They stay in
        the queue, hidden for its visibility timeout, until acknowledged: a pass that fails before
        acting on one leaves it for the next pass instead of losing it."""
        ...

    def acknowledge_interruption_notices(self, notices: Sequence[InterruptionNotice]) -> None:
        """Delete notices the loop has acted on (recorded the interruption)."""
        ...

    def describe_cluster(self, name: str) -> EksClusterInfo:
        """The managed Kubernetes cluster `name` in the provider's region (endpoint, CA, version)."""
        ...

    def on_demand_prices(self, instance_types: Sequence[str] | None = None) -> list[PriceQuote]:
        """List on-demand prices of the region (all types when `instance_types` is None)."""
        ...

    def spot_prices(
        self, instance_types: Sequence[str] | None = None, zones: Sequence[str] | None = None
    ) -> list[PriceQuote]:
        """The current spot price per type and zone."""
        ...
