"""Fixtures for the planner tests. Pure tests need no database; builders live in `support`."""

from __future__ import annotations

import pytest

from clusters.pricing import build_aws_catalog
from engines.planner import Catalog


@pytest.fixture(scope="session")
def aws_catalog() -> Catalog:
    """The real us-east-1 catalog (built once per test process; it is immutable)."""
    return build_aws_catalog("us-east-1")
