"""Leases: at most one worker acts on a cluster (or an organization's federation) at a time."""

from __future__ import annotations

from django.db import models


class Lease(models.Model):
    """A named lease with an expiry. Taken and renewed with conditional UPDATEs, so it works the same
    on PostgreSQL and SQLite; a worker that dies simply stops renewing and loses it at expiry."""

    name = models.CharField(max_length=200, primary_key=True)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"
