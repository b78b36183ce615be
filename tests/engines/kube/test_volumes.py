"""The zones a pod's volumes allow: a bound PV's node affinity, a WaitForFirstConsumer class's
allowed topologies, nothing for an Immediate class that has not provisioned yet."""

from __future__ import annotations

from engines.kube.volumes import claim_zones, class_zones, intersect, volume_zones

ZONE = "topology.kubernetes.io/zone"
EBS_ZONE = "topology.ebs.csi.aws.com/zone"


def _pv(*terms: list[dict]) -> dict:
    return {
        "spec": {
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": t} for t in terms]}}
        }
    }


def test_a_bound_ebs_volume_pins_its_zone() -> None:
    pv = _pv([{"key": EBS_ZONE, "operator": "In", "values": ["us-east-1b"]}])
    claim = {"spec": {"volumeName": "pv-1"}}
    assert claim_zones(claim, pv, None) == frozenset({"us-east-1b"})


def test_volume_terms_are_alternatives_and_a_term_without_a_zone_frees_it() -> None:
    two = _pv(
        [{"key": ZONE, "operator": "In", "values": ["a"]}], [{"key": ZONE, "operator": "In", "values": ["b"]}]
    )
    assert volume_zones(two) == frozenset({"a", "b"})
    free = _pv([{"key": ZONE, "operator": "In", "values": ["a"]}], [{"key": "disk", "operator": "Exists"}])
    assert volume_zones(free) is None
    assert volume_zones({"spec": {}}) is None


def test_wait_for_first_consumer_classes_limit_to_their_allowed_topologies() -> None:
    wffc = {
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowedTopologies": [{"matchLabelExpressions": [{"key": ZONE, "values": ["a", "c"]}]}],
    }
    assert class_zones(wffc) == frozenset({"a", "c"})
    assert class_zones({"volumeBindingMode": "WaitForFirstConsumer"}) is None
    assert (
        class_zones({"volumeBindingMode": "Immediate", "allowedTopologies": wffc["allowedTopologies"]})
        is None
    )
    assert claim_zones({"spec": {"storageClassName": "gp3"}}, None, wffc) == frozenset({"a", "c"})


def test_every_claim_must_be_reachable() -> None:
    assert intersect([frozenset({"a", "b"}), None, frozenset({"b", "c"})]) == frozenset({"b"})
    assert intersect([None, None]) is None
    assert intersect([frozenset({"a"}), frozenset({"b"})]) == frozenset()
