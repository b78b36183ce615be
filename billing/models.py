"""The price catalog in the database: instance types, offerings, spot price history, serverless prices.

These rows are shared reference data (list prices), not tenant data: an organization's discount
is applied when a catalog is read for it (`billing.selectors.catalog_for_region`). They are
loaded from `data/` by `manage.py load_catalog`, which is idempotent.
"""

from __future__ import annotations

from django.db import models


class CapacityTypeChoice(models.TextChoices):
    ON_DEMAND = "on_demand", "On-demand"
    SPOT = "spot", "Spot"


class InstanceType(models.Model):
    """A VM shape of one provider, with what the kubelet and OS keep of it."""

    provider = models.CharField(max_length=16)
    name = models.CharField(max_length=64)
    family = models.CharField(max_length=32)
    architecture = models.CharField(max_length=16)
    vcpu = models.PositiveIntegerField()
    memory_mib = models.PositiveBigIntegerField()
    max_pods = models.PositiveIntegerField()
    ephemeral_mib = models.PositiveBigIntegerField()
    gpu_count = models.PositiveIntegerField(default=0)
    gpu_model = models.CharField(max_length=64, blank=True)
    gpu_memory_mib = models.PositiveBigIntegerField(default=0)
    current_generation = models.BooleanField(default=True)
    generation = models.PositiveIntegerField(default=0)
    bare_metal = models.BooleanField(default=False)
    reserved_cpu_millis = models.PositiveIntegerField(default=0)
    reserved_memory_mib = models.PositiveBigIntegerField(default=0)
    reserved_ephemeral_mib = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="billing_instance_type_unique")
        ]
        ordering = ["provider", "name"]

    def __str__(self) -> str:
        return f"{self.provider} {self.name}"


class Offering(models.Model):
    """An instance type sold in one zone with one capacity type, at a list price (USD/hour)."""

    instance_type = models.ForeignKey(InstanceType, on_delete=models.CASCADE, related_name="offerings")
    region = models.CharField(max_length=32)
    zone = models.CharField(max_length=48)
    capacity_type = models.CharField(max_length=16, choices=CapacityTypeChoice.choices)
    list_price = models.DecimalField(max_digits=14, decimal_places=8)
    interruption_bucket = models.PositiveSmallIntegerField(null=True, blank=True)
    interruption_cost_rate = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance_type", "region", "zone", "capacity_type"], name="billing_offering_unique"
            )
        ]
        indexes = [models.Index(fields=["region", "capacity_type"], name="billing_offering_region")]

    def __str__(self) -> str:
        return f"{self.instance_type.name} {self.capacity_type} {self.zone}"


class SpotPriceObservation(models.Model):
    """A spot price seen at some moment; a new row only when the price changes (price history)."""

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="spot_prices")
    observed_at = models.DateTimeField(auto_now_add=True)
    price = models.DecimalField(max_digits=14, decimal_places=8)

    class Meta:
        ordering = ["offering", "-observed_at"]
        indexes = [models.Index(fields=["offering", "-observed_at"], name="billing_spot_price_latest")]

    def __str__(self) -> str:
        return f"{self.offering_id} {self.price} at {self.observed_at:%Y-%m-%d %H:%M}"


class ServerlessPrice(models.Model):
    """Per-pod serverless pricing of one platform in one region (e.g. Fargate, Linux/x86_64)."""

    provider = models.CharField(max_length=16)
    service = models.CharField(max_length=32)
    region = models.CharField(max_length=32)
    architecture = models.CharField(max_length=16)
    spot = models.BooleanField(default=False)
    usd_per_vcpu_hour = models.DecimalField(max_digits=14, decimal_places=8)
    usd_per_gib_hour = models.DecimalField(max_digits=14, decimal_places=8)
    memory_overhead_mib = models.PositiveIntegerField(default=256)
    ephemeral_included_mib = models.PositiveIntegerField(default=20 * 1024)
    max_ephemeral_mib = models.PositiveIntegerField(default=175 * 1024)
    usd_per_extra_ephemeral_gib_hour = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    interruption_cost_rate = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "service", "region", "architecture", "spot"],
                name="billing_serverless_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.region} {self.architecture}{' spot' if self.spot else ''}"


class ServerlessShape(models.Model):
    """An allowed serverless CPU/memory pair of one service (e.g. 0.25 vCPU / 0.5 GB on Fargate)."""

    provider = models.CharField(max_length=16)
    service = models.CharField(max_length=32)
    cpu_millis = models.PositiveIntegerField()
    memory_mib = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "service", "cpu_millis", "memory_mib"],
                name="billing_serverless_shape_unique",
            )
        ]
        ordering = ["provider", "service", "cpu_millis", "memory_mib"]

    def __str__(self) -> str:
        return f"{self.service} {self.cpu_millis}m/{self.memory_mib}Mi"


from billing.models_usage import (  # noqa: E402  (the usage ledger: models of this app)
    AllocationRollup,
    AllocationUsage,
    ClusterRollup,
    Granularity,
    NodeUsage,
    PodPlacement,
    UsageInterval,
)

__all__ = [
    "AllocationRollup",
    "AllocationUsage",
    "CapacityTypeChoice",
    "ClusterRollup",
    "Granularity",
    "InstanceType",
    "NodeUsage",
    "Offering",
    "PodPlacement",
    "ServerlessPrice",
    "ServerlessShape",
    "SpotPriceObservation",
    "UsageInterval",
]
