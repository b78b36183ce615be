"""A federation pass for an organization that no longer exists: Celery may still hold one."""

from __future__ import annotations

import uuid

import pytest

from workers.federation.runner import run_pass

pytestmark = pytest.mark.django_db


def test_a_pass_queued_for_an_organization_deleted_since_does_nothing_and_does_not_fail() -> None:
    report = run_pass(str(uuid.uuid4()))
    assert report is not None and report.workloads == 0 and report.errors == 0
