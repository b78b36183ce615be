"""The endpoint's change log is compacted as writes go on: events older than ``HISTORY`` are
dropped and a watch from before them gets 410 Gone. A process looks for old events at most every
``COMPACT_SECONDS`` per organization, not on every write."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from policies.kubeapi import store
from policies.models import KubeCounter, KubeEvent

pytestmark = pytest.mark.django_db
CONFIGMAPS = "/k8s/api/v1/namespaces/shop/configmaps"


def _config(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}}


def _age_every_event(organization) -> int:
    """Make the log's events older than HISTORY; the newest of them."""
    aged = KubeEvent.objects.filter(organization=organization)
    aged.update(created_at=timezone.now() - store.HISTORY - timedelta(seconds=1))
    return max(aged.values_list("resource_version", flat=True))


def test_a_write_drops_events_older_than_the_history_and_watches_from_before_get_410(
    cast, shop, monkeypatch
) -> None:
    monkeypatch.setattr(store, "COMPACT_SECONDS", 0.0)
    version = shop.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    assert shop.send("post", CONFIGMAPS, _config("old")).status_code == 201
    newest_old = _age_every_event(cast.org_a)
    assert shop.send("post", CONFIGMAPS, _config("new")).status_code == 201
    assert not KubeEvent.objects.filter(organization=cast.org_a, resource_version__lte=newest_old).exists()
    assert KubeCounter.objects.get(organization=cast.org_a).compacted_version == newest_old
    gone = shop.get(f"{CONFIGMAPS}?watch=1&resourceVersion={version}&timeoutSeconds=1")
    assert json.loads(b"".join(gone.streaming_content))["object"]["code"] == 410
    recent = shop.get(f"{CONFIGMAPS}?watch=1&resourceVersion={newest_old}&timeoutSeconds=1")
    events = [json.loads(line) for line in b"".join(recent.streaming_content).splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "new")]


def test_a_process_looks_for_old_events_at_most_every_compact_seconds(cast, shop, monkeypatch) -> None:
    monkeypatch.setattr(store, "COMPACT_SECONDS", 3600.0)
    assert shop.send("post", CONFIGMAPS, _config("first")).status_code == 201  # looked just now
    _age_every_event(cast.org_a)
    assert shop.send("post", CONFIGMAPS, _config("second")).status_code == 201
    assert KubeEvent.objects.filter(organization=cast.org_a, name="first").exists()
    assert KubeCounter.objects.get(organization=cast.org_a).compacted_version == 0
    monkeypatch.setattr(store, "COMPACT_SECONDS", 0.0)
    assert shop.send("post", CONFIGMAPS, _config("third")).status_code == 201
    assert not KubeEvent.objects.filter(organization=cast.org_a, name="first").exists()
