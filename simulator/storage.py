"""PersistentVolumes, PersistentVolumeClaims, StorageClasses and CSINodes: the defaults and the
validation kube-apiserver's registry strategies apply to them (the parts clients notice).

- StorageClass: `reclaimPolicy` defaults to Delete and `volumeBindingMode` to Immediate; a class
  needs a `provisioner`; provisioner, parameters, reclaimPolicy and volumeBindingMode are
  immutable (https://kubernetes.io/docs/concepts/storage/storage-classes/).
- PersistentVolumeClaim: needs `accessModes` and `resources.requests.storage`; starts `Pending`;
  its spec is immutable once created except the requested storage and, while empty,
  `volumeName` (the binder fills it).
- PersistentVolume: needs `capacity.storage`, `accessModes` and one volume source; starts
  `Pending` (the PV controller makes it `Available`); a manually created volume is `Retain`ed.
"""

from __future__ import annotations

from typing import Any

from simulator.errors import invalid
from simulator.resources import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, STORAGE_CLASSES, ResourceType
from simulator.store import JsonObject

BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
VOLUME_SOURCES = ("csi", "awsElasticBlockStore", "hostPath", "local", "nfs")
_SUPPORTED_MODES = '"' + '", "'.join(ACCESS_MODES) + '"'
_SUPPORTED_BINDING = '"' + '", "'.join(BINDING_MODES) + '"'
_IMMUTABLE_CLASS_FIELDS = ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode")


def default_storage(resource: ResourceType, obj: JsonObject) -> None:
    """Defaults on create (mutates a private copy)."""
    if resource is STORAGE_CLASSES:
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")
    elif resource is PERSISTENT_VOLUME_CLAIMS:
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        obj["status"] = {"phase": "Pending"}
    elif resource is PERSISTENT_VOLUMES:
        spec = obj.setdefault("spec", {})
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        obj["status"] = {"phase": "Pending"}


def validate_storage(resource: ResourceType, obj: JsonObject, old: JsonObject | None) -> None:
    name = obj["metadata"].get("name", "")
    if resource is STORAGE_CLASSES:
        _validate_class(name, obj, old)
    elif resource is PERSISTENT_VOLUME_CLAIMS:
        _validate_claim(name, obj, old)
    elif resource is PERSISTENT_VOLUMES:
        _validate_volume(name, obj, old)


def _access_mode_causes(spec: JsonObject) -> list[tuple[str, str]]:
    modes = spec.get("accessModes") or []
    if not modes:
        return [("spec.accessModes", "Required value: at least 1 access mode is required")]
    return [
        ("spec.accessModes", f'Unsupported value: "{mode}": supported values: {_SUPPORTED_MODES}')
        for mode in modes
        if mode not in ACCESS_MODES
    ]


def _validate_class(name: str, obj: JsonObject, old: JsonObject | None) -> None:
    causes = []
    if not obj.get("provisioner"):
        causes.append(("provisioner", "Required value"))
    mode = obj.get("volumeBindingMode")
    if mode not in BINDING_MODES:
        causes.append(
            ("volumeBindingMode", f'Unsupported value: "{mode}": supported values: {_SUPPORTED_BINDING}')
        )
    if old is not None:
        causes.extend(
            (field, f"Forbidden: updates to {field} are forbidden.")
            for field in _IMMUTABLE_CLASS_FIELDS
            if obj.get(field) != old.get(field)
        )
    if causes:
        raise invalid("StorageClass", name, "storage.k8s.io", causes)


def _storage_request(spec: JsonObject) -> Any:
    return ((spec.get("resources") or {}).get("requests") or {}).get("storage")


def _validate_claim(name: str, obj: JsonObject, old: JsonObject | None) -> None:
    spec = obj.get("spec") or {}
    causes = _access_mode_causes(spec)
    if not _storage_request(spec):
        causes.append(("spec.resources[storage]", "Required value"))
    if old is not None and old.get("spec") is not obj.get("spec"):
        before = dict(old.get("spec") or {})
        after = dict(spec)
        if not before.get("volumeName"):
            before.pop("volumeName", None)
            after.pop("volumeName", None)
        for side in (before, after):
            side.pop("resources", None)
        if before != after:
            causes.append(
                (
                    "spec",
                    "Forbidden: spec is immutable after creation except resources.requests and "
                    "volumeAttributesClassName for bound claims",
                )
            )
    if causes:
        raise invalid("PersistentVolumeClaim", name, "", causes)


def _validate_volume(name: str, obj: JsonObject, old: JsonObject | None) -> None:
    spec = obj.get("spec") or {}
    causes = _access_mode_causes(spec)
    if not (spec.get("capacity") or {}).get("storage"):
        causes.append(("spec.capacity", "Required value"))
    if not any(spec.get(source) for source in VOLUME_SOURCES):
        causes.append(("spec", "Required value: must specify a volume type"))
    if old is not None and (old.get("spec") or {}).get("nodeAffinity") not in (
        None,
        spec.get("nodeAffinity"),
    ):
        causes.append(("spec.nodeAffinity", "Invalid value: field is immutable"))
    if causes:
        raise invalid("PersistentVolume", name, "", causes)
