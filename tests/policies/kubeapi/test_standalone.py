"""Stand-alone objects through the endpoint with the official Python client: a ConfigMap no workload
uses goes to the clusters of the policy it names (and only there), takes its changes there, and
leaves them when it is deleted; one naming no policy stays on the endpoint; once a workload uses a
ConfigMap, it follows the workload, not the policy it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from policies.kubeapi.standalone import POLICY_ANNOTATION
from policies.models import Propagation
from tests.fixtures.federation import pool
from tests.fixtures.simulation import wait_for
from workers.federation.standalone import run_standalone
from workers.provisioning import budget

pytestmark = pytest.mark.django_db(transaction=True)
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def _settled(check: Callable[[], Any]) -> Any:
    return wait_for(check, timeout=60.0, interval=0.3)


def _config(name: str, data: dict[str, str], policy: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if policy is not None:
        metadata["annotations"] = {POLICY_ANNOTATION: policy}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _data(member: Any, name: str) -> dict[str, str] | None:
    """The ConfigMap's data in the member, None when it has none."""
    try:
        found = member.core.read_namespaced_config_map(name, "shop")
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(found.data or {})


@pytest.fixture
def two_members(member, policy) -> tuple[Any, Any]:
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(2),))
    policy("east-only", strategy="cheapest", cluster_selector="region=us-east-1")
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    return east, west


def test_a_standalone_configmap_goes_to_the_clusters_its_policy_names_and_leaves_them(
    cast, api, two_members, federation_loop
) -> None:
    east, west = two_members
    core: Any = kube.CoreV1Api(api)
    core.create_namespace(NAMESPACE)
    core.create_namespaced_config_map("shop", _config("flags", {"beta": "on"}, policy="east-only"))
    core.create_namespaced_config_map("shop", _config("notes", {"a": "b"}))

    _settled(lambda: _data(east, "flags") == {"beta": "on"})
    labels = east.core.read_namespaced_config_map("flags", "shop").metadata.labels
    assert labels["nodeless.io/managed-by"] == "nodeless"
    assert _data(west, "flags") is None

    core.patch_namespaced_config_map("flags", "shop", {"data": {"beta": "off"}})
    _settled(lambda: _data(east, "flags") == {"beta": "off"})

    # Named another policy: it goes where that one names, and stays on east (selected by both).
    core.patch_namespaced_config_map(
        "flags", "shop", {"metadata": {"annotations": {POLICY_ANNOTATION: "everywhere"}}}
    )
    _settled(lambda: _data(west, "flags") == {"beta": "off"})
    assert _data(east, "flags") == {"beta": "off"}

    core.delete_namespaced_config_map("flags", "shop")
    _settled(lambda: _data(east, "flags") is None and _data(west, "flags") is None)
    _settled(lambda: not Propagation.objects.filter(organization=cast.org_a).exists())
    # Naming no policy, it never left the endpoint.
    assert _data(east, "notes") is None and _data(west, "notes") is None
    assert core.read_namespaced_config_map("notes", "shop").data == {"a": "b"}


def test_a_configmap_a_workload_uses_follows_the_workload_not_the_policy_it_names(
    cast, api, two_members, federation_loop
) -> None:
    east, west = two_members
    core: Any = kube.CoreV1Api(api)
    apps: Any = kube.AppsV1Api(api)
    core.create_namespace(NAMESPACE)
    core.create_namespaced_config_map("shop", _config("settings", {"k": "v"}, policy="everywhere"))
    _settled(lambda: _data(west, "settings") == {"k": "v"})
    container = {
        "name": "app",
        "image": "nginx:1.27",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        "envFrom": [{"configMapRef": {"name": "settings"}}],
    }
    apps.create_namespaced_deployment(
        "shop",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {POLICY_ANNOTATION: "east-only"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}},
            },
        },
    )
    # The workload (on east) carries it there now; on west, where it no longer goes, it is deleted.
    _settled(lambda: east.deployment_replicas("shop", "web") == 1)
    _settled(lambda: _data(west, "settings") is None)
    _settled(lambda: not Propagation.objects.filter(organization=cast.org_a).exists())
    labels = east.core.read_namespaced_config_map("settings", "shop").metadata.labels
    assert "nodeless.io/workload-id" in labels and _data(east, "settings") == {"k": "v"}


def test_a_member_whose_api_budget_is_spent_is_left_applying_not_refused(
    cast, api, member, policy, settings
) -> None:
    """A spent API budget is Nodeless pacing itself, not the member refusing: the object is left for
    the next pass with no problem recorded (its condition reads Applying, no SyncFailed event)."""
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    policy("east-only", strategy="cheapest", cluster_selector="region=us-east-1")
    core: Any = kube.CoreV1Api(api)
    core.create_namespace(NAMESPACE)
    core.create_namespaced_config_map("shop", _config("flags", {"beta": "on"}, policy="east-only"))
    org_id, cluster_id = str(cast.org_a.pk), str(east.cluster.pk)
    bucket = redis.Redis.from_url(settings.REDIS_URL)
    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = 0.01, 1
    bucket.delete(budget.budget_key(cluster_id))
    budget.take(cluster_id)  # the one call the burst allows, spent elsewhere: the next waits 100 s
    run_standalone(org_id)
    (row,) = Propagation.objects.filter(cluster_id=cluster_id, name="flags")
    assert (row.problem, row.applied_version) == ("", 0)
    assert _data(east, "flags") is None

    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = 200, 300
    bucket.delete(budget.budget_key(cluster_id))  # time passes: the bucket is full again
    run_standalone(org_id)
    assert _data(east, "flags") == {"beta": "on"}
    row.refresh_from_db()
    assert row.problem == "" and row.applied_version > 0
