"""The PersistentVolume controller, the EBS CSI driver's provisioner and its node plugin, as one
controller (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#lifecycle-of-a-volume-and-claim):

- a new volume becomes `Available` (or is bound, if its `claimRef` names a claim);
- a pending claim binds to the smallest available volume that fits it - for an `Immediate` class at
  once, for a `WaitForFirstConsumer` class only to the volume the scheduler claimed for it
  (`claimRef`) on the node it chose;
- with no such volume, a class whose provisioner is dynamic gets one made: an `Immediate` claim in
  the first zone its class's `allowedTopologies` (or else the cluster's nodes) offer; a
  `WaitForFirstConsumer` claim once the scheduler annotated it with `volume.kubernetes.io/selected-node`,
  in that node's zone. The volume is pinned to its zone by required node affinity, as the EBS CSI
  driver does;
- a bound volume whose claim is gone is `Released`, and deleted when its reclaim policy is Delete;
- every node with an instance type gets a CSINode with the EBS driver and the number of volumes its
  instance type can attach (the node plugin registers it through the kubelet; `simulator.catalog`).

Binding writes the volume first (`claimRef`, `Bound`), then the claim (`volumeName`, the
`pv.kubernetes.io/bind-completed` annotation, `Bound`), as the real controller does.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from typing import Any

from simulator.api import ClusterApi
from simulator.catalog import AwsCatalog, load_catalog
from simulator.controllers.volume_rules import (
    EBS_DRIVER,
    NO_PROVISIONER,
    VolumeWorld,
    class_allows,
    static_volume_for,
    waits_for_first_consumer,
)
from simulator.errors import ApiError
from simulator.resources import (
    CSI_NODES,
    NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    STORAGE_CLASSES,
)
from simulator.store import JsonObject

Json = Mapping[str, Any]

ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# What a node whose instance type the catalog does not know reports (a plain Nitro type's count).
EBS_ATTACH_LIMIT = 26


class VolumeController:
    name = "volume-controller"
    watches = frozenset(
        {PERSISTENT_VOLUMES.key, PERSISTENT_VOLUME_CLAIMS.key, STORAGE_CLASSES.key, NODES.key}
    )

    def __init__(
        self, api: ClusterApi, *, attach_limit: int | None = None, catalog: AwsCatalog | None = None
    ) -> None:
        """`attach_limit`: one count for every node, whatever its type (tests of the filter)."""
        self.api = api
        self.attach_limit = attach_limit
        self.catalog = catalog or load_catalog()

    def _attach_limit(self, instance_type: str) -> int:
        if self.attach_limit is not None:
            return self.attach_limit
        spec = self.catalog.instance_types.get(instance_type)
        return spec.ebs_attach_limit if spec is not None else EBS_ATTACH_LIMIT

    def _world(self) -> VolumeWorld:
        store = self.api.store
        return VolumeWorld.of(
            (s.obj for s in store.list(PERSISTENT_VOLUME_CLAIMS).items),
            (s.obj for s in store.list(PERSISTENT_VOLUMES).items),
            (s.obj for s in store.list(STORAGE_CLASSES).items),
            (),
        )

    def reconcile(self, now: float) -> float | None:
        self._register_nodes()
        world = self._world()
        for volume in world.volumes.values():
            self._sync_volume(volume, world)
        world = self._world()
        for claim in world.claims.values():
            if not (claim.get("spec") or {}).get("volumeName") and not claim["metadata"].get(
                "deletionTimestamp"
            ):
                self._sync_claim(claim, world)
        return None

    # --- volumes -----------------------------------------------------------------------------
    def _sync_volume(self, volume: Json, world: VolumeWorld) -> None:
        spec, phase = volume.get("spec") or {}, (volume.get("status") or {}).get("phase")
        ref = spec.get("claimRef")
        if not ref:
            if phase != "Available":
                self._set_phase(volume, "Available")
            return
        claim = world.claims.get((ref.get("namespace") or "default", ref.get("name") or ""))
        if claim is None or (ref.get("uid") and claim["metadata"]["uid"] != ref["uid"]):
            if phase == "Bound" or (phase in ("Available", "Pending") and ref.get("uid")):
                self._release(volume)
            return
        claimed_here = (claim.get("spec") or {}).get("volumeName") in (None, "", volume["metadata"]["name"])
        if claimed_here and phase != "Bound":
            self._bind(volume, claim)

    def _release(self, volume: Json) -> None:
        name = volume["metadata"]["name"]
        if (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete":
            with contextlib.suppress(ApiError):
                self.api.delete(PERSISTENT_VOLUMES, "", name)
            return
        if (volume.get("status") or {}).get("phase") != "Released":
            self._set_phase(volume, "Released")

    def _set_phase(self, volume: Json, phase: str) -> None:
        def set_phase(copy: JsonObject) -> None:
            copy.setdefault("status", {})["phase"] = phase

        with contextlib.suppress(ApiError):
            self.api.update(
                PERSISTENT_VOLUMES, "", volume["metadata"]["name"], set_phase, subresource="status"
            )

    # --- claims ------------------------------------------------------------------------------
    def _sync_claim(self, claim: Json, world: VolumeWorld) -> None:
        storage_class = world.claim_class(claim)
        if waits_for_first_consumer(storage_class):
            claimed = next(
                (v for v in world.volumes.values() if _refers_to(v, claim)),
                None,
            )
            if claimed is not None:
                self._bind(claimed, claim)
                return
            selected = (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE)
            if selected:
                node = self.api.store.try_get(NODES, "", selected)
                zone = ((node.obj["metadata"].get("labels") or {}).get(ZONE) if node else None) or ""
                if zone and storage_class is not None:
                    self._provision(claim, storage_class, zone)
            return
        volume = static_volume_for(world, claim, None)
        if volume is not None:
            self._bind(volume, claim)
            return
        if storage_class is None:
            return  # no class, no matching volume: pending until one is created
        zone = self._immediate_zone(storage_class)
        if zone:
            self._provision(claim, storage_class, zone)

    def _immediate_zone(self, storage_class: Json) -> str | None:
        zones = sorted(
            {
                str(value)
                for term in storage_class.get("allowedTopologies") or ()
                for expression in term.get("matchLabelExpressions") or ()
                if expression.get("key") in (ZONE, "topology.ebs.csi.aws.com/zone")
                for value in expression.get("values") or ()
            }
        )
        if not zones:
            zones = sorted(
                {
                    str((s.obj["metadata"].get("labels") or {}).get(ZONE))
                    for s in self.api.store.list(NODES).items
                    if (s.obj["metadata"].get("labels") or {}).get(ZONE)
                    and class_allows(storage_class, s.obj["metadata"].get("labels") or {})
                }
            )
        return zones[0] if zones else None

    def _provision(self, claim: Json, storage_class: Json, zone: str) -> None:
        provisioner = str(storage_class.get("provisioner") or "")
        if not provisioner or provisioner == NO_PROVISIONER:
            return
        meta, spec = claim["metadata"], claim.get("spec") or {}
        handle = "vol-" + hashlib.sha256(meta["uid"].encode()).hexdigest()[:17]
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": f"pvc-{meta['uid']}",
                "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
            },
            "spec": {
                "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage")},
                "claimRef": {
                    "kind": "PersistentVolumeClaim",
                    "apiVersion": "v1",
                    "namespace": meta.get("namespace") or "default",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
                "csi": {"driver": provisioner, "volumeHandle": handle, "fsType": "ext4"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": ZONE, "operator": "In", "values": [zone]}]}
                        ]
                    }
                },
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
                "storageClassName": storage_class["metadata"]["name"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
            },
        }
        with contextlib.suppress(ApiError):  # made already (a pass that lost its write): bound next pass
            created = self.api.create(PERSISTENT_VOLUMES, "", body)
            self._bind(created.obj, claim)

    def _bind(self, volume: Json, claim: Json) -> None:
        meta = claim["metadata"]
        ref = {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "namespace": meta.get("namespace") or "default",
            "name": meta["name"],
            "uid": meta["uid"],
        }

        def claim_volume(copy: JsonObject) -> None:
            copy["spec"]["claimRef"] = {**(copy["spec"].get("claimRef") or {}), **ref}

        def volume_bound(copy: JsonObject) -> None:
            copy.setdefault("status", {})["phase"] = "Bound"

        name = volume["metadata"]["name"]
        try:
            if (volume["spec"].get("claimRef") or {}).get("uid") != meta["uid"]:
                self.api.update(PERSISTENT_VOLUMES, "", name, claim_volume)
            self.api.update(PERSISTENT_VOLUMES, "", name, volume_bound, subresource="status")
            self.api.update(PERSISTENT_VOLUME_CLAIMS, ref["namespace"], meta["name"], _claim_bound(volume))
            self.api.update(
                PERSISTENT_VOLUME_CLAIMS,
                ref["namespace"],
                meta["name"],
                _claim_status(volume),
                subresource="status",
            )
        except ApiError:
            return  # changed meanwhile: the next pass reads everything again

    # --- CSI node plugin ---------------------------------------------------------------------
    def _register_nodes(self) -> None:
        nodes = {s.obj["metadata"]["name"]: s.obj for s in self.api.store.list(NODES).items}
        registered = {s.obj["metadata"]["name"] for s in self.api.store.list(CSI_NODES).items}
        for name, node in nodes.items():
            instance_type = (node["metadata"].get("labels") or {}).get(INSTANCE_TYPE)
            if name in registered or not instance_type:
                continue
            body = {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "CSINode",
                "metadata": {
                    "name": name,
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}
                    ],
                },
                "spec": {
                    "drivers": [
                        {
                            "name": EBS_DRIVER,
                            "nodeID": name,
                            "topologyKeys": ["topology.ebs.csi.aws.com/zone", ZONE],
                            "allocatable": {"count": self._attach_limit(instance_type)},
                        }
                    ]
                },
            }
            with contextlib.suppress(ApiError):
                self.api.create(CSI_NODES, "", body)
        for name in registered - nodes.keys():  # the garbage collector follows the owner reference
            with contextlib.suppress(ApiError):
                self.api.delete(CSI_NODES, "", name)


def _refers_to(volume: Json, claim: Json) -> bool:
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    meta = claim["metadata"]
    return (ref.get("namespace"), ref.get("name")) == (meta.get("namespace"), meta["name"]) and ref.get(
        "uid"
    ) in (None, meta["uid"])


def _claim_bound(volume: Json) -> Any:
    def bind(copy: JsonObject) -> None:
        copy["spec"]["volumeName"] = volume["metadata"]["name"]
        annotations = copy["metadata"].setdefault("annotations", {})
        annotations["pv.kubernetes.io/bind-completed"] = "yes"
        annotations["pv.kubernetes.io/bound-by-controller"] = "yes"

    return bind


def _claim_status(volume: Json) -> Any:
    def bound(copy: JsonObject) -> None:
        spec = volume.get("spec") or {}
        copy["status"] = {
            "phase": "Bound",
            "accessModes": list(spec.get("accessModes") or ()),
            "capacity": dict(spec.get("capacity") or {}),
        }

    return bound
