"""What each verb does to a stored object: the services the endpoint's views call.

Every write runs in one transaction that stores the object under the organization's counter lock
(``store.lock``; a create takes it only for its own write, ``writes.created``), checks the object as the
Kubernetes API server would (``checks``: kind, apiVersion, name, namespace; here:
resourceVersion preconditions), records field ownership (``fields``), stores it, and hands
Deployments and Jobs to the federation (``federation``): an object the federation refuses is not
stored, and the refusal is a 422 with a cause per problem. ``dryRun=All`` does all of it and rolls
back. A PATCH answers a ``Written``, which says whether a server-side apply created the object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from django.db import transaction
from django.utils import timezone

from policies.kubeapi import catalog, checks, conversion, errors, federation, fields, patches, store, writes
from policies.kubeapi.resources import Resource, by_kind
from policies.kubeapi.selection import fields_match
from policies.models import KubeCounter, KubeObject

Json = dict[str, Any]
Context = writes.Context
_MAX_MANAGER = 128
# A watch with nothing to send writes one space this often: JSON decoders skip it, and writing it
# finds a client that went away, which ends the watch (its thread and database session with it).
KEEPALIVE_SECONDS = 5.0
# How long one watch lasts at most (the client watches again).
MAX_WATCH_SECONDS = 600
_P = ParamSpec("_P")
_R = TypeVar("_R")


class _DryRun(Exception):
    """Rolls a dry run's transaction back, carrying what the write would have answered."""

    def __init__(self, result: object) -> None:
        super().__init__("dry run")
        self.result = result


@dataclass(frozen=True)
class Written:
    """The object a write left, and whether the write created it (a server-side apply of an object
    that was not there): the API server answers 201 Created then, 200 otherwise."""

    obj: Json
    created: bool = False


def manager_name(requested: str | None, user_agent: str) -> str:
    """The field manager: as sent, else the client's name (as the API server derives it)."""
    name = (requested or user_agent.split("/")[0] or "unknown").strip()
    if len(name) > _MAX_MANAGER or not name.isprintable():
        raise errors.bad_request(f"fieldManager must be at most {_MAX_MANAGER} printable characters")
    return name


# --- reads -----------------------------------------------------------------------------------------


def get(ctx: Context, name: str) -> Json:
    kobj = store.load(ctx.organization, ctx.resource, ctx.namespace, name)
    if kobj is None:
        raise errors.not_found(ctx.resource.plural, ctx.resource.group, name)
    return store.render(kobj)


def listing(ctx: Context, *, labels: Any, field_filters: Any) -> tuple[list[Json], int]:
    version = store.current_version(ctx.organization)  # first: the objects read next are as new
    objects = store.scoped(ctx.organization, ctx.resource, ctx.namespace or None).order_by(
        "namespace", "name"
    )
    rendered = (store.render(kobj) for kobj in objects if labels(kobj.labels))
    items = [obj for obj in rendered if fields_match(field_filters, obj)]
    return items, version


# --- writes ----------------------------------------------------------------------------------------


def _initial_status(resource: Resource) -> Json:
    """A new object's status as the API server writes it: a Namespace is Active; an HPA's required
    counts are 0 until it scales (clients reject an HPA status without ``desiredReplicas``); a
    Service's and an Ingress's load balancer is empty until one is given."""
    if resource.kind == "Namespace":
        return {"phase": "Active"}
    if resource.kind in ("Service", "Ingress"):
        return {"loadBalancer": {}}
    if resource.kind == "HorizontalPodAutoscaler":
        return {"currentReplicas": 0, "desiredReplicas": 0}
    return {}


