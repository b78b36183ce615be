"""The latest look at each cluster, kept for the pages and previews that must not call the cluster."""

from __future__ import annotations

from typing import Any

from django.db import models

from clusters.models.clusters import Cluster
from tenants.models import Organization


def _empty() -> dict[str, Any]:
    return {}


class ClusterObservation(models.Model):
    """Written by whichever worker read the cluster last (the provisioning pass, metering, the health
    check); read by the cluster page and the policy previews, which say how old it is. `summary`
    is `clusters.observation.summary.summarize`'s JSON; it stays when a later read fails, and
    `problem` says why that read failed."""

    cluster = models.OneToOneField(
        Cluster, on_delete=models.CASCADE, primary_key=True, related_name="observation"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    observed_at = models.DateTimeField(null=True, blank=True)  # when `summary` was read
    attempted_at = models.DateTimeField(null=True, blank=True)  # the last read, successful or not
    problem = models.TextField(blank=True)
    summary = models.JSONField(default=_empty, blank=True)

    def __str__(self) -> str:
        return f"{self.cluster_id} observed at {self.observed_at}"
