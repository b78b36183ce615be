"""The Kubernetes API verbs with the server's semantics, over the object store.

`ClusterApi` is what both the HTTP layer and the in-process controllers call, so an object written
by a controller goes through the same defaulting, validation, status-subresource rules,
generation bumps, finalizers and cascading deletion as one written with kubectl.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from simulator import apply, kinds, listing, subresources, update_rules
from simulator.api_support import (
    DeleteOptions,
    PageResult,
    patch_resource_version,
    spec_part,
)
from simulator.clock import Clock, format_timestamp
from simulator.errors import (
    ApiError,
    bad_request,
    conflict,
    not_found,
    unsupported_media_type,
)
from simulator.events import EventCorrelator
from simulator.graceful import plan_pod_deletion
from simulator.listing import ListOptions
from simulator.patches import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)
from simulator.resources import (
    NAMESPACES,
    NODES,
    PODS,
    ResourceType,
)
from simulator.selectors import EVERYTHING, NO_FIELDS, FieldSelector, Selector
from simulator.service_ips import ClusterIps
from simulator.store import JsonObject, ObjectStore, StoredObject
from simulator.store_table import OWNER_INDEX

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Resources whose status may be set on create (kubelets create nodes with their status).
_STATUS_SETTABLE_ON_CREATE = (NODES.key,)


class ClusterApi:
    """Kubernetes verbs for one simulated cluster."""

    def __init__(self, store: ObjectStore, clock: Clock, *, record_events: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.record_events = record_events
        self.event_correlator = EventCorrelator()
        # Mutating admission steps run on every create after defaulting (EKS's Fargate webhook is
        # one: `simulator.controllers.fargate.fargate_admission`).
        self.mutators: list[Callable[[ResourceType, JsonObject], None]] = []
        # Validating admission, after the kind's own checks, on every create and update (new, old):
        # the apiextensions server's checks of CRDs and of custom objects (`simulator.crds`).
        self.validators: list[Callable[[ResourceType, JsonObject, JsonObject | None], None]] = []
        self.cluster_ips = ClusterIps(self.store)
        # What was copied into each container (``kubectl cp``), by (pod uid, container name): a
        # container's filesystem lasts as long as the container.
        self.container_files: dict[tuple[str, str], dict[str, str | bytes]] = {}
        with store.lock:
            for name in INITIAL_NAMESPACES:
                if store.try_get(NAMESPACES, "", name) is None:
                    self.create(NAMESPACES, "", {"metadata": {"name": name}})

    # --- reads -------------------------------------------------------------------------------

    def get(self, resource: ResourceType, namespace: str, name: str) -> StoredObject:
        return self.store.get(resource, namespace, name)

    def list_page(
        self,
        resource: ResourceType,
        namespace: str | None = None,
        labels: Selector = EVERYTHING,
        fields: FieldSelector = NO_FIELDS,
        *,
        limit: int = 0,
        continue_token: str = "",
        options: ListOptions | None = None,
    ) -> PageResult:
        """A page of a list, read at the revision the options ask for (see `listing`)."""
        options = options or ListOptions(limit=limit, continue_token=continue_token)
        return listing.list_page(self.store, resource, namespace, labels, fields, options)

    # --- create ------------------------------------------------------------------------------

    def _check_namespace(self, resource: ResourceType, namespace: str) -> None:
        if not resource.namespaced:
            return
        ns = self.store.try_get(NAMESPACES, "", namespace)
        if ns is None:
            raise not_found("namespaces", namespace)
        if ns.obj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def create(
        self,
        resource: ResourceType,
        namespace: str,
        body: JsonObject,
        *,
        keep_status: bool = False,
        dry_run: bool = False,
    ) -> StoredObject:
        """Create `body` (which becomes the store's); `keep_status` lets in-process callers seed a
        pod that is already Running, as a replayed trace or the benchmark need."""
        obj = dict(body)
        meta = dict(obj.get("metadata") or {})
        obj["metadata"] = meta
        self._check_kind(resource, obj)
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for server_field in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ):
            meta.pop(server_field, None)
        with self.store.lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self.store.generate_name(meta["generateName"])
            kinds.validate_name(resource, meta.get("name", ""))
            self._check_namespace(resource, namespace)
            meta["uid"] = self.store.new_uid()
            status = obj.get("status")
            kinds.default_on_create(resource, obj, allocate_cluster_ip=self.cluster_ips.allocate)
            if keep_status or resource.key in _STATUS_SETTABLE_ON_CREATE:
                if status is not None:
                    obj["status"] = status
            elif resource.has_status and not resource.custom and "status" not in obj:
                obj["status"] = {}
            for mutate in self.mutators:
                mutate(resource, obj)
            kinds.validate(resource, obj, None)
            for check in self.validators:
                check(resource, obj, None)
            if dry_run:
                return StoredObject(obj, self.store.rv)
            return self.store.create(resource, obj)

    @staticmethod
    def _check_kind(resource: ResourceType, obj: JsonObject) -> None:
        kind = obj.get("kind")
        if kind and kind != resource.kind:
            raise bad_request(
                f"the kind of the provided object ({kind}) does not match the resource {resource.plural}"
            )

    # --- update ------------------------------------------------------------------------------

    def commit_update(
        self,
        resource: ResourceType,
        current: StoredObject,
        new: JsonObject,
        *,
        subresource: str | None,
        expected_rv: str | None,
        dry_run: bool = False,
        field_manager: str = "",
    ) -> StoredObject:
        """Apply the update rules and store `new` as the next revision of `current` (a PUT or
        non-apply PATCH names its `field_manager`, recorded in managedFields)."""
        old = current.obj
        old_meta = old["metadata"]
        if subresource == "status":
            new = update_rules.for_status_write(resource, old, new)
        elif resource.has_status:
            new["status"] = old.get("status", {})
        meta = dict(new.get("metadata") or {})
        new["metadata"] = meta
        if meta.get("name", old_meta["name"]) != old_meta["name"]:
            raise bad_request("the name of the object does not match the name on the URL")
        for key in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]  # unset in a request: kept
        meta["generation"] = old_meta.get("generation", 1)
        if subresource is None and spec_part(new) != spec_part(old):
            meta["generation"] += 1
        update_rules.check_no_new_finalizers(resource, old, new)
        kinds.validate(resource, new, old)
        for check in self.validators:
            check(resource, new, old)
        if expected_rv and expected_rv != str(current.rv):
            raise conflict(resource.plural, old_meta["name"], resource.group)
        new["kind"], new["apiVersion"] = resource.kind, resource.api_version
        if field_manager and subresource is None:
            apply.track_update(old, new, field_manager, resource.api_version, self.clock.now())
        if dry_run or update_rules.unchanged(old, new):
            return StoredObject(new, current.rv) if dry_run else current
        if update_rules.finalized_now(old, new):
            return self._delete_now(resource, current)
        return self.store.replace(resource, new, expected_rv=expected_rv)

    def replace(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: JsonObject,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str = "",
    ) -> StoredObject:
        self._check_kind(resource, body)
        with self.store.lock:
            current = self.store.get(resource, namespace, name)
            new = dict(body)
            expected_rv = (new.get("metadata") or {}).get("resourceVersion")
            if resource.key == "namespaces" and subresource == "finalize":
                subresource = None
            return self.commit_update(
                resource,
                current,
                new,
                subresource=subresource,
                expected_rv=expected_rv,
                dry_run=dry_run,
                field_manager=field_manager,
            )

    def update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        mutate: Callable[[JsonObject], JsonObject | None],
        *,
        subresource: str | None = None,
    ) -> StoredObject:
        """Read-modify-write for in-process callers: `mutate` gets a private copy and may edit it
        in place (returning None) or return a replacement. Atomic under the store lock."""
        with self.store.lock:
            current = self.store.get(resource, namespace, name)
            copy = current.copy()
            result = mutate(copy)
            new = copy if result is None else result
            return self.commit_update(resource, current, new, subresource=subresource, expected_rv=None)

    def merge_status(
        self, resource: ResourceType, namespace: str, name: str, fields: JsonObject
    ) -> StoredObject:
        """A status-subresource write of ``fields`` over the stored status, for in-process
        controllers. A status write keeps the stored spec and metadata
        (``update_rules.for_status_write``), so unlike ``update`` no private copy of the whole
        object is made: revisions share what they do not change, as they already do there."""
        with self.store.lock:
            current = self.store.get(resource, namespace, name)
            new = {**current.obj, "status": {**(current.obj.get("status") or {}), **fields}}
            return self.commit_update(resource, current, new, subresource="status", expected_rv=None)

    def patch(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        *,
        subresource: str | None = None,
        field_manager: str = "",
        force: bool = False,
        dry_run: bool = False,
    ) -> StoredObject:
        if content_type == APPLY_PATCH:
            return apply.apply(
                self,
                resource,
                namespace,
                name,
                body,
                subresource=subresource,
                field_manager=field_manager,
                force=force,
                dry_run=dry_run,
            )
        if resource.custom and content_type == STRATEGIC_MERGE_PATCH:
            # A custom resource has no Go type to carry merge keys (apiextensions-apiserver).
            raise unsupported_media_type(
                content_type,
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            )
        try:
            document = json.loads(body or b"null")
        except ValueError as error:
            raise bad_request(f"error decoding patch: {error}") from error
        with self.store.lock:
            current = self.store.get(resource, namespace, name)
            patched = self.patched(current.copy(), document, content_type)
            if not isinstance(patched, dict):
                raise bad_request("the patch did not produce an object")
            expected_rv = patch_resource_version(document, content_type)
            return self.commit_update(
                resource,
                current,
                patched,
                subresource=subresource,
                expected_rv=expected_rv,
                dry_run=dry_run,
                field_manager=field_manager,
            )

    @staticmethod
    def patched(target: JsonObject, document: Any, content_type: str) -> Any:
        if content_type == MERGE_PATCH:
            return json_merge_patch(target, document)
        if content_type == STRATEGIC_MERGE_PATCH:
            return strategic_merge_patch(target, document)
        if content_type == JSON_PATCH:
            return json_patch(target, document)
        raise unsupported_media_type(content_type)

    # --- delete ------------------------------------------------------------------------------

    def delete(
        self, resource: ResourceType, namespace: str, name: str, options: DeleteOptions | None = None
    ) -> StoredObject:
        options = options or DeleteOptions()
        with self.store.lock:
            current = self.store.get(resource, namespace, name)
            meta = current.obj["metadata"]
            if options.precondition_uid and options.precondition_uid != meta["uid"]:
                raise conflict(
                    resource.plural,
                    name,
                    resource.group,
                    f"Precondition failed: UID in precondition: {options.precondition_uid}, UID in object meta: {meta['uid']}",
                )
            if (
                options.precondition_resource_version
                and options.precondition_resource_version != meta["resourceVersion"]
            ):
                raise conflict(resource.plural, name, resource.group)
            if resource is NAMESPACES and name in PROTECTED_NAMESPACES:
                raise ApiError(
                    403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted'
                )
            if options.dry_run:
                return current
            if resource is PODS:
                plan = plan_pod_deletion(current.obj, options.grace_period_seconds, self.clock.now())
                if plan.period is None:
                    return current
                if plan.period > 0:
                    return self._mark_deleting(resource, current, plan.deadline, plan.period)
            if meta.get("finalizers") and resource is not NAMESPACES:
                if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") == 0:
                    return current
                return self._mark_deleting(resource, current, self.clock.now(), 0)
            if options.propagation_policy == "Orphan":
                self._orphan_dependents(meta["uid"])
            return self._delete_now(resource, current)

    def _mark_deleting(
        self, resource: ResourceType, current: StoredObject, deadline: float, period: int
    ) -> StoredObject:
        """Set deletionTimestamp (kept if already set and no grace period is left to shorten)
        and deletionGracePeriodSeconds; the first mark moves the generation on."""
        updated = current.copy()
        meta = updated["metadata"]
        if not meta.get("deletionTimestamp") or period or meta.get("deletionGracePeriodSeconds"):
            meta["deletionTimestamp"] = format_timestamp(deadline)
        if not current.obj["metadata"].get("deletionTimestamp"):
            meta["generation"] = meta.get("generation", 1) + 1
        meta["deletionGracePeriodSeconds"] = period
        return self.store.replace(resource, updated)

    def _delete_now(self, resource: ResourceType, current: StoredObject) -> StoredObject:
        meta = current.obj["metadata"]
        if resource is NAMESPACES:
            self._empty_namespace(meta["name"])
        self._delete_dependents(meta["uid"])
        return self.store.delete(resource, meta.get("namespace", ""), meta["name"])

    def _empty_namespace(self, namespace: str) -> None:
        for resource in [table.resource for table in self.store.tables.values()]:
            if not resource.namespaced:
                continue
            for stored in self.store.list(resource, namespace).items:
                if self.store.try_get(resource, namespace, stored.obj["metadata"]["name"]) is not None:
                    self._delete_now(resource, stored)

    def _dependents(self, owner_uid: str) -> list[tuple[ResourceType, StoredObject]]:
        found = []
        for table in self.store.tables.values():
            for key in sorted(table.indexes[OWNER_INDEX].get(owner_uid, ())):
                found.append((table.resource, table.objects[key]))
        return found

    def _delete_dependents(self, owner_uid: str) -> None:
        """Background/foreground propagation, done at once rather than by a GC controller."""
        for resource, stored in self._dependents(owner_uid):
            if self.store.try_get(resource, stored.key[0], stored.key[1]) is not None:
                self.delete(resource, stored.key[0], stored.key[1])

    def _orphan_dependents(self, owner_uid: str) -> None:
        for resource, stored in self._dependents(owner_uid):
            updated = stored.copy()
            refs = [r for r in updated["metadata"].get("ownerReferences") or () if r.get("uid") != owner_uid]
            updated["metadata"]["ownerReferences"] = refs
            self.store.replace(resource, updated)

    def delete_collection(
        self,
        resource: ResourceType,
        namespace: str | None,
        labels: Selector,
        fields: FieldSelector,
        options: DeleteOptions,
    ) -> list[StoredObject]:
        with self.store.lock:
            deleted = []
            for stored in self.store.list(resource, namespace, labels, fields).items:
                ns, name = stored.key
                if self.store.try_get(resource, ns, name) is not None:
                    deleted.append(self.delete(resource, ns, name, options))
            return deleted

    # --- subresources ------------------------------------------------------------------------

    # --- subresources (see subresources.py) ---------------------------------------------------

    def bind(
        self, namespace: str, pod_name: str, node_name: str, *, expected_uid: str | None = None
    ) -> StoredObject:
        return subresources.bind(self, namespace, pod_name, node_name, expected_uid=expected_uid)

    def evict(self, namespace: str, pod_name: str, options: DeleteOptions | None = None) -> None:
        subresources.evict(self, namespace, pod_name, options)

    def get_scale(self, resource: ResourceType, namespace: str, name: str) -> JsonObject:
        return subresources.get_scale(self, resource, namespace, name)

    def patch_scale(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        scale: JsonObject | None,
        patch: tuple[bytes, str] | None = None,
    ) -> JsonObject:
        return subresources.patch_scale(self, resource, namespace, name, scale, patch)

    def record_event(
        self,
        involved: JsonObject,
        reason: str,
        message: str,
        *,
        event_type: str = "Normal",
        component: str = "default-scheduler",
    ) -> None:
        subresources.record_event(self, involved, reason, message, event_type=event_type, component=component)
