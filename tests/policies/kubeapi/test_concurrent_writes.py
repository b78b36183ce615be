"""Writes through the endpoint that race each other, on the live server (each request its own
thread and database session, as gunicorn's workers): a create takes the organization's counter only
for its own write (``writes.created``), so two creates of one name, a create beside a
server-side apply of it, and a companion changed while a workload is being created must still end
as the API server's would: one object, one workload, every other request a 409 or a success, and
the workload with the companions as they are."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from policies.federation import services
from policies.kubeapi import store
from policies.models import KubeEvent, KubeObject, Workload
from tests.fixtures.federation import deployment

pytestmark = pytest.mark.django_db(transaction=True)
DEPLOYMENTS = "/k8s/apis/apps/v1/namespaces/shop/deployments"
CONFIGMAPS = "/k8s/api/v1/namespaces/shop/configmaps"
RACERS = 6


class Endpoint:
    """Plain HTTP calls to the live server's endpoint with org A's token."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url + "/k8s", token

    def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path.removeprefix("/k8s"),
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def endpoint(live_server, cast, policy) -> Endpoint:
    policy("default", strategy="cheapest")
    client = Endpoint(live_server.url, cast.token_a_plaintext)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    assert client.call("POST", "/k8s/api/v1/namespaces", namespace)[0] == 201
    return client


def _web(**extra: Any) -> dict[str, Any]:
    web: dict[str, Any] = yaml.safe_load(deployment("web", **extra))
    web["metadata"]["annotations"] = {"policy.nodeless.io/name": "default"}
    return web


def _all_at_once(calls: list[Callable[[], tuple[int, Any]]]) -> list[tuple[int, Any]]:
    """Every call in a thread of its own, released together."""
    start = threading.Barrier(len(calls))
    results: list[tuple[int, Any]] = [(0, None)] * len(calls)

    def run(number: int) -> None:
        start.wait()
        results[number] = calls[number]()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def _one_web(cast) -> tuple[KubeObject, Workload]:
    objects = KubeObject.objects.filter(organization=cast.org_a, resource="deployments", name="web")
    workloads = Workload.objects.filter(organization=cast.org_a, namespace="shop", name="web")
    assert objects.count() == 1 and workloads.count() == 1
    kobj, workload = objects.get(), workloads.get()
    assert kobj.workload_id == workload.pk and kobj.workload_generation == workload.generation
    return kobj, workload


def test_creates_of_one_name_at_once_make_one_object_and_the_others_are_told_it_exists(
    cast, endpoint
) -> None:
    results = _all_at_once([lambda: endpoint.call("POST", DEPLOYMENTS, _web())] * RACERS)

    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * (RACERS - 1), results
    refused = [body for code, body in results if code == 409]
    assert all(body["reason"] == "AlreadyExists" for body in refused), refused
    assert all(body["message"] == 'deployments.apps "web" already exists' for body in refused), refused
    kobj, _ = _one_web(cast)
    added = KubeEvent.objects.filter(
        organization=cast.org_a, resource="deployments", name="web", type="ADDED"
    )
    assert [event.resource_version for event in added] == [kobj.resource_version]


def test_server_side_applies_of_one_new_name_at_once_all_succeed_on_one_object(cast, endpoint) -> None:
    def apply() -> tuple[int, Any]:
        return endpoint.call(
            "PATCH",
            f"{DEPLOYMENTS}/web?fieldManager=flux",
            _web(),
            content_type="application/apply-patch+yaml",
        )

    results = _all_at_once([apply] * RACERS)

    codes = sorted(code for code, _ in results)
    assert codes == [200] * (RACERS - 1) + [201], results  # created once; the others applied onto it
    kobj, workload = _one_web(cast)
    assert workload.generation == 1 and kobj.generation == 1
    managers = [entry["manager"] for entry in store.render(kobj)["metadata"]["managedFields"]]
    assert managers == ["flux"]


def test_a_create_and_an_apply_of_one_name_at_once_end_with_one_object(cast, endpoint) -> None:
    def create() -> tuple[int, Any]:
        return endpoint.call("POST", DEPLOYMENTS, _web())

    def apply() -> tuple[int, Any]:
        return endpoint.call(
            "PATCH",
            f"{DEPLOYMENTS}/web?fieldManager=argocd",
            _web(replicas=4),
            content_type="application/apply-patch+yaml",
        )

    results = _all_at_once([create, apply, create, apply])

    assert all(code in (200, 201, 409) for code, _ in results), results
    assert sum(1 for code, _ in results if code == 201) == 1, results
    for code, body in results:
        if code == 409:  # a create after the name was taken, or an apply conflicting with the create
            assert body["reason"] in ("AlreadyExists", "Conflict") and body["message"], body
    _, workload = _one_web(cast)
    assert workload.desired_replicas in (2, 4)


def test_a_companion_changed_while_a_workload_is_created_reaches_that_workload(
    cast, endpoint, monkeypatch
) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": "shop"},
        "data": {"MODE": "before"},
    }
    assert endpoint.call("POST", CONFIGMAPS, config)[0] == 201
    web = _web()
    web["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "web-config"}}]
    # The ConfigMap changes (and commits) after the create read its companions and made its
    # workload, before the create takes the counter: the moment a create no longer holds it.
    locking, armed, changed = store.lock, [True], []

    def lock_after_a_change(organization):
        if armed.pop() if armed else False:  # the create's lock; the PUT's own goes straight through
            changed.append(
                endpoint.call("PUT", f"{CONFIGMAPS}/web-config", {**config, "data": {"MODE": "after"}})
            )
        return locking(organization)

    monkeypatch.setattr(store, "lock", lock_after_a_change)

    code, body = endpoint.call("POST", DEPLOYMENTS, web)

    assert code == 201, body
    assert changed and changed[0][0] == 200, changed
    _, workload = _one_web(cast)
    companions = services.workload_companions(workload)
    assert [companion["data"] for companion in companions if companion["kind"] == "ConfigMap"] == [
        {"MODE": "after"}
    ]


def test_a_namespace_deleted_while_an_object_is_created_refuses_the_object(
    cast, endpoint, monkeypatch
) -> None:
    locking, armed, deleted = store.lock, [True], []

    def lock_after_the_namespace_went(organization):
        if armed.pop() if armed else False:  # the create's lock; the DELETE's own goes straight through
            deleted.append(endpoint.call("DELETE", "/k8s/api/v1/namespaces/shop"))
        return locking(organization)

    monkeypatch.setattr(store, "lock", lock_after_the_namespace_went)

    code, body = endpoint.call("POST", DEPLOYMENTS, _web())

    assert deleted and deleted[0][0] == 200, deleted
    assert code == 404 and body["details"] == {"name": "shop", "group": "", "kind": "namespaces"}, body
    assert not KubeObject.objects.filter(organization=cast.org_a, resource="deployments").exists()
    assert not Workload.objects.filter(organization=cast.org_a).exists()


def test_creates_of_a_rest_workloads_name_at_once_link_it_once(cast, endpoint, api_a) -> None:
    submitted = api_a.post("/api/v1/workloads/", {"manifest": deployment("web")}, format="json")
    assert submitted.status_code == 201, submitted.json()

    results = _all_at_once([lambda: endpoint.call("POST", DEPLOYMENTS, _web())] * RACERS)

    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * (RACERS - 1), results
    assert all(body["reason"] == "AlreadyExists" for code, body in results if code == 409), results
    _, workload = _one_web(cast)
    assert str(workload.pk) == submitted.json()["id"]
