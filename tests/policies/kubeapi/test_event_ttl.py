"""The Warning events the pass writes expire as kube-apiserver's do (``--event-ttl``, 1 h): one TTL
after their last write, since etcd renews an event's lease on every write. Not by their
``lastTimestamp`` (a body field) and not by their age. Only events past it are read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.kubeapi import propagation, store
from policies.models import KubeEvent, KubeObject

pytestmark = pytest.mark.django_db
CONFIGMAPS = "/k8s/api/v1/namespaces/shop/configmaps"
EVENTS = "/k8s/api/v1/namespaces/shop/events"


def _refused(cast, shop, name: str) -> KubeObject:
    """A ConfigMap a member refused, with its Warning event written."""
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}}
    assert shop.send("post", CONFIGMAPS, config).status_code == 201
    kobj = KubeObject.objects.get(organization=cast.org_a, kind="ConfigMap", name=name)
    with transaction.atomic():
        counter = store.lock(cast.org_a)
        problem = propagation.Problem(cluster="east", message='configmaps is forbidden: "ns" "shop"')
        assert propagation.events_record(cast.org_a, counter, kobj, [problem]) == 1
    return kobj


def _event_of(cast, kobj: KubeObject) -> KubeObject:
    found = KubeObject.objects.filter(organization=cast.org_a, resource="events")
    return next(event for event in found if event.body["involvedObject"]["name"] == kobj.name)


def _expire(cast) -> int:
    with transaction.atomic():
        return propagation.events_expire(cast.org_a, store.lock(cast.org_a))


def test_an_event_goes_one_ttl_after_its_last_write_whatever_its_timestamps_say(cast, shop) -> None:
    stale = _event_of(cast, _refused(cast, shop, "stale"))
    renewed = _event_of(cast, _refused(cast, shop, "renewed"))
    long_ago = timezone.now() - propagation.EVENT_TTL - timedelta(minutes=5)
    KubeObject.objects.filter(pk=stale.pk).update(written_at=long_ago)
    # Created long ago and claiming an old lastTimestamp, but written again just now: it stays.
    renewed.body["lastTimestamp"] = store.timestamp(long_ago)
    renewed.created_at = long_ago
    renewed.save()
    before = KubeEvent.objects.filter(organization=cast.org_a).count()

    assert _expire(cast) == 1

    names = [item["metadata"]["name"] for item in shop.get(EVENTS).json()["items"]]
    assert names == [renewed.name]
    deleted = KubeEvent.objects.filter(organization=cast.org_a).order_by("resource_version")[before:]
    assert [(change.type, change.name) for change in deleted] == [("DELETED", stale.name)]
    assert deleted[0].object["reason"] == propagation.EVENT_REASON


def test_a_repeat_of_an_event_renews_it(cast, shop, monkeypatch) -> None:
    monkeypatch.setattr(propagation, "EVENT_REFRESH", timedelta(0))  # every pass is a repeat
    kobj = _refused(cast, shop, "repeated")
    event = _event_of(cast, kobj)
    long_ago = timezone.now() - propagation.EVENT_TTL - timedelta(minutes=5)
    KubeObject.objects.filter(pk=event.pk).update(written_at=long_ago)
    with transaction.atomic():
        problem = propagation.Problem(cluster="east", message='configmaps is forbidden: "ns" "shop"')
        assert propagation.events_record(cast.org_a, store.lock(cast.org_a), kobj, [problem]) == 1

    assert _expire(cast) == 0
    assert _event_of(cast, kobj).body["count"] == 2


def test_looking_for_expired_events_reads_no_event_that_has_not_expired(cast, shop) -> None:
    for name in ("one", "two", "three"):
        _refused(cast, shop, name)
    with CaptureQueriesContext(connection) as queries:
        assert _expire(cast) == 0
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "policies_kubeobject"' in q["sql"]]
    assert len(reads) == 1
    assert '"written_at" <' in reads[0]
