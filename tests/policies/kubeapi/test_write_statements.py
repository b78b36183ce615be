"""What a workload write through the endpoint stores, and in how many statements: a POST checks the
namespace and the name in one read, links the object to its workload before its one write, and
finds the policy it names and the workload of the same name (one the REST API made) in one read."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.models import KubeObject, Workload
from tests.fixtures.federation import deployment

pytestmark = pytest.mark.django_db
DEPLOYMENTS = "/k8s/apis/apps/v1/namespaces/shop/deployments"
# A Deployment's POST: the token with its organization, one read for the namespace and the name,
# the companions, the policy with the workload of that name, the workload and its audit event, then
# the counter's lock and what the object's own write needs (savepoints aside); the compaction's
# read comes at most every ``store.COMPACT_SECONDS``, and the fixtures' writes just made it.
MAX_POST_STATEMENTS = 11
# Of those, sent while the counter is locked (every write of the organization waits for it): the
# namespace, the name and the companions read again, the object, its event, the counter.
MAX_POST_LOCKED_STATEMENTS = 4
# A PUT: the token with its organization, the lock, the object, its workload, the companions, the
# policy, the workload again and its policy (``workload_update``), the workload's update and its
# audit event, the object, its event, the counter (savepoints aside).
MAX_PUT_STATEMENTS = 13


def _deployment(name: str = "web", *, policy: str | None = "default", **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(deployment(name, **extra))
    if policy is not None:
        obj["metadata"]["annotations"] = {"policy.nodeless.io/name": policy}
    return obj


def _object_writes(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith(('INSERT INTO "policies_kubeobject"', 'UPDATE "policies_kubeobject"'))
    ]


def test_a_deployment_post_is_linked_before_its_one_write_in_few_statements(cast, shop) -> None:
    assert shop.send("post", DEPLOYMENTS, _deployment("first")).status_code == 201  # the token's use is noted

    with CaptureQueriesContext(connection) as captured:
        created = shop.send("post", DEPLOYMENTS, _deployment())

    assert created.status_code == 201, created.json()
    statements = [
        q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) <= MAX_POST_STATEMENTS, "\n".join(statements)
    locked = [number for number, sql in enumerate(statements) if "FOR UPDATE" in sql]
    assert len(locked) == 1 and 'FROM "policies_kubecounter"' in statements[locked[0]], statements
    after_lock = statements[locked[0] + 1 :]
    assert len(after_lock) <= MAX_POST_LOCKED_STATEMENTS, "\n".join(after_lock)
    assert not any("policies_workload" in sql or "tenants_auditevent" in sql for sql in after_lock)
    assert len(_object_writes(captured)) == 1, _object_writes(captured)
    kobj = KubeObject.objects.get(organization=cast.org_a, resource="deployments", name="web")
    workload = Workload.objects.get(organization=cast.org_a, namespace="shop", name="web")
    assert kobj.workload_id == workload.pk and kobj.workload_generation == workload.generation == 1
    assert workload.policy.name == "default"
    assert created.json()["metadata"]["uid"] == str(kobj.pk)
    assert created.json()["metadata"]["resourceVersion"] == str(kobj.resource_version)


def test_a_replaced_deployment_is_linked_to_its_new_generation_in_one_write(cast, shop) -> None:
    created = shop.send("post", DEPLOYMENTS, _deployment()).json()
    changed = {**created, "spec": {**created["spec"], "replicas": 5}}

    with CaptureQueriesContext(connection) as captured:
        replaced = shop.send("put", f"{DEPLOYMENTS}/web", changed)

    assert replaced.status_code == 200, replaced.json()
    statements = [
        q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) <= MAX_PUT_STATEMENTS, "\n".join(statements)
    assert len(_object_writes(captured)) == 1, _object_writes(captured)
    kobj = KubeObject.objects.get(organization=cast.org_a, resource="deployments", name="web")
    workload = Workload.objects.get(organization=cast.org_a, namespace="shop", name="web")
    assert workload.generation == 2 and workload.desired_replicas == 5
    assert kobj.workload_id == workload.pk and kobj.workload_generation == 2
    assert kobj.generation == 2 and replaced.json()["metadata"]["generation"] == 2


def test_a_post_checks_the_namespace_before_the_name(cast, shop) -> None:
    elsewhere = "/k8s/apis/apps/v1/namespaces/missing/deployments"
    missing = shop.send("post", elsewhere, _deployment(namespace="missing"))
    assert missing.status_code == 404 and missing.json()["details"] == {
        "group": "",
        "name": "missing",
        "kind": "namespaces",
    }

    assert shop.send("post", DEPLOYMENTS, _deployment()).status_code == 201
    again = shop.send("post", DEPLOYMENTS, _deployment())
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"

    # A namespace on its way out takes no new objects, even one whose name is taken.
    KubeObject.objects.filter(organization=cast.org_a, resource="namespaces", name="shop").update(
        deleted_at=timezone.now()
    )
    for name in ("web", "other"):
        refused = shop.send("post", DEPLOYMENTS, _deployment(name))
        assert refused.status_code == 404 and refused.json()["details"]["kind"] == "namespaces"


def test_a_post_in_a_default_namespace_and_of_a_cluster_scoped_kind(cast, shop) -> None:
    url = "/k8s/apis/apps/v1/namespaces/default/deployments"
    assert shop.send("post", url, _deployment(namespace="default")).status_code == 201
    assert shop.send("post", url, _deployment(namespace="default")).status_code == 409
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    assert shop.send("post", "/k8s/api/v1/namespaces", namespace).status_code == 409


@pytest.mark.parametrize("named", [True, False])
def test_a_deployment_of_a_rest_workload_takes_that_workload(cast, shop, api_a, named) -> None:
    submitted = api_a.post("/api/v1/workloads/", {"manifest": deployment()}, format="json").json()

    created = shop.send("post", DEPLOYMENTS, _deployment(policy="default" if named else None, replicas=3))

    assert created.status_code == 201, created.json()
    workload = Workload.objects.get(organization=cast.org_a, namespace="shop", name="web")
    assert str(workload.pk) == submitted["id"] and workload.desired_replicas == 3
    kobj = KubeObject.objects.get(organization=cast.org_a, resource="deployments", name="web")
    assert kobj.workload_id == workload.pk and kobj.workload_generation == workload.generation == 2


def test_a_deployment_naming_no_such_policy_is_refused_and_not_stored(cast, shop) -> None:
    refused = shop.send("post", DEPLOYMENTS, _deployment(policy="nowhere"))

    assert refused.status_code == 422
    assert "no FederationPolicy named 'nowhere'" in refused.json()["message"]
    assert not KubeObject.objects.filter(organization=cast.org_a, resource="deployments").exists()
    assert not Workload.objects.filter(organization=cast.org_a).exists()
