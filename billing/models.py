"""The usage ledger: what each cluster cost, minute by minute, and the rollups pages read.

Raw rows (one `UsageInterval` per cluster and metered minute, with its `NodeUsage` and
`AllocationUsage` rows) are kept for a week; `ClusterRollup` and `AllocationRollup` sum them per
hour and per UTC day, so reports never scan raw rows. Units: costs in USD; resource amounts in
core-seconds, GiB-seconds and GPU-seconds; node time in node-seconds. The `*_pool_*` fields are
the demand a static pool would have had to hold (averaged over a minute); rollups keep their
maximum, the peak. `PodPlacement` is the latest view of where every pod runs and at what price.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from clusters.models import Cluster, ManagedNode
from policies.models import Decision
from tenants.models import Organization


def _money() -> models.DecimalField[Decimal, Decimal]:
    return models.DecimalField(max_digits=20, decimal_places=10, default=0)


class Granularity(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class UsageMeasures(models.Model):
    """What one cluster cost and used over some time (a minute, an hour or a day)."""

    metered_seconds = models.FloatField(default=0)
    node_cost = _money()
    allocated_cost = _money()
    idle_cost = _money()
    on_demand_cost = _money()  # baseline: the same nodes, on-demand
    serverless_cost = _money()  # baseline: every pod alone on serverless
    on_demand_node_cost = _money()
    spot_node_cost = _money()
    serverless_node_cost = _money()
    on_demand_node_seconds = models.FloatField(default=0)
    spot_node_seconds = models.FloatField(default=0)
    serverless_node_seconds = models.FloatField(default=0)
    unpriced_node_seconds = models.FloatField(default=0)
    cpu_requested = models.FloatField(default=0)
    cpu_allocatable = models.FloatField(default=0)
    cpu_used = models.FloatField(default=0)
    memory_requested = models.FloatField(default=0)
    memory_allocatable = models.FloatField(default=0)
    memory_used = models.FloatField(default=0)
    gpu_requested = models.FloatField(default=0)
    gpu_allocatable = models.FloatField(default=0)
    usage_measured_seconds = models.FloatField(default=0)  # pod-seconds a metrics source measured
    cpu_pool_cpu = models.FloatField(default=0)
    cpu_pool_memory = models.FloatField(default=0)
    cpu_pool_gpus = models.FloatField(default=0)
    cpu_pool_pods = models.FloatField(default=0)
    cpu_pool_largest_cpu = models.FloatField(default=0)
    cpu_pool_largest_memory = models.FloatField(default=0)
    cpu_pool_largest_gpus = models.FloatField(default=0)
    gpu_pool_cpu = models.FloatField(default=0)
    gpu_pool_memory = models.FloatField(default=0)
    gpu_pool_gpus = models.FloatField(default=0)
    gpu_pool_pods = models.FloatField(default=0)
    gpu_pool_largest_cpu = models.FloatField(default=0)
    gpu_pool_largest_memory = models.FloatField(default=0)
    gpu_pool_largest_gpus = models.FloatField(default=0)

    class Meta:
        abstract = True


POOL_FIELDS = tuple(
    f"{pool}_pool_{part}"
    for pool in ("cpu", "gpu")
    for part in ("cpu", "memory", "gpus", "pods", "largest_cpu", "largest_memory", "largest_gpus")
)
USAGE_SUM_FIELDS = tuple(
    field.name for field in UsageMeasures._meta.local_fields if field.name not in POOL_FIELDS
)


class AllocationMeasures(models.Model):
    """What one group of pods (or the idle capacity) cost, and what it would have cost on the
    baselines, over some time."""

    namespace = models.CharField(max_length=63, blank=True)
    workload = models.CharField(max_length=300, blank=True)
    capacity_type = models.CharField(max_length=16)
    idle = models.BooleanField(default=False)
    cost = _money()
    on_demand_cost = _money()
    serverless_cost = _money()
    cpu_requested = models.FloatField(default=0)
    memory_requested = models.FloatField(default=0)
    gpu_requested = models.FloatField(default=0)
    pod_seconds = models.FloatField(default=0)
    serverless_unfit_pod_seconds = models.FloatField(default=0)  # pods no serverless shape holds

    class Meta:
        abstract = True


ALLOCATION_KEY_FIELDS = ("namespace", "workload", "capacity_type", "idle")
ALLOCATION_SUM_FIELDS = (
    "cost",
    "on_demand_cost",
    "serverless_cost",
    "cpu_requested",
    "memory_requested",
    "gpu_requested",
    "pod_seconds",
    "serverless_unfit_pod_seconds",
)


class UsageInterval(UsageMeasures):
    """One metered minute of one cluster. Metering an interval again replaces its rows."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the composite index in Meta starts with it
    )
    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="usage_intervals",
        db_index=False,  # the unique constraint or index in Meta starts with it
    )
    start = models.DateTimeField()
    pods_observed = models.BooleanField(default=True)  # False: the cluster could not be listed
    # Pods waiting for a node when metering read the cluster, times the interval (only the interval
    # of the read counts them: caught-up intervals were not seen). What a replay compares with.
    pending_pod_seconds = models.FloatField(default=0)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["cluster", "start"], name="billing_usage_interval_unique")
        ]
        indexes: ClassVar = [
            models.Index(fields=["organization", "start"], name="billing_interval_org_start")
        ]

    def __str__(self) -> str:
        return f"{self.cluster_id} {self.start:%Y-%m-%d %H:%M}"


