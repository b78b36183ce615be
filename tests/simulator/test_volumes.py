"""The simulated API server's storage kinds and the controllers around them, as the real ones behave:

- StorageClass, PersistentVolumeClaim and PersistentVolume are validated and defaulted as
  kube-apiserver does (a class's binding mode is immutable; a claim needs access modes and a size);
- an `Immediate` claim binds to a matching volume at once (or gets one provisioned), whether or
  not a pod uses it; a `WaitForFirstConsumer` claim stays Pending until a pod using it is
  scheduled, and is then provisioned in the zone of the node chosen, within the class's
  `allowedTopologies`;
- kube-scheduler's volume filters: a bound volume's node affinity, a claim that does not exist,
  an unbound Immediate claim, and a node's attach limit (CSINode) keep pods off nodes, with
  kube-scheduler's messages.
"""

from __future__ import annotations

from typing import Any

import pytest

from simulator.api import ClusterApi
from simulator.clock import ManualClock
from simulator.controllers.base import ControllerManager
from simulator.controllers.scheduler import Scheduler
from simulator.controllers.volumes import EBS_ATTACH_LIMIT, VolumeController
from simulator.errors import ApiError
from simulator.resources import (
    CSI_NODES,
    NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    PODS,
    STORAGE_CLASSES,
)
from simulator.store import ObjectStore
from tests.simulator.test_scheduler import node, placement, pod, scheduled_condition

ZONE = "topology.kubernetes.io/zone"
EBS = "ebs.csi.aws.com"


@pytest.fixture
def world() -> Any:
    clock = ManualClock()
    api = ClusterApi(ObjectStore(clock), clock)
    manager = ControllerManager(api.store, clock, [Scheduler(api), VolumeController(api)])
    for name, zone in (("na", "us-east-1a"), ("nb", "us-east-1b"), ("nc", "us-east-1c")):
        labels = {ZONE: zone, "kubernetes.io/hostname": name, "node.kubernetes.io/instance-type": "m5.large"}
        api.create(NODES, "", node(name, cpu="16", memory="64Gi", labels=labels))
    return api, manager, clock


def storage_class(
    name: str, mode: str = "WaitForFirstConsumer", zones: tuple[str, ...] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name}, "provisioner": EBS, "volumeBindingMode": mode}
    if zones:
        body["allowedTopologies"] = [{"matchLabelExpressions": [{"key": ZONE, "values": list(zones)}]}]
    return body


def claim(name: str, class_name: str = "gp3", size: str = "10Gi") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class_name,
            "resources": {"requests": {"storage": size}},
        },
    }


def volume(name: str, zone: str, class_name: str = "gp3", size: str = "10Gi") -> dict[str, Any]:
    term = {"matchExpressions": [{"key": ZONE, "operator": "In", "values": [zone]}]}
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": size},
            "storageClassName": class_name,
            "csi": {"driver": EBS, "volumeHandle": f"vol-{name}"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
        },
    }


def user(name: str, *claims: str) -> dict[str, Any]:
    volumes = [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]
    return pod(name, cpu="100m", volumes=volumes)


def zone_of(api: ClusterApi, pod_name: str) -> str:
    node_name = placement(api)[pod_name]
    assert node_name is not None
    return str(api.get(NODES, "", node_name).obj["metadata"]["labels"][ZONE])


def test_storage_kinds_are_defaulted_and_validated_like_the_api_server() -> None:
    clock = ManualClock()
    api = ClusterApi(ObjectStore(clock), clock)
    made = api.create(STORAGE_CLASSES, "", {"metadata": {"name": "plain"}, "provisioner": EBS}).obj
    assert (made["volumeBindingMode"], made["reclaimPolicy"]) == ("Immediate", "Delete")
    with pytest.raises(ApiError) as changed:

        def wait(copy: dict[str, Any]) -> None:
            copy["volumeBindingMode"] = "WaitForFirstConsumer"

        api.update(STORAGE_CLASSES, "", "plain", wait)
    assert changed.value.code == 422 and "volumeBindingMode: Forbidden" in changed.value.message
    with pytest.raises(ApiError) as sizeless:
        api.create(
            PERSISTENT_VOLUME_CLAIMS,
            "default",
            {"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"]}},
        )
    assert sizeless.value.code == 422 and "spec.resources[storage]: Required value" in sizeless.value.message
    pending = api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("data")).obj
    assert pending["status"] == {"phase": "Pending"} and pending["spec"]["volumeMode"] == "Filesystem"
    with pytest.raises(ApiError) as resized_class:

        def other_class(copy: dict[str, Any]) -> None:
            copy["spec"]["storageClassName"] = "io2"

        api.update(PERSISTENT_VOLUME_CLAIMS, "default", "data", other_class)
    assert "spec is immutable after creation" in resized_class.value.message
    with pytest.raises(ApiError) as sourceless:
        api.create(
            PERSISTENT_VOLUMES,
            "",
            {
                "metadata": {"name": "v"},
                "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}},
            },
        )
    assert "must specify a volume type" in sourceless.value.message
    made_volume = api.create(PERSISTENT_VOLUMES, "", volume("pv-1", "us-east-1a")).obj
    assert made_volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


