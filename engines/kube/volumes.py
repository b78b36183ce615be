"""Where a pod's volumes can be reached from: the zones its PersistentVolumeClaims allow.

Follows kube-scheduler's VolumeBinding and VolumeZone filters
(https://kubernetes.io/docs/concepts/storage/persistent-volumes/#node-affinity,
https://kubernetes.io/docs/concepts/storage/storage-classes/#volume-binding-mode):

- a bound claim's PersistentVolume pins the pod to the zones its `nodeAffinity` names;
- an unbound claim whose StorageClass binds `WaitForFirstConsumer` is provisioned where the pod
  lands, within the class's `allowedTopologies` (anywhere when it has none);
- an unbound `Immediate` claim is provisioned before the pod is scheduled: until then it says
  nothing about zones.

Zone labels are read under every key the EBS CSI driver and Kubernetes have used.

Attach limits follow kube-scheduler's NodeVolumeLimits filter
(https://kubernetes.io/docs/concepts/storage/storage-limits/): a node attaches at most the
`allocatable.count` its CSINode reports for a driver, a volume counting once however many pods
mount it. What the EBS CSI driver reports for an instance type is `ebs_attach_limit`; a node whose
type is not known is assumed to attach `NEW_NODE_ATTACH_LIMIT` (a plain Nitro type's count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Json = Mapping[str, Any]
ZONE_KEYS = frozenset(
    {
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.ebs.csi.aws.com/zone",
    }
)
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
EBS_DRIVER = "ebs.csi.aws.com"
NEW_NODE_ATTACH_LIMIT = 26
NITRO_ATTACHMENT_SLOTS = 28
XEN_ATTACHMENT_SLOTS = 39


def ebs_attach_limit(
    *,
    nitro: bool,
    dedicated: int | None = None,
    max_ebs: int | None = None,
    nvme_instance_stores: int = 0,
    network_interfaces: int = 1,
    root_volumes: int = 1,
) -> int:
    """How many EBS volumes the EBS CSI driver lets a node of an instance type attach (its CSINode's
    `allocatable.count`), computed the way the driver computes its default
    (https://docs.aws.amazon.com/ebs/latest/userguide/volume_limits.html):

    - a type with a dedicated EBS limit (7th-generation Intel/AMD and newer) has that many slots for
      volumes alone; a Xen type has 39;
    - any other Nitro type shares 28 slots (31 on bare metal, given as its `max_ebs`) between EBS
      volumes, network interfaces and NVMe instance-store disks; a few types cap EBS volumes lower
      still (`max_ebs` under 28);
    - the root volume takes one slot. The count never goes below 1 (the driver's floor).

    The driver counts the interfaces attached when it starts: on a new node, the primary one."""
    if dedicated:
        slots = dedicated
    elif not nitro:
        slots = XEN_ATTACHMENT_SLOTS
    else:
        shared = (
            max_ebs if max_ebs is not None and max_ebs > NITRO_ATTACHMENT_SLOTS else NITRO_ATTACHMENT_SLOTS
        )
        slots = shared - network_interfaces - nvme_instance_stores
        if max_ebs is not None and max_ebs < NITRO_ATTACHMENT_SLOTS:
            slots = min(slots, max_ebs)
    return max(slots - root_volumes, 1)


def _zones_in(expressions: Iterable[Json], values_key: str = "values") -> frozenset[str] | None:
    zones: set[str] | None = None
    for expression in expressions:
        if expression.get("key") in ZONE_KEYS and expression.get("operator", "In") == "In":
            found = {str(v) for v in expression.get(values_key) or ()}
            zones = found if zones is None else zones & found
    return None if zones is None else frozenset(zones)


def volume_zones(volume: Json) -> frozenset[str] | None:
    """The zones a PersistentVolume's required node affinity allows (terms are ORed)."""
    required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    allowed: set[str] = set()
    constrained = False
    for term in required.get("nodeSelectorTerms") or ():
        zones = _zones_in(term.get("matchExpressions") or ())
        if zones is None:
            return None  # one alternative does not constrain the zone at all
        constrained = True
        allowed |= zones
    return frozenset(allowed) if constrained else None


def class_zones(storage_class: Json) -> frozenset[str] | None:
    """The zones a WaitForFirstConsumer class may provision in (None: any, or not delayed)."""
    if storage_class.get("volumeBindingMode") != WAIT_FOR_FIRST_CONSUMER:
        return None
    allowed: set[str] = set()
    constrained = False
    for term in storage_class.get("allowedTopologies") or ():
        zones = _zones_in(term.get("matchLabelExpressions") or ())
        if zones is None:
            return None
        constrained = True
        allowed |= zones
    return frozenset(allowed) if constrained else None


def claim_zones(claim: Json, volume: Json | None, storage_class: Json | None) -> frozenset[str] | None:
    """The zones one claim allows: its bound volume's, or its WaitForFirstConsumer class's."""
    if (claim.get("spec") or {}).get("volumeName"):
        return volume_zones(volume) if volume is not None else None
    return class_zones(storage_class) if storage_class is not None else None


def intersect(zone_sets: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """Every claim must be reachable: the zones all constrained claims share (None: unconstrained)."""
    result: frozenset[str] | None = None
    for zones in zone_sets:
        if zones is not None:
            result = zones if result is None else result & zones
    return result


def attach_limit(csi_node: Json | None, driver: str = EBS_DRIVER) -> int | None:
    """How many volumes of `driver` a node can attach, from its CSINode (None: no limit known)."""
    for entry in ((csi_node or {}).get("spec") or {}).get("drivers") or ():
        if entry.get("name") == driver:
            count = (entry.get("allocatable") or {}).get("count")
            return None if count is None else int(count)
    return None


def attach_room(limit: int | None, claims_on_node: Iterable[str]) -> int | None:
    """How many more volumes a node can attach, given the claims (namespace/name) its pods mount."""
    return None if limit is None else max(limit - len(set(claims_on_node)), 0)


@dataclass(frozen=True)
class StorageState:
    """A cluster's claims (by `namespace/name`), volumes, storage classes and CSINodes (by name), as
    its informer holds them: what the volume rules of pending pods are read from."""

    claims: Mapping[str, Json] = field(default_factory=dict)
    volumes: Mapping[str, Json] = field(default_factory=dict)
    classes: Mapping[str, Json] = field(default_factory=dict)
    csi_nodes: Mapping[str, Json] = field(default_factory=dict)

    def zones(self, namespace: str, claim_names: Iterable[str]) -> frozenset[str] | None:
        """The zones a pod's claims allow (a claim not found says nothing: kube-scheduler keeps
        such a pod pending anyway)."""
        found = []
        for name in claim_names:
            claim = self.claims.get(f"{namespace}/{name}")
            if claim is None:
                continue
            spec = claim.get("spec") or {}
            volume = self.volumes.get(str(spec.get("volumeName") or "")) if spec.get("volumeName") else None
            storage_class = self.classes.get(str(spec.get("storageClassName") or ""))
            found.append(claim_zones(claim, volume, storage_class))
        return intersect(found)

    def attach_room(self, claims_by_node: Mapping[str, Iterable[str]]) -> dict[str, int]:
        """By node name, how many more EBS volumes each node with a CSINode can attach, given the
        claims (`namespace/name`) its pods mount."""
        room = {}
        for node_name, claims in claims_by_node.items():
            left = attach_room(attach_limit(self.csi_nodes.get(node_name)), claims)
            if left is not None:
                room[node_name] = left
        return room