def _dry(function: Callable[Concatenate[Context, _P], _R]) -> Callable[Concatenate[Context, _P], _R]:
    """The write in one transaction; a dry run (``dryRun=All``) does all of it, then rolls it back
    and answers what the write would have."""

    @functools.wraps(function)
    def run(ctx: Context, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            with transaction.atomic():
                result = function(ctx, *args, **kwargs)
                if ctx.dry_run:
                    raise _DryRun(result)
                return result
        except _DryRun as dry:
            return cast(_R, dry.result)

    return run


def _precondition(ctx: Context, kobj: KubeObject, obj: Json) -> None:
    sent = (obj.get("metadata") or {}).get("resourceVersion")
    if sent not in (None, "") and str(sent) != str(kobj.resource_version):
        raise errors.conflict(
            ctx.resource.plural,
            ctx.resource.group,
            kobj.name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )


def _locked_existing(ctx: Context, name: str) -> tuple[KubeCounter, KubeObject]:
    counter = store.lock(ctx.organization)
    kobj = store.load(ctx.organization, ctx.resource, ctx.namespace, name, for_update=True)
    if kobj is None:
        raise errors.not_found(ctx.resource.plural, ctx.resource.group, name)
    return counter, kobj


def _require_namespace(ctx: Context) -> None:
    if ctx.resource.namespaced and not store.namespace_exists(ctx.organization, ctx.namespace):
        raise errors.not_found("namespaces", "", ctx.namespace)


@_dry
def create(ctx: Context, obj: Any) -> Json:
    obj = checks.checked(ctx.resource, ctx.namespace, obj, url_name=None)
    name = obj["metadata"]["name"]
    seen = _creatable(ctx, name)
    obj["metadata"]["managedFields"] = fields.record_update(
        None, obj, manager=ctx.manager, api_version=ctx.resource.group_version, now=timezone.now()
    )
    created = writes.created(ctx, obj, _main_status(ctx, obj, _initial_status(ctx.resource)), seen)
    if created is None:
        raise errors.already_exists(ctx.resource.plural, ctx.resource.group, name)
    return store.render(created)


def _creatable(ctx: Context, name: str) -> writes.Creation:
    """What ``writes.created`` needs to know first; 404 when the namespace does not exist, 409 when the
    name is taken."""
    seen = writes.creation_state(ctx.organization, ctx.resource, ctx.namespace, name)
    if not seen.namespace_exists:
        raise errors.not_found("namespaces", "", ctx.namespace)
    if seen.exists:
        raise errors.already_exists(ctx.resource.plural, ctx.resource.group, name)
    return seen


@_dry
def replace(ctx: Context, name: str, obj: Any, *, subresource: str = "") -> Json:
    obj = checks.checked(ctx.resource, ctx.namespace, obj, url_name=name)
    counter, kobj = _locked_existing(ctx, name)
    _precondition(ctx, kobj, obj)
    return store.render(_replace(ctx, counter, kobj, obj, subresource))


def _replace(
    ctx: Context,
    counter: KubeCounter,
    kobj: KubeObject,
    obj: Json,
    subresource: str,
    *,
    applied: bool = False,
) -> KubeObject:
    """Write ``obj`` over ``kobj``, recording an update's managedFields. An apply's (``applied``)
    come from ``fields.apply``: recorded as an Update too, they left the Apply entry, and the
    manager's next apply conflicted with itself."""
    current = store.render(kobj)
    if subresource == "status":
        sent = obj.get("status")
        status = sent if isinstance(sent, dict) else {}
        if status != kobj.status:  # an unchanged status is not written again either
            store.touch_status(ctx.organization, counter, kobj, status)
        return kobj
    if not applied:
        obj.setdefault("metadata", {})["managedFields"] = fields.record_update(
            current, obj, manager=ctx.manager, api_version=ctx.resource.group_version, now=timezone.now()
        )
    if kobj.deleted_at is not None:
        obj["metadata"]["finalizers"] = current["metadata"].get("finalizers", [])
    return writes.written(ctx, counter, kobj, obj, _main_status(ctx, obj, kobj.status))


def _main_status(ctx: Context, obj: Json, kept: Json) -> Json:
    """A custom resource whose CRD has no status subresource keeps its status in the main object:
    the API server stores the status a write sends (and drops it when the write has none). Every
    other kind keeps its status apart, written through ``/status`` only."""
    if ctx.resource.status or by_kind(ctx.resource.group, ctx.resource.kind) is not None:
        return kept
    sent = obj.get("status")
    return sent if isinstance(sent, dict) else {}


PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "unsupported",
}