def test_an_immediate_claim_binds_to_a_matching_volume_without_a_pod(world) -> None:
    api, manager, _ = world
    api.create(STORAGE_CLASSES, "", storage_class("gp3", "Immediate"))
    api.create(PERSISTENT_VOLUMES, "", volume("small", "us-east-1b", size="5Gi"))
    api.create(PERSISTENT_VOLUMES, "", volume("fits", "us-east-1b", size="20Gi"))
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("data"))
    manager.settle()
    bound = api.get(PERSISTENT_VOLUME_CLAIMS, "default", "data").obj
    assert bound["spec"]["volumeName"] == "fits" and bound["status"]["phase"] == "Bound"
    assert bound["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    assert api.get(PERSISTENT_VOLUMES, "", "fits").obj["status"]["phase"] == "Bound"
    assert api.get(PERSISTENT_VOLUMES, "", "small").obj["status"]["phase"] == "Available"
    # The pod follows its volume's zone (the bound volume's node affinity).
    api.create(PODS, "default", user("db", "data"))
    manager.settle()
    assert zone_of(api, "db") == "us-east-1b"


def test_a_wait_for_first_consumer_claim_is_provisioned_where_its_pod_lands(world) -> None:
    api, manager, _ = world
    api.create(STORAGE_CLASSES, "", storage_class("gp3", zones=("us-east-1c",)))
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("data"))
    manager.settle()
    assert api.get(PERSISTENT_VOLUME_CLAIMS, "default", "data").obj["status"]["phase"] == "Pending"
    assert not api.store.list(PERSISTENT_VOLUMES).items  # nothing provisioned before a consumer
    api.create(PODS, "default", user("db", "data"))
    manager.settle()
    assert zone_of(api, "db") == "us-east-1c"  # allowedTopologies
    bound = api.get(PERSISTENT_VOLUME_CLAIMS, "default", "data").obj
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "nc"
    made = api.get(PERSISTENT_VOLUMES, "", bound["spec"]["volumeName"]).obj
    terms = made["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["us-east-1c"]
    assert made["spec"]["claimRef"]["uid"] == bound["metadata"]["uid"]


def test_a_wait_for_first_consumer_claim_takes_an_available_volume_on_the_chosen_node(world) -> None:
    api, manager, _ = world
    api.create(STORAGE_CLASSES, "", {**storage_class("local"), "provisioner": "kubernetes.io/no-provisioner"})
    api.create(PERSISTENT_VOLUMES, "", volume("disk-a", "us-east-1a", class_name="local"))
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("data", class_name="local"))
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("more", class_name="local"))
    api.create(PODS, "default", user("db", "data"))
    api.create(PODS, "default", user("db2", "more"))
    manager.settle()
    assert zone_of(api, "db") == "us-east-1a"
    assert api.get(PERSISTENT_VOLUME_CLAIMS, "default", "data").obj["spec"]["volumeName"] == "disk-a"
    # No volume left and no provisioner: kube-scheduler's VolumeBinding message.
    assert placement(api)["db2"] is None
    message = scheduled_condition(api, "db2")["message"]
    assert "3 node(s) didn't find available persistent volumes to bind" in message


def test_claims_that_are_missing_or_unbound_immediate_keep_the_pod_pending_with_the_reason(world) -> None:
    api, manager, _ = world
    api.create(
        STORAGE_CLASSES,
        "",
        {**storage_class("manual", "Immediate"), "provisioner": "kubernetes.io/no-provisioner"},
    )
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("waiting", class_name="manual"))
    api.create(PODS, "default", user("lost", "nowhere"))
    api.create(PODS, "default", user("early", "waiting"))
    manager.settle()
    assert placement(api) == {"lost": None, "early": None}
    assert 'persistentvolumeclaim "nowhere" not found' in scheduled_condition(api, "lost")["message"]
    assert "pod has unbound immediate PersistentVolumeClaims" in scheduled_condition(api, "early")["message"]


