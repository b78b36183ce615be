"""Schemathesis over /api/v1/schema/ (issue 17): every operation, every check (no 5xx, responses and
status codes as the schema documents them, bad input refused, good input accepted), through the
WSGI app against PostgreSQL, as an owner's token with every scope.

Bounded and repeatable: ``NODELESS_FUZZ_EXAMPLES`` valid and as many invalid examples per operation
(default 5), derandomized, so a run makes the same requests every time and cannot flake. `make fuzz`
runs the same configuration (schemathesis.toml) with the CLI against a live server, with more
examples, the coverage phase and the stateful phase.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation

from nodeless_saas.wsgi import application
from tests.conftest import Cast

EXAMPLES = int(os.environ.get("NODELESS_FUZZ_EXAMPLES", "5"))
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"

# Read once when the module is collected (generating the schema needs no database).
SCHEMA = schemathesis.openapi.from_wsgi(
    "/api/v1/schema/", application, config=SchemathesisConfig.from_path(CONFIG)
)


def _operation(result: Ok[APIOperation] | Err[InvalidSchema]) -> APIOperation:
    if isinstance(result, Ok):
        return result.ok()
    raise result.err()  # an operation the schema describes badly is itself a failure


OPERATIONS = {operation.label: operation for operation in map(_operation, SCHEMA.get_all_operations())}


@pytest.fixture
def wsgi_app(db: None, settings) -> Iterator[Any]:
    """The site's WSGI app, calling into the test's transaction (as Django's test client does:
    closing "old" connections at each request would close the test's own)."""
    # Every example is a call with the one token: the per-token rate limit is not under test here.
    settings.NODELESS_API_TOKEN_RATE = "1000000/min"
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# One test per operation and mode, driving Hypothesis directly: schemathesis's own pytest collector
# does not run under pytest 9.2 (it sets Node._nodeid, which pytest no longer has).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_answers_as_its_schema_says(
    label: str, mode: GenerationMode, wsgi_app: Any, cast: Cast
) -> None:
    headers = {"Authorization": f"Bearer {cast.token_a_plaintext}"}

    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers)

    call()
