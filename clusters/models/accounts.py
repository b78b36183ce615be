"""Cloud accounts: a customer's cloud, reached through a role that trusts us with the organization's
external ID."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from engines.planner.catalog import Discount
from tenants.models import Organization


class CloudProvider(models.TextChoices):
    AWS = "aws", "AWS"
    GCP = "gcp", "Google Cloud"
    AZURE = "azure", "Azure"
    ONPREM = "onprem", "On-premises"
    SIMULATED = "simulated", "Simulated"


class VerificationStatus(models.TextChoices):
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Failed"


class CloudAccount(models.Model):
    """A customer's cloud account, reached through a role that trusts us with the organization's
    external ID. Only verified accounts are ever stored; re-verification updates the status."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="cloud_accounts")
    provider = models.CharField(max_length=16, choices=CloudProvider.choices, default=CloudProvider.AWS)
    name = models.CharField(max_length=100)
    account_id = models.CharField(max_length=32)
    role_arn = models.CharField(max_length=2048)
    regions = models.JSONField(default=list)
    on_demand_discount_pct = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    spot_discount_pct = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    serverless_discount_pct = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.VERIFIED
    )
    permissions = models.JSONField(default=dict, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The onboarding stack's outputs (`clusters.onboarding.interruption_stack.stack_outputs`), by output
    # key: where its interruption queue, node role and instance profile are. Names are never guessed.
    stack_outputs = models.JSONField(default=dict, blank=True)
    # The stack the outputs are read from (`cloudformation:DescribeStacks` at every verification): the
    # name or ARN the customer gave, else the name the stack link creates (`STACK_NAME`).
    stack_name = models.CharField(max_length=600, blank=True)
    stack_id = models.CharField(max_length=600, blank=True)  # the stack ARN last found
    stack_error = models.TextField(blank=True)  # why the outputs could not be read ("" when they were)
    stack_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "role_arn"], name="unique_cloud_account_role"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    @property
    def discount(self) -> Discount:
        """The organization's negotiated discount off list prices, per capacity type."""
        return Discount(
            on_demand_pct=float(self.on_demand_discount_pct),
            spot_pct=float(self.spot_discount_pct),
            serverless_pct=float(self.serverless_discount_pct),
        )