def test_a_bound_volume_in_a_zone_without_nodes_is_named(world) -> None:
    api, manager, _ = world
    api.create(STORAGE_CLASSES, "", storage_class("gp3", "Immediate"))
    api.create(PERSISTENT_VOLUMES, "", volume("far", "us-east-1d"))
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("data"))
    api.create(PODS, "default", user("db", "data"))
    manager.settle()
    assert placement(api)["db"] is None
    assert "3 node(s) had volume node affinity conflict" in scheduled_condition(api, "db")["message"]


def test_every_node_reports_its_attach_limit_and_the_scheduler_keeps_to_it(world) -> None:
    api, manager, _ = world
    manager.settle()
    csi = api.get(CSI_NODES, "", "na").obj
    assert csi["spec"]["drivers"][0] == {
        "name": EBS,
        "nodeID": "na",
        "topologyKeys": ["topology.ebs.csi.aws.com/zone", ZONE],
        "allocatable": {"count": EBS_ATTACH_LIMIT},
    }

    def two_volumes(copy: dict[str, Any]) -> None:
        copy["spec"]["drivers"][0]["allocatable"]["count"] = 2

    for name in ("na", "nb", "nc"):
        api.update(CSI_NODES, "", name, two_volumes)
    api.create(STORAGE_CLASSES, "", storage_class("gp3", zones=("us-east-1a",)))
    for index in range(3):
        api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim(f"data-{index}"))
    api.create(PODS, "default", user("two", "data-0", "data-1"))
    manager.settle()
    assert placement(api)["two"] == "na"
    # A pod sharing a volume already attached adds nothing; a third volume does not fit.
    api.create(PODS, "default", user("sharing", "data-0"))
    api.create(PODS, "default", user("third", "data-2"))
    manager.settle()
    assert placement(api)["sharing"] == "na" and placement(api)["third"] is None
    message = scheduled_condition(api, "third")["message"]
    assert "1 node(s) exceed max volume count" in message
    assert "2 node(s) didn't find available persistent volumes to bind" in message


def test_a_volume_whose_claim_is_deleted_is_released_or_deleted_by_its_reclaim_policy(world) -> None:
    api, manager, _ = world
    api.create(STORAGE_CLASSES, "", storage_class("gp3", "Immediate"))
    api.create(PERSISTENT_VOLUMES, "", volume("kept", "us-east-1a"))
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("data"))
    api.create(PERSISTENT_VOLUME_CLAIMS, "default", claim("scratch", size="50Gi"))
    manager.settle()
    provisioned = api.get(PERSISTENT_VOLUME_CLAIMS, "default", "scratch").obj["spec"]["volumeName"]
    assert provisioned.startswith("pvc-")
    api.delete(PERSISTENT_VOLUME_CLAIMS, "default", "data")
    api.delete(PERSISTENT_VOLUME_CLAIMS, "default", "scratch")
    manager.settle()
    assert api.get(PERSISTENT_VOLUMES, "", "kept").obj["status"]["phase"] == "Released"
    assert api.store.try_get(PERSISTENT_VOLUMES, "", provisioned) is None


def test_each_node_reports_the_ebs_count_of_its_instance_type(world) -> None:
    api, manager, _ = world
    # A dedicated EBS limit (m7i: 32 less the root volume), a Nitro type with an NVMe disk (28 less
    # the primary interface, the disk and the root volume), a Xen type (39 less the root volume), a
    # type the catalog does not know (a plain Nitro count).
    for name, instance_type in (
        ("dedicated", "m7i.large"),
        ("disk", "c5d.large"),
        ("xen", "m4.large"),
        ("odd", "zz.nano"),
    ):
        labels = {
            ZONE: "us-east-1a",
            "kubernetes.io/hostname": name,
            "node.kubernetes.io/instance-type": instance_type,
        }
        api.create(NODES, "", node(name, cpu="2", memory="8Gi", labels=labels))
    manager.settle()

    def count(name: str) -> int:
        return int(api.get(CSI_NODES, "", name).obj["spec"]["drivers"][0]["allocatable"]["count"])

    assert [count(n) for n in ("na", "dedicated", "disk", "xen", "odd")] == [26, 31, 25, 38, EBS_ATTACH_LIMIT]
