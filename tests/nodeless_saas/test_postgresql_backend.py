"""The product's PostgreSQL backend (``nodeless_saas.postgresql``): Django's, except that a bulk
insert carrying JSON is sent as VALUES rather than as UNNEST arrays (psycopg escapes an array's
elements in Python, which JSON documents made five to nine times dearer)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies.models import KubeEvent

pytestmark = pytest.mark.django_db


def _inserts(context: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in context.captured_queries if query["sql"].startswith("INSERT")]


def test_rows_with_json_are_bulk_inserted_as_values_and_keep_every_character(cast) -> None:
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
    assert "UNNEST" not in insert and "VALUES" in insert
    stored = list(KubeEvent.objects.filter(organization=cast.org_a).order_by("resource_version"))
    assert [event.object for event in stored] == [{**awkward, "number": number} for number in range(3)]


def test_rows_without_json_keep_django_s_unnest_insert() -> None:
    with CaptureQueriesContext(connection) as context:
        Group.objects.bulk_create([Group(name="one"), Group(name="two")])
    (insert,) = _inserts(context)
    assert "UNNEST" in insert
    assert set(Group.objects.values_list("name", flat=True)) >= {"one", "two"}
