"""The product's member client finds custom kinds through the cluster's discovery, as client-go's
RESTMapper does, against a simulated cluster: once per group/version while the kind is found; a
kind the cluster does not serve is refused saying so, and asked about again only after a while (a
CRD installed meanwhile is then found)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as kube

from clusters.kube import mapper
from clusters.kube.api import ClusterApi, ClusterRefused
from tests.fixtures.simulation import kube_api, wait_for
from tests.simulator.test_crds import GROUP, PLURAL, VERSION, crontab, definition


def test_custom_kinds_are_found_through_discovery_and_cached(simulated_cluster, kube_client) -> None:
    sim = simulated_cluster(run_controllers=False)
    api = ClusterApi(kube_client(sim))
    now = [1000.0]
    api.mapper = mapper.KindMapper(api._discovery, clock=lambda: now[0])
    reads: list[str] = []
    original = api._discovery

    def counted(path: str) -> Any:
        reads.append(path)
        return original(path)

    api.mapper.read = counted
    tab = {**crontab("nightly"), "metadata": {"name": "nightly", "namespace": "default"}}

    with pytest.raises(ClusterRefused) as refused:
        api.apply(tab)
    assert refused.value.status == 404
    assert str(refused.value) == (
        "the cluster serves no CronTab in stable.example.com/v1: its CustomResourceDefinition is not installed there"
    )
    assert reads == [f"/apis/{GROUP}/{VERSION}"]
    assert api.delete("CronTab", "default", "nightly", api_version=f"{GROUP}/{VERSION}") is False

    kube_api(kube.ApiextensionsV1Api, kube_client(sim)).create_custom_resource_definition(definition())
    with pytest.raises(ClusterRefused):
        api.apply(tab)  # the answer "not served" is kept for a while
    assert len(reads) == 1

    now[0] += mapper.MISSING_SECONDS + 1
    wait_for(lambda: sim.registry.find(GROUP, VERSION, PLURAL) is not None)
    assert api.apply(tab)["metadata"]["name"] == "nightly"
    api.apply({**tab, "metadata": {"name": "weekly", "namespace": "default"}})
    assert len(reads) == 2  # found: no look-up for the next object of the kind
    assert api.delete("CronTab", "default", "weekly", api_version=f"{GROUP}/{VERSION}") is True
    assert api.get("Pod", "default", "none") is None  # built-in kinds need no look-up
    assert len(reads) == 2