@_dry
def patch(ctx: Context, name: str, kind: str, body: Any, *, force: bool, subresource: str = "") -> Written:
    """A PATCH of ``kind`` (a ``PATCH_TYPES`` value). Only a server-side apply creates an object
    that is not there; every other kind patches an existing one (404 otherwise)."""
    if kind == "apply":
        return _apply(ctx, name, body, force=force, subresource=subresource)
    if force:
        raise errors.bad_request(
            "force may only be used with server-side apply (application/apply-patch+yaml)"
        )
    counter, kobj = _locked_existing(ctx, name)
    current = conversion.out(ctx.asked, ctx.resource, store.render(kobj))  # as the client read it
    try:
        if kind == "json":
            patched = patches.json_patch(current, body)
        elif kind == "merge":
            patched = patches.merge_patch(current, body)
        else:
            patched = patches.strategic_merge_patch(current, body)
    except patches.PatchError as error:
        raise errors.KubeError(422, "Invalid", f"the patch could not be applied: {error}")
    if not isinstance(patched, dict):
        raise errors.bad_request("the patch must leave an object")
    patched = checks.checked(ctx.resource, ctx.namespace, conversion.into(ctx.asked, patched), url_name=name)
    _precondition(ctx, kobj, patched)
    return Written(store.render(_replace(ctx, counter, kobj, patched, subresource)))


def _apply(ctx: Context, name: str, config: Any, *, force: bool, subresource: str) -> Written:
    config = checks.checked(ctx.resource, ctx.namespace, config, url_name=name)
    unlocked: _Unlocked | None = None
    if not subresource:
        live = store.load(ctx.organization, ctx.resource, ctx.namespace, name)
        if live is not None:
            found = _applied_unlocked(ctx, live, config, force=force)
            if isinstance(found, Written):
                return found
            unlocked = found
        else:
            seen = writes.creation_state(ctx.organization, ctx.resource, ctx.namespace, name)
            if not seen.exists:
                if not seen.namespace_exists:
                    raise errors.not_found("namespaces", "", ctx.namespace)
                try:
                    with transaction.atomic():  # what a create that lost its race wrote goes
                        return _apply_created(ctx, name, config, force=force, seen=seen)
                except _NameTaken:
                    pass
            # Another request created it meanwhile: this apply goes onto it, as onto any object.
    counter = store.lock(ctx.organization)
    kobj = store.load(ctx.organization, ctx.resource, ctx.namespace, name, for_update=True)
    if kobj is None and subresource:
        raise errors.not_found(ctx.resource.plural, ctx.resource.group, name)
    if kobj is None:
        _require_namespace(ctx)
    current = store.render(kobj) if kobj is not None else None
    if subresource == "status":
        config = {
            "apiVersion": config["apiVersion"],
            "kind": config["kind"],
            "metadata": {"name": name},
            "status": config.get("status") or {},
        }
    try:
        if unlocked is not None and kobj is not None and kobj.resource_version == unlocked.version:
            result = unlocked.result  # computed from this very object, before the lock
        else:
            result = _applied(ctx, name, current, config, force=force)
    except fields.ApplyConflict as conflict:
        raise _conflict(ctx, name, conflict)
    if kobj is None:
        status = _main_status(ctx, result, _initial_status(ctx.resource))
        return Written(store.render(writes.written(ctx, counter, None, result, status)), created=True)
    if subresource == "status":
        result["status"] = (config.get("status") or {}) | {}
    return Written(store.render(_replace(ctx, counter, kobj, result, subresource, applied=True)))


def _applied(ctx: Context, name: str, live: Json | None, config: Json, *, force: bool) -> Json:
    """``config`` applied by the request's manager to ``live`` (None: not there); raises
    ``fields.ApplyConflict``."""
    result = fields.apply(
        live,
        config,
        manager=ctx.manager,
        force=force,
        api_version=ctx.resource.group_version,
        now=timezone.now(),
    )
    result.setdefault("metadata", {}).update(name=name)
    return result


@dataclass(frozen=True)
class _Unlocked:
    """An apply computed from the object as read without the counter (its resourceVersion)."""

    version: int
    result: Json


