"""Status back after a pass is computed outside the organization's counter lock (endpoint writes
are not kept waiting), so it must never overwrite what the endpoint wrote meanwhile, nor claim a
generation the rows it was computed from had not seen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.federation.placements import federation_rows_by_organization_id
from policies.kubeapi.status_back import StatusMemo, statuses_plan, statuses_sync, statuses_write
from policies.models import KubeObject
from tests.fixtures.federation import deployment
from workers.federation import run_pass

pytestmark = pytest.mark.django_db
DEPLOYMENTS = "/k8s/apis/apps/v1/namespaces/shop/deployments"
MERGE = "application/merge-patch+json"


def _deployment(**extra: Any) -> dict[str, Any]:
    return yaml.safe_load(deployment(**extra))


def test_an_object_written_after_the_status_was_computed_keeps_the_write(cast, shop) -> None:
    assert shop.send("post", DEPLOYMENTS, _deployment()).status_code == 201
    organization = cast.org_a
    plan = statuses_plan(organization)
    assert [planned.kobj.name for planned in plan] == ["web"]  # a new object has no status yet

    labelled = shop.send("patch", f"{DEPLOYMENTS}/web", {"metadata": {"labels": {"team": "a"}}}, MERGE)
    assert labelled.status_code == 200
    version = labelled.json()["metadata"]["resourceVersion"]

    assert statuses_write(organization, plan) == 0
    stored = shop.get(f"{DEPLOYMENTS}/web").json()
    assert stored["metadata"]["resourceVersion"] == version  # not written over
    assert stored["metadata"]["labels"]["team"] == "a"
    assert "conditions" not in stored.get("status", {})

    # the next sync reads it again and gives it its status
    assert statuses_sync(str(organization.pk)) == 1
    stored = shop.get(f"{DEPLOYMENTS}/web").json()
    assert stored["metadata"]["labels"]["team"] == "a"
    assert {c["type"] for c in stored["status"]["conditions"]} >= {"Federated", "FullyApplied"}


def test_an_object_linked_again_after_its_status_was_planned_waits_for_the_next_pass(cast, shop) -> None:
    """A companion's change links the object to its workload again without a new resourceVersion
    (``federation.companions_changed``); a status planned from the old link is not written."""
    assert shop.send("post", DEPLOYMENTS, _deployment()).status_code == 201
    organization = cast.org_a
    plan = statuses_plan(organization)
    assert [planned.kobj.name for planned in plan] == ["web"]
    relinked = KubeObject.objects.filter(organization=organization, name="web")
    version = relinked.get().resource_version
    assert relinked.update(workload_generation=0) == 1

    assert statuses_write(organization, plan) == 0
    stored = shop.get(f"{DEPLOYMENTS}/web").json()
    assert stored["metadata"]["resourceVersion"] == str(version)
    assert "conditions" not in stored.get("status", {})

    assert statuses_sync(str(organization.pk)) >= 1  # planned again from the new link
    stored = shop.get(f"{DEPLOYMENTS}/web").json()
    assert {c["type"] for c in stored["status"]["conditions"]} >= {"Federated", "FullyApplied"}


def test_the_counter_lock_is_held_over_heads_not_whole_rows(cast, shop) -> None:
    """The API's writes wait behind the organization's counter lock, so the planned objects'
    whole rows are read before it is taken; under it, four columns of each are checked."""
    for name in ("web", "api", "db"):
        assert shop.send("post", DEPLOYMENTS, _deployment(name=name)).status_code == 201
    plan = statuses_plan(cast.org_a)
    assert len(plan) == 3
    with CaptureQueriesContext(connection) as queries:
        assert statuses_write(cast.org_a, plan) == 3
    statements = [query["sql"] for query in queries.captured_queries]
    locked = next(n for n, sql in enumerate(statements) if "FOR UPDATE" in sql)
    by_id = f'FROM "{KubeObject._meta.db_table}" WHERE "{KubeObject._meta.db_table}"."id" IN ('
    before = [sql for sql in statements[:locked] if by_id in sql]
    under = [sql for sql in statements[locked:] if by_id in sql]
    assert len(before) == 1 and '"body"' in before[0]  # the whole rows of the three planned
    assert len(under) == 1 and '"body"' not in under[0] and '"resource_version"' in under[0]


def test_rows_read_before_an_endpoint_change_do_not_claim_its_generation(cast, shop) -> None:
    assert shop.send("post", DEPLOYMENTS, _deployment(replicas=2)).status_code == 201
    run_pass(str(cast.org_a.pk))
    assert shop.get(f"{DEPLOYMENTS}/web").json()["status"]["observedGeneration"] == 1

    rows = federation_rows_by_organization_id(str(cast.org_a.pk))  # a pass reads its rows ...
    scaled = shop.send("patch", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 4}}, MERGE)  # ... kubectl scales
    assert scaled.status_code == 200 and scaled.json()["metadata"]["generation"] == 2
    statuses_sync(str(cast.org_a.pk), rows)  # ... and the pass's sync ends with the older rows

    stored = shop.get(f"{DEPLOYMENTS}/web").json()
    assert stored["spec"]["replicas"] == 4  # the older spec is not copied back
    assert stored["status"]["observedGeneration"] == 1  # generation 2 is not rolled out yet
    kobj = KubeObject.objects.select_related("workload").get(
        organization=cast.org_a, kind="Deployment", name="web"
    )
    assert kobj.workload is not None and kobj.workload_generation == kobj.workload.generation == 2

    run_pass(str(cast.org_a.pk))  # a pass with current rows
    assert shop.get(f"{DEPLOYMENTS}/web").json()["status"]["observedGeneration"] == 2


def test_the_pass_rows_stand_in_for_reading_workloads_again(cast, shop) -> None:
    """The same statuses from the pass's rows as from reading the database afresh."""
    for name in ("web", "api"):
        assert shop.send("post", DEPLOYMENTS, _deployment(name=name)).status_code == 201
    rows = federation_rows_by_organization_id(str(cast.org_a.pk))
    from_rows = {p.kobj.name: p.status for p in statuses_plan(cast.org_a, rows)}
    afresh = {p.kobj.name: p.status for p in statuses_plan(cast.org_a)}
    assert set(from_rows) == {"web", "api"}
    assert _without_times(from_rows) == _without_times(afresh)


