"""The price catalog the planner chooses from: instance types, offerings and serverless prices.

Prices are USD per hour. Every offering keeps its list price; `price` is what the
organization pays after its negotiated discount (`Catalog.with_discount`), and
`effective_price` adds the expected cost of spot interruptions, which is what the planner
minimizes. Builders live in `clusters.pricing` (real cloud data) and
`lab.planner.testing` (Karpenter's synthetic benchmark catalog).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from engines.kube.capacity import CapacityType
from engines.kube.resources import Resources

# Monthly share of instances interrupted for each EC2 Spot Instance Advisor bucket, taken at
# the middle of the bucket's range (<5 %, 5-10 %, 10-15 %, 15-20 %, >20 %; the open top bucket
# is priced at 25 %).
INTERRUPTION_BUCKET_RATE: Mapping[int, float] = {0: 0.025, 1: 0.075, 2: 0.125, 3: 0.175, 4: 0.25}
WORST_INTERRUPTION_BUCKET = 4


def interruption_cost_rate(bucket: int | None) -> float:
    """Expected interruption cost of a spot offering, as a fraction of its price.

    The model is deliberately simple and conservative: an interrupted node is assumed to waste
    the share of its spend equal to its interruption rate (the work in flight is lost and run
    again elsewhere). An unknown bucket is priced as the worst one.
    """
    return INTERRUPTION_BUCKET_RATE[WORST_INTERRUPTION_BUCKET if bucket is None else bucket]


@dataclass(frozen=True, slots=True)
class InstanceType:
    """One VM shape. `system_reserve` is what the kubelet and OS keep (kube-reserved + eviction).

    A burstable type (AWS T family) sustains only `baseline_cpu_fraction` of each vCPU; above it
    it spends CPU credits and, once they are gone, is throttled back to the baseline or, in
    unlimited mode, billed `unlimited_usd_per_vcpu_hour` for every vCPU-hour above it (None: the
    provider has no unlimited mode). Fixed-performance types keep the defaults.
    """

    name: str
    family: str
    architecture: str
    vcpu: int
    memory_mib: int
    max_pods: int
    system_reserve: Resources
    ephemeral_mib: int = 20 * 1024
    gpus: int = 0
    gpu_model: str = ""
    gpu_memory_mib: int = 0
    current_generation: bool = True
    generation: int = 0
    bare_metal: bool = False
    baseline_cpu_fraction: float = 1.0
    unlimited_usd_per_vcpu_hour: float | None = None
    # How many EBS volumes a node of this type attaches (its CSINode's count; None: not known).
    ebs_attach_limit: int | None = None

    @property
    def burstable(self) -> bool:
        return self.baseline_cpu_fraction < 1.0

    @property
    def baseline_cpu_millis(self) -> int:
        """The CPU it sustains without credits, in millicores."""
        return int(self.vcpu * 1000 * self.baseline_cpu_fraction)

    @property
    def capacity(self) -> Resources:
        return Resources(self.vcpu * 1000, self.memory_mib, self.gpus, self.ephemeral_mib, self.max_pods)

    @property
    def allocatable(self) -> Resources:
        return (self.capacity - self.system_reserve).clamped()


@dataclass(frozen=True, slots=True)
class Offering:
    """An instance type purchasable in one zone with one capacity type.

    `interruption_cost_rate` is the expected interruption cost as a fraction of the price
    (zero for on-demand), so a discount scales both together.
    """

    instance_type: str
    zone: str
    capacity_type: CapacityType
    list_price: float
    price: float
    interruption_bucket: int | None = None
    interruption_cost_rate: float = 0.0

    @property
    def effective_price(self) -> float:
        return self.price * (1.0 + self.interruption_cost_rate)


@dataclass(frozen=True, slots=True)
class ServerlessShape:
    """An allowed serverless pod size (e.g. a Fargate CPU/memory pair)."""

    cpu_millis: int
    memory_mib: int

    @property
    def label(self) -> str:
        return f"{self.cpu_millis / 1000:g}vCPU-{self.memory_mib / 1024:g}GB"


@dataclass(frozen=True, slots=True)
class ServerlessPricing:
    """Per-pod serverless pricing for one platform (e.g. Fargate, Linux/x86_64, on-demand).

    A pod gets `memory_overhead_mib` added to its memory request and is then rounded up to the
    cheapest allowed shape; storage beyond `ephemeral_included_mib` is billed per GiB-hour.
    """

    service: str
    architecture: str
    spot: bool
    list_usd_per_vcpu_hour: float
    list_usd_per_gib_hour: float
    usd_per_vcpu_hour: float
    usd_per_gib_hour: float
    memory_overhead_mib: int = 256
    ephemeral_included_mib: int = 20 * 1024
    max_ephemeral_mib: int = 175 * 1024
    list_usd_per_extra_ephemeral_gib_hour: float = 0.0
    usd_per_extra_ephemeral_gib_hour: float = 0.0
    interruption_bucket: int | None = None
    interruption_cost_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class Discount:
    """An organization's negotiated discount, in percent off list price, per capacity type."""

    on_demand_pct: float = 0.0
    spot_pct: float = 0.0
    serverless_pct: float = 0.0

    def factor(self, capacity_type: CapacityType) -> float:
        percent = {
            CapacityType.ON_DEMAND: self.on_demand_pct,
            CapacityType.SPOT: self.spot_pct,
            CapacityType.SERVERLESS: self.serverless_pct,
        }[capacity_type]
        if not 0.0 <= percent < 100.0:
            raise ValueError(f"a discount must be at least 0 % and below 100 %, got {percent} %")
        return 1.0 - percent / 100.0


@dataclass(frozen=True, slots=True)
class Catalog:
    """Instance types, their offerings in one region, and serverless prices there."""

    provider: str
    region: str
    zones: tuple[str, ...]
    instance_types: tuple[InstanceType, ...]
    offerings: tuple[Offering, ...]
    serverless_shapes: tuple[ServerlessShape, ...] = ()
    serverless_pricing: tuple[ServerlessPricing, ...] = ()
    discount: Discount = Discount()

    def with_discount(self, discount: Discount) -> Catalog:
        """The same catalog priced for an organization: `discount` replaces any earlier one.

        The discount applies to every price the planner sees, interruption costs included
        (they are proportional to the price paid).
        """
        factors = {capacity_type: discount.factor(capacity_type) for capacity_type in CapacityType}
        offerings = tuple(
            replace(offering, price=offering.list_price * factors[offering.capacity_type])
            for offering in self.offerings
        )
        serverless = tuple(
            replace(
                pricing,
                usd_per_vcpu_hour=pricing.list_usd_per_vcpu_hour * factors[CapacityType.SERVERLESS],
                usd_per_gib_hour=pricing.list_usd_per_gib_hour * factors[CapacityType.SERVERLESS],
                usd_per_extra_ephemeral_gib_hour=pricing.list_usd_per_extra_ephemeral_gib_hour
                * factors[CapacityType.SERVERLESS],
            )
            for pricing in self.serverless_pricing
        )
        return replace(self, offerings=offerings, serverless_pricing=serverless, discount=discount)