class NodeUsage(models.Model):
    """One node's cost in one metered interval."""

    id = models.BigAutoField(primary_key=True)
    interval = models.ForeignKey(UsageInterval, on_delete=models.CASCADE, related_name="nodes")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    managed_node = models.ForeignKey(
        ManagedNode, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage"
    )
    node_name = models.CharField(max_length=253)
    instance_type = models.CharField(max_length=64, blank=True)
    capacity_type = models.CharField(max_length=16)
    zone = models.CharField(max_length=48, blank=True)
    price_per_hour = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    seconds = models.FloatField()
    cost = _money()
    on_demand_cost = _money()
    allocated_cost = _money()
    idle_cost = _money()

    def __str__(self) -> str:
        return f"{self.node_name} {self.seconds:.0f} s"


class AllocationUsage(AllocationMeasures):
    id = models.BigAutoField(primary_key=True)
    interval = models.ForeignKey(UsageInterval, on_delete=models.CASCADE, related_name="allocations")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.namespace}/{self.workload} {self.capacity_type}"


class ClusterRollup(UsageMeasures):
    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the composite index in Meta starts with it
    )
    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="usage_rollups",
        db_index=False,  # the unique constraint or index in Meta starts with it
    )
    granularity = models.CharField(max_length=4, choices=Granularity.choices)
    start = models.DateTimeField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["cluster", "granularity", "start"], name="billing_cluster_rollup_unique"
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=["organization", "granularity", "start"], name="billing_cluster_rollup_org")
        ]

    def __str__(self) -> str:
        return f"{self.cluster_id} {self.granularity} {self.start:%Y-%m-%d %H:%M}"


class AllocationRollup(AllocationMeasures):
    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the composite index in Meta starts with it
    )
    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the unique constraint or index in Meta starts with it
    )
    granularity = models.CharField(max_length=4, choices=Granularity.choices)
    start = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["organization", "granularity", "start"], name="billing_alloc_rollup_org"),
            models.Index(fields=["cluster", "granularity", "start"], name="billing_alloc_rollup_cluster"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.workload} {self.granularity} {self.start:%Y-%m-%d %H:%M}"


