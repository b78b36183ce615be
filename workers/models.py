"""Leases: at most one worker acts on a cluster (or an organization's federation) at a time."""

from __future__ import annotations

from django.db import models


class Lease(models.Model):
    """A named lease with an expiry. Taken and renewed with conditional UPDATEs, so it works the same
    on PostgreSQL and SQLite; a worker that dies simply stops renewing and loses it at expiry."""

    name = models.CharField(max_length=200, primary_key=True)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()
    # How many times a new holder took it: released leases keep their row (free, expired), so a
    # holder that finds the count one more than at its last take knows nobody held it in between.
    takes = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"


class ReconcileDue(models.Model):
    """When a nodeless cluster's next scheduled reconcile pass is due (`workers.schedule`). Kept in the
    database, not Redis, so the embedded demo (SQLite, no Redis) schedules the same way; one small row
    per cluster, read oldest first through the index on `due_at`."""

    cluster = models.OneToOneField(
        "clusters.Cluster", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    due_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"pass of {self.cluster_id} due {self.due_at:%H:%M:%S}"
