"""A simulated cluster gives Services their cluster IPs as kube-apiserver's allocator does: the one
asked for when it is of the range and free, else 422; the next free one otherwise."""

from __future__ import annotations

import pytest

from simulator.api import ClusterApi
from simulator.clock import ManualClock
from simulator.errors import ApiError
from simulator.resources import SERVICES
from simulator.store import ObjectStore


def _service(name: str, address: str = "") -> dict:
    spec: dict = {"ports": [{"port": 80}]}
    if address:
        spec["clusterIP"] = address
    return {"metadata": {"name": name}, "spec": spec}


def test_an_address_asked_for_is_given_when_of_the_range_and_free() -> None:
    clock = ManualClock()
    api = ClusterApi(ObjectStore(clock), clock)
    first = api.create(SERVICES, "default", _service("one")).obj["spec"]["clusterIP"]
    assert (
        api.create(SERVICES, "default", _service("two", "10.96.5.5")).obj["spec"]["clusterIP"] == "10.96.5.5"
    )
    with pytest.raises(ApiError) as taken:
        api.create(SERVICES, "default", _service("three", first))
    assert taken.value.code == 422 and "provided IP is already allocated" in str(taken.value)
    with pytest.raises(ApiError) as outside:
        api.create(SERVICES, "default", _service("four", "172.20.0.9"))
    assert outside.value.code == 422
    assert "The range of valid IPs is 10.96.0.0/12" in str(outside.value)
    assert api.create(SERVICES, "default", _service("five")).obj["spec"]["clusterIP"] not in (
        first,
        "10.96.5.5",
    )
