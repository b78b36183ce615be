"""The product's PostgreSQL backend (``nodeless_saas.postgresql``): Django's, except that a bulk
insert carrying JSON is sent as one JSON document rather than as UNNEST arrays (psycopg escapes an
array's elements in Python, which JSON documents made five to nine times dearer) or a VALUES list
(a placeholder per field and row, split in Python each time)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nodeless_saas.postgresql.compiler import json_document
from policies.models import Decision, DecisionKind, KubeEvent

pytestmark = pytest.mark.django_db


def _inserts(context: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in context.captured_queries if query["sql"].startswith("INSERT")]


def test_rows_with_json_are_bulk_inserted_as_one_document_and_keep_every_character(cast) -> None:
    awkward = {
        "note": 'quotes " and \\ backslashes, {braces}, "k:{\\"name\\":\\"app\\"}"',
        "é": ["ü", None, 1.5],
    }
    events = [
        KubeEvent(
            organization=cast.org_a,
            resource_version=number,
            resource="deployments",
            namespace="team",
            name=f"web-{number}",
            type="ADDED",
            object={**awkward, "number": number},
        )
        for number in range(3)
    ]
    with CaptureQueriesContext(connection) as context:
        KubeEvent.objects.bulk_create(events)
    (insert,) = _inserts(context)
    assert "jsonb_array_elements" in insert and "UNNEST(" not in insert and "VALUES" not in insert
    stored = list(KubeEvent.objects.filter(organization=cast.org_a).order_by("resource_version"))
    assert [event.object for event in stored] == [{**awkward, "number": number} for number in range(3)]


def test_rows_without_json_keep_django_s_unnest_insert() -> None:
    with CaptureQueriesContext(connection) as context:
        Group.objects.bulk_create([Group(name="one"), Group(name="two")])
    (insert,) = _inserts(context)
    assert "UNNEST" in insert
    assert set(Group.objects.values_list("name", flat=True)) >= {"one", "two"}


def test_every_column_type_of_a_bulk_insert_comes_back_as_it_went(cast) -> None:
    """Texts, numbers, decimals, times, ids, nulls and nested JSON through the document, in order,
    with the ids Django hands back matching the rows."""
    moment = timezone.now() - timedelta(hours=1)
    decisions = [
        Decision(
            organization=cast.org_a,
            kind=DecisionKind.PLACEMENT,
            subject=f"deployment/shop/web-{number} 'quoted' \\ é",
            reason="x" * number,
            chosen={"clusters": [{"name": "dc-1", "price": 0.25 * number}], "none": None},
            runner_ups=[],
            inputs={"n": number},
            cost_per_hour=Decimal("1.234567") * number,
            policy_version="cheap v2",
            created_at=moment + timedelta(seconds=number),
        )
        for number in range(4)
    ]
    with CaptureQueriesContext(connection) as context:
        created = Decision.objects.bulk_create(decisions)
    (insert,) = _inserts(context)
    assert "jsonb_array_elements" in insert
    for sent, made in zip(decisions, created, strict=True):
        stored = Decision.objects.get(pk=made.pk)
        assert (stored.subject, stored.reason, stored.chosen) == (sent.subject, sent.reason, sent.chosen)
        assert (stored.cost_per_hour, stored.created_at, stored.cluster_id) == (
            sent.cost_per_hour,
            sent.created_at,
            None,
        )


def test_values_json_cannot_carry_exactly_keep_the_values_form() -> None:
    assert json_document([["text", 1, None, Decimal("1.5")]]) is not None
    assert json_document([[b"bytes"]]) is None
    assert json_document([[float("nan")]]) is None
    assert json_document([[object()]]) is None
