"""Workloads submitted through the REST API (or the pages) become objects of the endpoint in one
pass, stored together: each object once, its namespace once, every change logged as a watch sees
it — one ADDED event per object, at the object's own resourceVersion, in order."""

from __future__ import annotations

import pytest
import yaml

from policies.kubeapi.status_back import statuses_sync
from policies.models import KubeEvent, KubeObject
from tests.fixtures.federation import deployment, submit

pytestmark = pytest.mark.django_db


def _with_config(name: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-conf"},
        "data": {"a": name},
    }
    return deployment(name) + "---\n" + yaml.safe_dump(config)


def test_rest_workloads_are_adopted_together_each_object_once(cast, policy) -> None:
    chosen = policy("default", strategy="cheapest")
    first, second = submit(cast, _with_config("web-a"), chosen), submit(cast, _with_config("web-b"), chosen)
    statuses_sync(str(cast.org_a.pk))

    objects = KubeObject.objects.filter(organization=cast.org_a)
    names = sorted((o.resource, o.namespace, o.name) for o in objects if o.resource != "namespaces")
    assert names == [
        ("configmaps", "shop", "web-a-conf"),
        ("configmaps", "shop", "web-b-conf"),
        ("deployments", "shop", "web-a"),
        ("deployments", "shop", "web-b"),
    ]
    assert objects.filter(resource="namespaces", name="shop").count() == 1
    linked = {o.name: o for o in objects.filter(resource="deployments")}
    assert linked["web-a"].workload_id == first.pk and linked["web-b"].workload_id == second.pk
    assert linked["web-a"].workload_generation == first.generation

    added = list(KubeEvent.objects.filter(organization=cast.org_a, type="ADDED").order_by("resource_version"))
    versions = [event.resource_version for event in added]
    assert len(set(versions)) == len(versions)
    for event in added:  # each event carries the object as it was at that version
        assert event.object["metadata"]["resourceVersion"] == str(event.resource_version)
    # the namespace comes before what is in it
    order = [(event.resource, event.name) for event in added]
    assert order.index(("namespaces", "shop")) < order.index(("configmaps", "web-a-conf"))
    assert order.index(("configmaps", "web-a-conf")) < order.index(("deployments", "web-a"))


def test_a_second_pass_adopts_nothing_again(cast, policy) -> None:
    submit(cast, _with_config("web-a"), policy("default", strategy="cheapest"))
    statuses_sync(str(cast.org_a.pk))
    stored = KubeObject.objects.filter(organization=cast.org_a).count()
    statuses_sync(str(cast.org_a.pk))
    assert KubeObject.objects.filter(organization=cast.org_a).count() == stored
