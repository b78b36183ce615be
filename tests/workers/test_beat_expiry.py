"""Periodic ticks never pile up behind busy workers: each one beat sends expires once its period
has passed (a later tick does its work: every periodic task catches up on its own)."""

from __future__ import annotations

from celery.beat import ScheduleEntry
from django.conf import settings

from nodeless_saas.celery import app


def test_every_periodic_task_expires_within_its_period() -> None:
    for name, configured in settings.CELERY_BEAT_SCHEDULE.items():
        entry = ScheduleEntry(name=name, app=app, **configured)
        period = entry.schedule.run_every.total_seconds()
        assert 0 < entry.options.get("expires", 0) <= period, name
