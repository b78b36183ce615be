"""A write that changes nothing stores nothing, as the API server's (its storage compares the new
object with the stored one and skips the write): the resourceVersion stays, no watch event is
logged, and a server-side apply of what its manager already applied keeps that manager's time. So
a GitOps tool applying the same objects every few minutes does not wake every watcher, nor the
federation, each time; such an apply is answered from one read, without the organization's lock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.kubeapi import operations
from policies.models import KubeEvent, Workload
from tests.fixtures.federation import deployment

pytestmark = pytest.mark.django_db
WEB = "/k8s/apis/apps/v1/namespaces/shop/deployments/web"
APPLY = "application/apply-patch+yaml"


def _web(**extra: Any) -> dict[str, Any]:
    web: dict[str, Any] = yaml.safe_load(deployment("web", **extra))
    web["metadata"]["annotations"] = {"policy.nodeless.io/name": "default"}
    return web


def _events(cast) -> int:
    return KubeEvent.objects.filter(organization=cast.org_a, resource="deployments").count()


def _later(monkeypatch, minutes: int) -> None:
    """The clock ``minutes`` on: a manager's time that changed would show it."""
    moment = timezone.now() + timedelta(minutes=minutes)
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_an_apply_of_what_its_manager_applied_writes_nothing(cast, shop, monkeypatch) -> None:
    first = shop.send("patch", f"{WEB}?fieldManager=flux", _web(), content_type=APPLY)
    assert first.status_code == 201, first.json()
    events, generation = _events(cast), Workload.objects.get(organization=cast.org_a).generation
    _later(monkeypatch, 10)

    with CaptureQueriesContext(connection) as captured:
        again = shop.send("patch", f"{WEB}?fieldManager=flux", _web(), content_type=APPLY)

    assert again.status_code == 200, again.json()
    # Answered from one read: no lock taken (every write of the organization waits for it), no write
    # (but the token's last use, noted every few minutes).
    statements = [
        query["sql"] for query in captured.captured_queries if "tenants_apitoken" not in query["sql"]
    ]
    assert not [sql for sql in statements if "FOR UPDATE" in sql or sql.startswith(("INSERT", "UPDATE"))]
    assert again.json()["metadata"]["resourceVersion"] == first.json()["metadata"]["resourceVersion"]
    assert again.json()["metadata"]["managedFields"] == first.json()["metadata"]["managedFields"]
    assert _events(cast) == events
    assert Workload.objects.get(organization=cast.org_a).generation == generation


def test_an_apply_that_changes_a_value_or_who_owns_it_is_written(cast, shop, monkeypatch) -> None:
    first = shop.send("patch", f"{WEB}?fieldManager=flux", _web(), content_type=APPLY).json()
    events = _events(cast)
    _later(monkeypatch, 10)

    # The same values from another manager: it shares their ownership, a change of managedFields.
    shared = shop.send("patch", f"{WEB}?fieldManager=argocd", _web(), content_type=APPLY).json()
    assert int(shared["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert {entry["manager"] for entry in shared["metadata"]["managedFields"]} == {"flux", "argocd"}
    assert _events(cast) == events + 1

    scaled = shop.send("patch", f"{WEB}?fieldManager=flux&force=true", _web(replicas=5), content_type=APPLY)
    assert scaled.status_code == 200, scaled.json()
    assert int(scaled.json()["metadata"]["resourceVersion"]) > int(shared["metadata"]["resourceVersion"])
    assert scaled.json()["spec"]["replicas"] == 5 and _events(cast) == events + 2
    assert Workload.objects.get(organization=cast.org_a).desired_replicas == 5


def test_a_put_or_patch_of_what_is_stored_writes_nothing(cast, shop, monkeypatch) -> None:
    stored = shop.send("post", WEB.rsplit("/", 1)[0], _web()).json()
    events = _events(cast)
    _later(monkeypatch, 10)

    put = shop.send("put", WEB, stored)
    merged = shop.send(
        "patch",
        WEB,
        {"spec": {"replicas": stored["spec"]["replicas"]}},
        content_type="application/merge-patch+json",
    )
    status = shop.send("put", f"{WEB}/status", {**stored, "status": stored.get("status", {})})

    for response in (put, merged, status):
        assert response.status_code == 200, response.json()
        assert response.json()["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
        assert response.json()["metadata"]["managedFields"] == stored["metadata"]["managedFields"]
    assert _events(cast) == events

    changed = shop.send("patch", WEB, {"spec": {"replicas": 4}}, content_type="application/merge-patch+json")
    assert int(changed.json()["metadata"]["resourceVersion"]) > int(stored["metadata"]["resourceVersion"])
    assert _events(cast) == events + 1


@pytest.mark.parametrize("moved_meanwhile", [False, True])
def test_an_apply_that_changes_the_object_is_computed_once_unless_it_moved(
    cast, shop, monkeypatch, moved_meanwhile
) -> None:
    """Computed without the lock (to find it unchanged), the apply's result is what the write under
    the lock stores, when the object has not moved in between; when it has (another write came
    first), the apply is computed again on the object as it now is."""
    assert shop.send("patch", f"{WEB}?fieldManager=flux", _web(), content_type=APPLY).status_code == 201
    computed: list[int] = []
    applied = operations._applied

    def counted(ctx: Any, name: str, live: Any, config: Any, *, force: bool) -> Any:
        computed.append(1)
        if moved_meanwhile and len(computed) == 1:  # a label set by someone else, before the lock
            labelled = {"metadata": {"labels": {"team": "shop"}}}
            merged = shop.send("patch", WEB, labelled, content_type="application/merge-patch+json")
            assert merged.status_code == 200
        return applied(ctx, name, live, config, force=force)

    monkeypatch.setattr(operations, "_applied", counted)
    changed = shop.send("patch", f"{WEB}?fieldManager=flux", _web(replicas=3), content_type=APPLY)

    assert changed.status_code == 200, changed.json()
    assert changed.json()["spec"]["replicas"] == 3
    assert len(computed) == (2 if moved_meanwhile else 1)
    assert changed.json()["metadata"]["labels"].get("team") == ("shop" if moved_meanwhile else None)
