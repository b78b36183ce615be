"""A ConfigMap more than one thing wants on a member, through the endpoint with the official
Python client.

- Both a stand-alone object (it names a policy) and a workload's companion: when the workload stops
  using it, or goes, the copies on the members are handed over to the stand-alone propagation,
  whichever of the pass's two steps reaches a member first — never deleted where the policy sends it.
- Used by two workloads on one member: the copy is one object there, labelled with one of them;
  when that one stops using it or goes, the copy is handed to the other, not deleted under it.

Both steps apply as the one field manager ``nodeless``, so (server-side apply) each apply drops
the labels the other step set: the copy carries the workload's label while the workload uses it,
and the stand-alone object's label once the propagation has it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from engines.kube.labels import WORKLOAD_ID
from policies.kubeapi.standalone import OBJECT_ID_LABEL, POLICY_ANNOTATION
from policies.models import Propagation, Workload
from tests.fixtures.federation import pool
from tests.fixtures.simulation import wait_for
from workers.federation import run_pass
from workers.federation.standalone import run_standalone

pytestmark = pytest.mark.django_db(transaction=True)


def _labels(member: Any, name: str = "settings") -> dict[str, str] | None:
    """The ConfigMap's labels in the member, None when it is not there."""
    try:
        found = member.core.read_namespaced_config_map(name, "shop")
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(found.metadata.labels or {})


def _passes(org_id: str, until: Callable[[], Any]) -> Any:
    """Run loop passes (in this thread) until ``until()`` holds."""

    def step() -> Any:
        run_pass(org_id)
        return until()

    return wait_for(step, timeout=60.0, interval=0.2)


def _deployment(uses_settings: bool, name: str = "web") -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": "nginx:1.27",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
    }
    if uses_settings:
        container["envFrom"] = [{"configMapRef": {"name": "settings"}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": {POLICY_ANNOTATION: "east-only"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


@pytest.fixture
def shared(cast, api, member, policy) -> tuple[Any, Any, Any]:
    """East and west; ``settings`` names the policy ``everywhere``; ``web`` (east only) uses it.
    Settled: the copy on east is the workload's, none on west (it follows the workload)."""
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(2),))
    policy("east-only", strategy="cheapest", cluster_selector="region=us-east-1")
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    core: Any = kube.CoreV1Api(api)
    apps: Any = kube.AppsV1Api(api)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "annotations": {POLICY_ANNOTATION: "everywhere"}},
        "data": {"k": "v"},
    }
    core.create_namespaced_config_map("shop", config)
    apps.create_namespaced_deployment("shop", _deployment(uses_settings=True))
    org_id = str(cast.org_a.pk)
    _passes(org_id, lambda: east.deployment_replicas("shop", "web") == 1 and _labels(west) is None)
    assert WORKLOAD_ID in (_labels(east) or {})
    return east, west, apps


def _standalone_everywhere(cast, east: Any, west: Any) -> None:
    """The copies on both members are the stand-alone object's, and recorded as applied there."""
    for found in (_labels(east), _labels(west)):
        assert found is not None and OBJECT_ID_LABEL in found and WORKLOAD_ID not in found
    rows = Propagation.objects.filter(organization=cast.org_a, kind="ConfigMap", name="settings")
    assert sorted(row.applied_version > 0 for row in rows) == [True, True]


def test_a_configmap_the_workload_stops_using_is_handed_to_its_policy(cast, shared) -> None:
    east, west, apps = shared
    org_id = str(cast.org_a.pk)
    apps.replace_namespaced_deployment("web", "shop", _deployment(uses_settings=False))

    _passes(org_id, lambda: _labels(west) is not None and OBJECT_ID_LABEL in (_labels(east) or {}))
    _standalone_everywhere(cast, east, west)

    # The workload going now removes nothing of the stand-alone object's.
    apps.delete_namespaced_deployment("web", "shop")
    _passes(org_id, lambda: east.deployment_replicas("shop", "web") is None)
    run_pass(org_id)
    _standalone_everywhere(cast, east, west)


def test_when_the_standalone_step_reaches_the_member_first_the_workload_cleanup_leaves_it(
    cast, shared
) -> None:
    east, west, apps = shared
    org_id = str(cast.org_a.pk)
    apps.replace_namespaced_deployment("web", "shop", _deployment(uses_settings=False))
    # The stand-alone step runs before the workload's new generation reaches east (as when the
    # workload's actions were left for the next pass by east's spent API budget).
    run_standalone(org_id)
    assert OBJECT_ID_LABEL in (_labels(east) or {})

    _passes(org_id, lambda: "settings" not in str(east.apps.read_namespaced_deployment("web", "shop").spec))
    run_pass(org_id)
    _standalone_everywhere(cast, east, west)


def test_a_deleted_workload_hands_its_configmap_to_its_policy(cast, shared) -> None:
    east, west, apps = shared
    org_id = str(cast.org_a.pk)
    apps.delete_namespaced_deployment("web", "shop")
    _passes(org_id, lambda: east.deployment_replicas("shop", "web") is None and _labels(west) is not None)
    run_pass(org_id)
    _standalone_everywhere(cast, east, west)


def test_the_standalone_step_first_then_the_deleted_workloads_removal(cast, shared) -> None:
    east, west, apps = shared
    org_id = str(cast.org_a.pk)
    apps.delete_namespaced_deployment("web", "shop")
    run_standalone(org_id)
    _passes(org_id, lambda: east.deployment_replicas("shop", "web") is None)
    run_pass(org_id)
    _standalone_everywhere(cast, east, west)


def _workload_id(name: str) -> str:
    return str(Workload.objects.get(name=name, deleted_at__isnull=True).pk)


@pytest.mark.parametrize("how", ["stops using it", "is deleted"])
def test_a_configmap_two_workloads_use_stays_with_the_other_when_one_goes(cast, shared, how) -> None:
    east, west, apps = shared
    org_id = str(cast.org_a.pk)
    apps.create_namespaced_deployment("shop", _deployment(uses_settings=True, name="api"))
    _passes(org_id, lambda: east.deployment_replicas("shop", "api") == 1)
    # One object on east, labelled with whichever workload applied it last: make it "api".
    holder = (_labels(east) or {}).get(WORKLOAD_ID)
    going, staying = ("api", "web") if holder == _workload_id("api") else ("web", "api")
    staying_id = _workload_id(staying)

    if how == "stops using it":
        apps.replace_namespaced_deployment(going, "shop", _deployment(uses_settings=False, name=going))
        _passes(
            org_id, lambda: "settings" not in str(east.apps.read_namespaced_deployment(going, "shop").spec)
        )
    else:
        apps.delete_namespaced_deployment(going, "shop")
        _passes(org_id, lambda: east.deployment_replicas("shop", going) is None)
    run_pass(org_id)
    assert (_labels(east) or {}).get(WORKLOAD_ID) == staying_id
    assert _labels(west) is None

    # The one still using it takes it away when it goes; the policy it names then sends it out.
    apps.delete_namespaced_deployment(staying, "shop")
    _passes(org_id, lambda: east.deployment_replicas("shop", staying) is None and _labels(west) is not None)
    run_pass(org_id)
    _standalone_everywhere(cast, east, west)
