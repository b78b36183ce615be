"""Deployment → ReplicaSet → Pod controllers.

The ReplicaSet controller keeps `spec.replicas` live pods per ReplicaSet (deleting unscheduled,
then pending, then the newest pods first when scaling down). The Deployment controller keeps one
ReplicaSet per pod template (named by `pod-template-hash`) at the desired size and scales the old
ones to zero once the new one is fully ready, then reports the status fields `kubectl rollout
status` reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Sequence

from simulator.api import ClusterApi
from simulator.clock import parse_timestamp
from simulator.disruption import is_pod_ready
from simulator.errors import ApiError
from simulator.resources import DEPLOYMENTS, PODS, REPLICASETS, ResourceType
from simulator.store import ObjectStore
from simulator.store_keys import ObjectKey
from simulator.store_table import OWNER_INDEX, JsonObject, StoredObject, WatchEvent

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
HASHES_KEPT = 10_000


def owner_reference(owner: JsonObject) -> JsonObject:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned(api: ClusterApi, resource: ResourceType, owner: JsonObject) -> list[JsonObject]:
    """Objects whose controller reference is `owner`."""
    return [stored.obj for stored in owned_revisions(api, resource, owner)]


def owned_revisions(api: ClusterApi, resource: ResourceType, owner: JsonObject) -> list[StoredObject]:
    """``owned``, as the store keeps them (with their resourceVersions)."""
    uid = owner["metadata"]["uid"]
    return [
        s
        for s in api.store.by_index(resource, OWNER_INDEX, uid)
        if any(
            r.get("uid") == uid and r.get("controller")
            for r in s.obj["metadata"].get("ownerReferences") or ()
        )
    ]


def _controller_uids(obj: JsonObject) -> list[str]:
    return [
        r["uid"] for r in obj["metadata"].get("ownerReferences") or () if r.get("controller") and "uid" in r
    ]


class SyncedInputs:
    """Which owners to sync: those whose inputs (the object and its children, by resourceVersion)
    moved since they were last synced. A store listener queues an owner when it or one of its
    children is written, as kube-controller-manager's informers enqueue only the objects that
    changed (a child names its owner by its controller reference), so a pass costs what changed,
    not every object of the kind. A sync reads nothing else, so with the same inputs it would write
    nothing and the owner is skipped; a sync that wrote changes its own inputs, so the owner is
    synced once more and then settles."""

    def __init__(self, store: ObjectStore, owners: ResourceType, children: ResourceType) -> None:
        self.owners, self.children = owners, children
        self._last: dict[str, tuple[int, tuple[int, ...]]] = {}
        self._seen: dict[str, tuple[int, tuple[int, ...]]] = {}
        self._lock = threading.Lock()
        self._keys: dict[str, ObjectKey] = {}  # owner uid -> where it is stored
        self._queued: set[str] = set()
        self._everything = True  # the first pass walks the owners there already are
        store.add_listener(self._on_change)

    def _on_change(self, resource: ResourceType, event: WatchEvent) -> None:
        """Under the store lock: note which owner the write concerns (cheap, reads nothing)."""
        if resource.key == self.owners.key:
            meta = event.current.obj["metadata"]
            with self._lock:
                if event.type == "DELETED":
                    self._keys.pop(meta["uid"], None)
                    self._last.pop(meta["uid"], None)
                else:
                    self._keys[meta["uid"]] = event.current.key
                    self._queued.add(meta["uid"])
        elif resource.key == self.children.key:
            uids = _controller_uids(event.current.obj)
            if event.previous is not None:
                uids += _controller_uids(event.previous.obj)
            with self._lock:
                self._queued.update(uids)

    def unchanged(self, stored: StoredObject, children: Sequence[StoredObject]) -> bool:
        """Whether ``stored`` was synced from these inputs already; if not, they are noted (kept
        by ``done`` once the pass is over)."""
        uid = stored.obj["metadata"]["uid"]
        inputs = (stored.rv, tuple(sorted(child.rv for child in children)))
        self._seen[uid] = inputs
        return self._last.get(uid) == inputs

    def forget(self, stored: StoredObject) -> None:
        """Sync ``stored`` next time whatever its inputs (its sync failed half-way)."""
        uid = stored.obj["metadata"]["uid"]
        self._seen.pop(uid, None)
        self._last.pop(uid, None)

    def done(self) -> None:
        """The pass is over: keep what it synced from."""
        self._last.update(self._seen)
        self._seen = {}

    def _due(self, api: ClusterApi) -> list[StoredObject]:
        """The owners queued since the last pass (all of them on the first), in key order."""
        with self._lock:
            queued, self._queued = self._queued, set()
            everything, self._everything = self._everything, False
            keys = {uid: self._keys[uid] for uid in queued if uid in self._keys}
        if everything:
            listed = list(api.store.list(self.owners).items)
            with self._lock:
                for stored in listed:
                    self._keys.setdefault(stored.obj["metadata"]["uid"], stored.key)
            return listed
        due = []
        for uid, key in sorted(keys.items(), key=lambda item: item[1]):
            found = api.store.try_get(self.owners, *key)
            if found is not None and found.obj["metadata"]["uid"] == uid:
                due.append(found)
        return due

    def sync_changed(self, api: ClusterApi, sync: Callable[[JsonObject, list[JsonObject]], None]) -> None:
        """One pass: ``sync(owner, its children)`` for each live owner whose inputs moved since it
        was last synced. A sync that fails leaves it and the owners after it queued (the manager
        retries the controller)."""
        due = self._due(api)
        try:
            for position, stored in enumerate(due):
                if stored.obj["metadata"].get("deletionTimestamp"):
                    continue
                revisions = owned_revisions(api, self.children, stored.obj)
                if self.unchanged(stored, revisions):
                    continue
                try:
                    sync(stored.obj, [child.obj for child in revisions])
                except Exception:
                    self.forget(stored)
                    with self._lock:
                        self._queued.update(s.obj["metadata"]["uid"] for s in due[position:])
                    raise
        finally:
            self.done()


def pod_from_template(
    owner: JsonObject, template: JsonObject, extra_labels: dict[str, str] | None = None
) -> JsonObject:
    meta = owner["metadata"]
    template_meta = template.get("metadata") or {}
    return {
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "labels": {**(template_meta.get("labels") or {}), **(extra_labels or {})},
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": json.loads(json.dumps(template.get("spec") or {})),
    }


def _is_active(pod: JsonObject) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def _deletion_rank(pod: JsonObject) -> tuple[int, int, float]:
    """Lower ranks are deleted first: unscheduled, pending, not ready, then newest."""
    unscheduled = 0 if not (pod.get("spec") or {}).get("nodeName") else 1
    pending = 0 if (pod.get("status") or {}).get("phase") == "Pending" else 1
    ready = 1 if is_pod_ready(pod) else 0
    return (unscheduled, pending + ready, -parse_timestamp(pod["metadata"]["creationTimestamp"]))


def update_status_if_changed(
    api: ClusterApi, resource: ResourceType, obj: JsonObject, status: JsonObject
) -> None:
    current = obj.get("status") or {}
    if all(current.get(k) == v for k, v in status.items()):
        return
    meta = obj["metadata"]
    with contextlib.suppress(ApiError):  # deleted meanwhile
        api.merge_status(resource, meta["namespace"], meta["name"], status)


class ReplicaSetController:
    name = "replicaset-controller"
    watches = frozenset({REPLICASETS.key, PODS.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api
        self.synced = SyncedInputs(api.store, REPLICASETS, PODS)

    def reconcile(self, now: float) -> float | None:
        self.synced.sync_changed(self.api, self._sync)
        return None

    def _sync(self, replicaset: JsonObject, children: list[JsonObject]) -> None:
        pods = [p for p in children if _is_active(p)]
        desired = int(replicaset["spec"].get("replicas", 1))
        template = replicaset["spec"].get("template") or {}
        namespace = replicaset["metadata"]["namespace"]
        for _ in range(desired - len(pods)):
            created = self.api.create(PODS, namespace, pod_from_template(replicaset, template))
            pods.append(created.obj)
            self._event(replicaset, "SuccessfulCreate", f"Created pod: {created.obj['metadata']['name']}")
        if len(pods) > desired:
            for pod in sorted(pods, key=_deletion_rank)[: len(pods) - desired]:
                with contextlib.suppress(ApiError):
                    self.api.delete(PODS, namespace, pod["metadata"]["name"])
                    self._event(replicaset, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
                pods.remove(pod)
        ready = sum(1 for p in pods if is_pod_ready(p))
        update_status_if_changed(
            self.api,
            REPLICASETS,
            replicaset,
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": replicaset["metadata"].get("generation", 1),
            },
        )

    def _event(self, replicaset: JsonObject, reason: str, message: str) -> None:
        self.api.record_event(replicaset, reason, message, component=self.name)


def template_hash(template: JsonObject) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


class DeploymentController:
    name = "deployment-controller"
    watches = frozenset({DEPLOYMENTS.key, REPLICASETS.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api
        self.synced = SyncedInputs(api.store, DEPLOYMENTS, REPLICASETS)
        # uid -> (generation, pod-template-hash): the template is part of the spec, so it moves
        # only with the generation, and hashing it on every status change cost the member.
        self._hashes: dict[str, tuple[int, str]] = {}

    def reconcile(self, now: float) -> float | None:
        self.synced.sync_changed(self.api, self._sync)
        return None

    def _sync(self, deployment: JsonObject, replicasets: list[JsonObject]) -> None:
        spec = deployment["spec"]
        namespace = deployment["metadata"]["namespace"]
        desired = int(spec.get("replicas", 1))
        pod_hash = self._pod_hash(deployment)
        current = next(
            (
                r
                for r in replicasets
                if (r["metadata"].get("labels") or {}).get(POD_TEMPLATE_HASH) == pod_hash
            ),
            None,
        )
        old = [r for r in replicasets if r is not current]
        if current is None:
            revision = 1 + max(
                (
                    int((r["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, 0))
                    for r in replicasets
                ),
                default=0,
            )
            current = self.api.create(
                REPLICASETS, namespace, self._new_replicaset(deployment, pod_hash, revision)
            ).obj
            if desired:
                name = current["metadata"]["name"]
                self._scaled(deployment, f"Scaled up replica set {name} from 0 to {desired}")
        elif int(current["spec"].get("replicas", 0)) != desired:
            current = self._scale(deployment, current, desired)
        current_status = current.get("status") or {}
        if desired == 0 or int(current_status.get("readyReplicas", 0)) >= desired:
            old = [self._scale(deployment, r, 0) if int(r["spec"].get("replicas", 0)) else r for r in old]
        everything = [current, *old]
        available = sum(int((r.get("status") or {}).get("availableReplicas", 0)) for r in everything)
        ready = sum(int((r.get("status") or {}).get("readyReplicas", 0)) for r in everything)
        total = sum(int((r.get("status") or {}).get("replicas", 0)) for r in everything)
        updated = int(current_status.get("replicas", 0))
        complete = updated == desired == available and total == desired
        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(0, desired - available),
            "conditions": [
                _condition(
                    "Available",
                    ok=available >= desired,
                    reason_ok="MinimumReplicasAvailable",
                    reason_bad="MinimumReplicasUnavailable",
                ),
                _condition(
                    "Progressing",
                    ok=True,
                    reason_ok="NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                    reason_bad="",
                ),
            ],
        }
        update_status_if_changed(self.api, DEPLOYMENTS, deployment, status)

    def _pod_hash(self, deployment: JsonObject) -> str:
        meta = deployment["metadata"]
        generation = int(meta.get("generation", 1))
        known = self._hashes.get(meta["uid"])
        if known is not None and known[0] == generation:
            return known[1]
        if len(self._hashes) >= HASHES_KEPT:
            self._hashes.clear()
        pod_hash = template_hash(deployment["spec"].get("template") or {})
        self._hashes[meta["uid"]] = (generation, pod_hash)
        return pod_hash

    def _new_replicaset(self, deployment: JsonObject, pod_hash: str, revision: int) -> JsonObject:
        spec = deployment["spec"]
        template = json.loads(json.dumps(spec.get("template") or {}))
        template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = pod_hash
        selector = json.loads(json.dumps(spec.get("selector") or {}))
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pod_hash
        return {
            "metadata": {
                "name": f"{deployment['metadata']['name']}-{pod_hash}",
                "namespace": deployment["metadata"]["namespace"],
                "labels": {**(template["metadata"]["labels"])},
                "annotations": {REVISION_ANNOTATION: str(revision)},
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {"replicas": int(spec.get("replicas", 1)), "selector": selector, "template": template},
        }

    def _scale(self, deployment: JsonObject, replicaset: JsonObject, replicas: int) -> JsonObject:
        """The ReplicaSet scaled, with the Event kube-controller-manager records on the Deployment."""
        meta = replicaset["metadata"]
        before = int(replicaset["spec"].get("replicas", 0))
        try:
            scaled = self.api.update(
                REPLICASETS, meta["namespace"], meta["name"], lambda c: c["spec"].update(replicas=replicas)
            ).obj
        except ApiError:
            return replicaset
        direction = "up" if replicas > before else "down"
        self._scaled(deployment, f"Scaled {direction} replica set {meta['name']} from {before} to {replicas}")
        return scaled

    def _scaled(self, deployment: JsonObject, message: str) -> None:
        self.api.record_event(deployment, "ScalingReplicaSet", message, component=self.name)


def _condition(condition_type: str, *, ok: bool, reason_ok: str, reason_bad: str) -> JsonObject:
    return {
        "type": condition_type,
        "status": "True" if ok else "False",
        "reason": reason_ok if ok else reason_bad,
    }