def _applied_unlocked(
    ctx: Context, live: KubeObject, config: Json, *, force: bool
) -> Written | _Unlocked | None:
    """Applying ``config`` to the object as read, without the counter: the object as it is when
    that would change nothing; else the result, which the write under the counter takes when the
    object has not moved since (an apply is computed once); None for a conflict or an object being
    deleted (the apply goes on under the counter, which says so). GitOps tools apply every object
    they manage every few minutes, and most of those applies change nothing: they answer from one
    read, holding no lock."""
    if live.deleted_at is not None:
        return None
    try:
        result = _applied(ctx, live.name, store.render(live), config, force=force)
    except fields.ApplyConflict:
        return None
    obj, status = writes.normalized(ctx, result, _main_status(ctx, result, live.status), live)
    if writes.unchanged(live, obj, status):
        return Written(store.render(live))
    return _Unlocked(live.resource_version, result)


class _NameTaken(Exception):
    """Another request created the object an apply was creating."""


def _apply_created(ctx: Context, name: str, config: Json, *, force: bool, seen: writes.Creation) -> Written:
    """A server-side apply of an object that was not there (``seen``): created as a POST is
    (``writes.created``); _NameTaken when another request took the name meanwhile."""
    result = _applied(ctx, name, None, config, force=force)
    status = _main_status(ctx, result, _initial_status(ctx.resource))
    created = writes.created(ctx, result, status, seen)
    if created is None:
        raise _NameTaken(name)
    return Written(store.render(created), created=True)


def _conflict(ctx: Context, name: str, conflict: fields.ApplyConflict) -> errors.KubeError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{owner}"',
            "field": "." + ".".join(path),
        }
        for path, owner in conflict.conflicts
    ]
    count = len(causes)
    listed = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    return errors.KubeError(
        409,
        "Conflict",
        f"Apply failed with {count} conflict{'s' if count != 1 else ''}: {listed}",
        {"name": name, "group": ctx.resource.group, "kind": ctx.resource.plural, "causes": causes},
    )


@_dry
def delete(ctx: Context, name: str) -> Json:
    counter, kobj = _locked_existing(ctx, name)
    if kobj.deleted_at is not None:
        return store.render(kobj)
    if ctx.resource.kind == "Namespace":
        return _delete_namespace(ctx, counter, kobj)
    if ctx.resource.workload and federation.workload_delete(ctx.organization, kobj=kobj, actor=ctx.actor):
        # The loop removes it from every member; the object goes once the workload is gone.
        store.mark_deleting(ctx.organization, counter, kobj)
        return store.render(kobj)
    if kobj.kind == catalog.CRD_KIND:  # its custom resources go with it
        for defined in catalog.defined(kobj.body.get("spec")):
            for custom in store.scoped(ctx.organization, defined, None).select_for_update():
                store.remove(ctx.organization, counter, custom)
    last = store.remove(ctx.organization, counter, kobj)
    if kobj.kind in federation.COMPANION_KINDS:
        federation.companions_changed(ctx.organization, namespace=ctx.namespace, actor=ctx.actor)
    return last


def _delete_namespace(ctx: Context, counter: KubeCounter, kobj: KubeObject) -> Json:
    if kobj.name in store.DEFAULT_NAMESPACES:
        raise errors.forbidden(f'namespaces "{kobj.name}" is forbidden: this namespace may not be deleted')
    waiting = False
    inside = list(
        KubeObject.objects.filter(organization=ctx.organization, namespace=kobj.name).select_for_update()
    )
    # The namespace's objects stay, deleting, until the next pass removes them (``status_back``; a
    # pass is asked for), as a cluster's namespace controller removes a terminating namespace's
    # content after the delete answered: ``kubectl delete -f`` of a directory whose namespace comes
    # first then deletes each object, not "NotFound" for every one after it. Events go with it.
    for member in inside:
        if member.workload_id is not None and member.deleted_at is None:
            federation.workload_delete(ctx.organization, kobj=member, actor=ctx.actor)
            store.mark_deleting(ctx.organization, counter, member)
        elif member.deleted_at is None and (member.kind != "Event" or member.group):
            store.mark_deleting(ctx.organization, counter, member)
        elif member.deleted_at is None:
            store.remove(ctx.organization, counter, member)
            continue
        waiting = True
    if waiting:
        federation.pass_wanted(ctx.organization)
        store.mark_deleting(ctx.organization, counter, kobj)
        store.touch_status(ctx.organization, counter, kobj, {"phase": "Terminating"})
        return store.render(kobj)
    return store.remove(ctx.organization, counter, kobj)