def _without_times(statuses: dict[str, Any]) -> dict[str, Any]:
    def strip(status: dict[str, Any]) -> dict[str, Any]:
        conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status["conditions"]]
        return {**status, "conditions": conditions}

    return {name: strip(status) for name, status in statuses.items()}


def _synced_with_memo(cast: Any, names: tuple[str, ...], shop: Any) -> tuple[Any, StatusMemo]:
    """Objects ``names`` placed by a pass, their statuses written, and a memo that found them current."""
    for name in names:
        assert shop.send("post", DEPLOYMENTS, _deployment(name=name)).status_code == 201
    run_pass(str(cast.org_a.pk))
    rows = federation_rows_by_organization_id(str(cast.org_a.pk))
    memo = StatusMemo()
    statuses_write(cast.org_a, statuses_plan(cast.org_a, rows, memo))
    assert statuses_plan(cast.org_a, rows, memo) == []
    assert len(memo.current) == len(names)
    return rows, memo


def test_a_memo_skips_objects_whose_inputs_have_not_moved(cast, shop) -> None:
    rows, memo = _synced_with_memo(cast, ("web", "api"), shop)
    # A status no write of the product could leave without a new resourceVersion: only an object
    # the sync reads again would see it, so it shows which objects the memo skips.
    KubeObject.objects.filter(organization=cast.org_a, name="api").update(status={})
    assert statuses_plan(cast.org_a, rows, memo) == []
    assert [p.kobj.name for p in statuses_plan(cast.org_a, rows)] == ["api"]  # without the memo

    # a client writes the status subresource: a new resourceVersion, so it is read again
    written = shop.send("patch", f"{DEPLOYMENTS}/api/status", {"status": {"replicas": 7}}, MERGE)
    assert written.status_code == 200
    assert [p.kobj.name for p in statuses_plan(cast.org_a, rows, memo)] == ["api"]


def test_a_memo_skips_objects_whose_placements_were_only_synced_again(cast, shop, member) -> None:
    """Each pass that hears from a member stamps its placements' sync time; the status does not read
    it, so an organization at rest plans nothing."""
    member("onprem-1", {"cloud": "onprem", "region": "dc-east"})
    rows, memo = _synced_with_memo(cast, ("web", "api"), shop)
    later = timezone.now() + timedelta(seconds=10)
    for placement in rows.all_placements():
        placement.last_synced_at = later  # what the next pass's look does (``placements_sync``)
    KubeObject.objects.filter(organization=cast.org_a, name="api").update(status={})  # as above

    assert statuses_plan(cast.org_a, rows, memo) == []
    assert [p.kobj.name for p in statuses_plan(cast.org_a, rows)] == ["api"]  # without the memo


def test_a_memo_plans_an_object_whose_workload_or_placements_moved(cast, shop, member) -> None:
    member("onprem-1", {"cloud": "onprem", "region": "dc-east"})
    rows, memo = _synced_with_memo(cast, ("web", "api", "db"), shop)
    by_name = {w.name: w for w in rows.workloads.values()}
    by_name["web"].ready_replicas += 1  # a member reported more ready replicas
    placement = rows.placements[str(by_name["api"].pk)][0]
    placement.reason = "admission webhook denied the request"  # a member refused it
    placement.applied_generation = 0

    planned = {p.kobj.name: p for p in statuses_plan(cast.org_a, rows, memo)}
    afresh = {p.kobj.name: p for p in statuses_plan(cast.org_a, rows)}
    assert set(planned) == set(afresh) == {"web", "api"}
    assert planned["web"].status == afresh["web"].status
    assert planned["api"].problems == afresh["api"].problems != ()


def test_at_rest_a_memo_reads_the_organizations_version_and_no_object(cast, shop) -> None:
    rows, memo = _synced_with_memo(cast, ("web", "api"), shop)
    with CaptureQueriesContext(connection) as queries:
        assert statuses_plan(cast.org_a, rows, memo) == []
    assert len(queries) == 1 and "policies_kubeobject" not in queries[0]["sql"]


def test_a_memo_plans_an_object_relinked_without_a_new_resource_version(cast, shop) -> None:
    """Linking an object to its workload again writes no resourceVersion of the object; the write
    of the companion that relinked it moves the organization's."""
    rows, memo = _synced_with_memo(cast, ("web",), shop)
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {}}
    assert shop.send("post", "/k8s/api/v1/namespaces/shop/configmaps", configmap).status_code == 201
    KubeObject.objects.filter(organization=cast.org_a, name="web").update(workload_generation=0)
    planned = statuses_plan(cast.org_a, rows, memo)
    assert [(p.kobj.name, p.spec) for p in planned] == [("web", True)]  # the spec from its workload