class PodPlacement(models.Model):
    """Where a pod runs now, on what, at what price, and the decision that launched its node.
    Metering refreshes a cluster's rows every minute; pods that are gone are removed."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="pod_placements")
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    workload = models.CharField(max_length=300, blank=True)
    phase = models.CharField(max_length=16, blank=True)
    node_name = models.CharField(max_length=253, blank=True)
    managed_node = models.ForeignKey(
        ManagedNode, null=True, blank=True, on_delete=models.SET_NULL, related_name="pod_placements"
    )
    decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    instance_type = models.CharField(max_length=64, blank=True)
    capacity_type = models.CharField(max_length=16, blank=True)
    zone = models.CharField(max_length=48, blank=True)
    node_price_per_hour = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    cost_per_hour = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    cpu = models.FloatField(default=0)  # requested cores
    memory_gib = models.FloatField(default=0)
    gpus = models.FloatField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)  # when metering last saw it change

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "name"], name="billing_pod_placement_unique"
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=["organization", "namespace", "name"], name="billing_pod_placement_org")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name} on {self.node_name or 'no node'}"


class ContainerUsageHour(models.Model):
    """One hour of one workload container's measured usage, all its pods together (what right-sizing
    reads). Metering adds every read of the cluster's metrics to the hour's row, so a row holds
    histograms (bucket index -> samples; `engines.metering.rightsizing`), not samples: its size is
    bounded by the buckets, a few dozen, however many pods and reads. The hourly prune merges the
    hours of days before yesterday into one row per day and deletes what is older than
    `USAGE_HISTORY_DAYS` (`billing.services.usage_history`)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the composite index in Meta starts with it
    )
    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the unique constraint in Meta starts with it
    )
    namespace = models.CharField(max_length=63)
    workload = models.CharField(max_length=300)
    container = models.CharField(max_length=63)
    hour = models.DateTimeField()
    # A day's hours merged into one row (`hour` is its midnight, UTC): days before yesterday are
    # compacted so a week's window reads about 30 rows per container, not 168.
    whole_day = models.BooleanField(default=False)
    samples = models.PositiveIntegerField(default=0)  # one per pod and read
    first_sample_at = models.DateTimeField()
    last_sample_at = models.DateTimeField()
    cpu_histogram = models.JSONField(default=dict)  # cores
    memory_histogram = models.JSONField(default=dict)  # GiB
    memory_peak_gib = models.FloatField(default=0)
    cpu_at_limit = models.PositiveIntegerField(default=0)  # samples at 95 % of the CPU limit or more
    oom_events = models.JSONField(default=list)  # "pod uid/finishedAt" of OOM kills seen, at most 20
    # The latest requests and limits seen (cores, GiB; null: no limit).
    cpu_request = models.FloatField(default=0)
    memory_request_gib = models.FloatField(default=0)
    cpu_limit = models.FloatField(null=True, blank=True)
    memory_limit_gib = models.FloatField(null=True, blank=True)
    # The rates metering allocates the pods at ($/core-hour, $/GiB-hour of their nodes), summed over
    # the samples on priced nodes, so their average weighs each pod by the time it was seen.
    cpu_rate_sum = models.FloatField(default=0)
    memory_rate_sum = models.FloatField(default=0)
    priced_samples = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["cluster", "hour", "namespace", "workload", "container"],
                name="billing_container_usage_hour_unique",
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=["organization", "hour"], name="billing_container_usage_org"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.workload}/{self.container} {self.hour:%Y-%m-%d %H:00}"


class ReplayState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReplayRun(models.Model):
    """A draft provisioning policy replayed over a cluster's recorded period
    (`billing.services.replay`). A Celery task moves it on one bounded step at a time: the replay
    itself, then the LP bound a few planner calls per step; `steps_done` / `steps_total` is the
    progress the page polls. `draft` is the policy's settings as submitted (validated again by each step);
    `work` holds what the steps have computed so far; `result` the figures once done."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="replay_runs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    window = models.CharField(max_length=8)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    draft = models.JSONField(default=dict)
    state = models.CharField(max_length=8, choices=ReplayState.choices, default=ReplayState.QUEUED)
    steps_done = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=1)
    work = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["organization", "cluster", "-created_at"], name="billing_replay_org_cluster")
        ]

    def __str__(self) -> str:
        return f"replay of {self.cluster_id} over {self.window} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (ReplayState.DONE, ReplayState.FAILED)

    @property
    def progress(self) -> float:
        """0 to 1: the share of steps done."""
        if self.state == ReplayState.DONE:
            return 1.0
        return min(self.steps_done / max(self.steps_total, 1), 1.0)
