"""What kube-apiserver's generic registry does to every update before it stores it.

- A status-subresource write keeps the stored spec. For most kinds the metadata is reset too
  (`metav1.ResetObjectMetaForStatus`: labels, annotations, finalizers, owner references, ...),
  but pods/status resets only `spec`, `deletionTimestamp` and `ownerReferences`
  (pkg/registry/core/pod/strategy.go, `podStatusStrategy.PrepareForUpdate`), so a pod's labels,
  annotations and finalizers can change through pods/status.
- No finalizer may be added to an object being deleted (apimachinery's `ValidateNoNewFinalizers`).
- An update that changes nothing is not written: etcd3's `GuaranteedUpdate` returns the stored
  object when the new encoding equals the old one, so the resourceVersion stays and watchers see
  no event.
- Removing the last finalizer deletes the object only when it was being deleted with no grace
  period left (`Store.shouldDeleteDuringUpdate`); a pod still terminating gracefully stays.
"""

from __future__ import annotations

import json
from typing import Any

from simulator.errors import invalid
from simulator.resources import PODS, ResourceType
from simulator.store import JsonObject


def for_status_write(resource: ResourceType, old: JsonObject, new: JsonObject) -> JsonObject:
    """The object a status-subresource write stores: the old one with the new status and the
    metadata the kind's status strategy lets through."""
    merged = dict(old)
    merged["status"] = new.get("status", {})
    new_meta = dict(new.get("metadata") or {})
    old_meta = old["metadata"]
    if resource is PODS:
        meta = dict(new_meta) if new_meta else dict(old_meta)
        for key in ("deletionTimestamp", "ownerReferences"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        status = dict(merged["status"] or {})
        if not status.get("qosClass") and (old.get("status") or {}).get("qosClass"):
            status["qosClass"] = old["status"]["qosClass"]  # immutable, set on create
        merged["status"] = status
    else:
        meta = dict(old_meta)  # ResetObjectMetaForStatus: what clients can set is all reset
    merged["metadata"] = meta
    return merged


def check_no_new_finalizers(resource: ResourceType, old: JsonObject, new: JsonObject) -> None:
    old_meta = old["metadata"]
    if not old_meta.get("deletionTimestamp"):
        return
    extra = sorted(set(new["metadata"].get("finalizers") or ()) - set(old_meta.get("finalizers") or ()))
    if extra:
        listed = ", ".join(json.dumps(f) for f in extra)
        raise invalid(
            resource.kind,
            old_meta["name"],
            resource.group,
            [
                (
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers []string{{{listed}}}",
                )
            ],
        )


def unchanged(old: JsonObject, new: JsonObject) -> bool:
    """Whether storing `new` would store the same object (the resourceVersion aside)."""
    if old.keys() != new.keys():
        return False
    for key, value in new.items():
        if key != "metadata" and old[key] != value:
            return False
    return _without_version(old["metadata"]) == _without_version(new["metadata"])


def _without_version(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != "resourceVersion"}


def finalized_now(old: JsonObject, new: JsonObject) -> bool:
    """An update that removes the last finalizer of an object whose deletion is due."""
    old_meta, new_meta = old["metadata"], new["metadata"]
    return (
        bool(old_meta.get("deletionTimestamp"))
        and bool(old_meta.get("finalizers"))
        and not new_meta.get("finalizers")
        and old_meta.get("deletionGracePeriodSeconds", 0) == 0
    )
