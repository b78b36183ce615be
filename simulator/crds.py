"""CustomResourceDefinitions (``apiextensions.k8s.io/v1``), as kube-apiserver's apiextensions server
serves them (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
custom-resource-definitions/):

- **A CRD is checked on every write** (``check_definition``, 422 with causes as apiextensions'
  validation words them): its name is ``<plural>.<group>``; the group a domain with a dot; names
  with a plural and a kind; scope ``Namespaced`` or ``Cluster`` (immutable); at least one version,
  exactly one of them the storage version; each version with a structural schema
  (``openAPIV3Schema`` of type ``object`` at the root — "schemas are required" in v1). Defaults:
  ``singular`` (the kind, lowercase) and ``listKind`` (``<kind>List``).
- **Names are accepted, then the CRD is Established** (the naming and establishing controllers,
  ``CrdController``): a CRD whose plural, kind or short names another CRD of its group already
  uses gets ``NamesAccepted: False`` (reason ``AlreadyInUse``) and is not served; otherwise both
  conditions become True, ``status.acceptedNames`` and ``storedVersions`` are set, and each served
  version's resource appears in discovery (``/apis``, ``/apis/<group>/<version>``) and is stored,
  listed, watched and written (server-side apply included) like a built-in one. Until then, and
  for any kind no CRD defines, requests are 404 (``the server could not find the requested
  resource``), as from the real server. kubectl's ``wait --for condition=established`` is why the
  conditions exist: clients must not assume a CRD is served the moment it is created.
- **Custom objects are pruned and validated** against their version's schema (``crd_schema``);
  strategic merge patch is refused (415: it needs Go types a custom resource does not have; JSON
  merge patch, JSON patch and apply are accepted).
- **Deleting a CRD deletes its custom objects** and stops serving them (open watches end). The real
  server does it behind a ``customresourcecleanup.apiextensions.k8s.io`` finalizer with a
  ``Terminating`` condition; here the CRD goes at once and its objects just after (a documented
  simplification).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from simulator import crd_schema
from simulator.api import ClusterApi
from simulator.clock import format_timestamp
from simulator.errors import invalid
from simulator.resources import CUSTOM_RESOURCE_DEFINITIONS as CRDS
from simulator.resources import ResourceRegistry, ResourceType
from simulator.store import JsonObject

GROUP = "apiextensions.k8s.io"
KIND = "CustomResourceDefinition"
_DOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def default_definition(obj: JsonObject) -> None:
    names = (obj.get("spec") or {}).get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")


def _version_causes(versions: Any) -> list[tuple[str, str]]:
    if not isinstance(versions, list) or not versions:
        return [
            ("spec.versions", "Invalid value: null: must have exactly one version marked as storage version")
        ]
    causes: list[tuple[str, str]] = []
    for index, version in enumerate(versions):
        where = f"spec.versions[{index}]"
        if not isinstance(version, dict) or not _LABEL.match(str(version.get("name"))):
            causes.append((f"{where}.name", "Invalid value: a lowercase RFC 1123 label (v1, v1beta1)"))
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            causes.append((f"{where}.schema.openAPIV3Schema", "Required value: schemas are required"))
        elif schema.get("type") != "object":
            causes.append(
                (f"{where}.schema.openAPIV3Schema.type", "Required value: must be object at the root")
            )
    storage = sum(1 for v in versions if isinstance(v, dict) and v.get("storage") is True)
    if storage != 1:
        causes.append(
            ("spec.versions", "Invalid value: must have exactly one version marked as storage version")
        )
    return causes


def check_definition(obj: JsonObject, old: JsonObject | None) -> None:
    """422 for a CRD the API server would refuse."""
    name = str(obj["metadata"].get("name", ""))
    found_spec = obj.get("spec")
    spec: JsonObject = found_spec if isinstance(found_spec, dict) else {}
    found_names = spec.get("names")
    names: JsonObject = found_names if isinstance(found_names, dict) else {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    causes: list[tuple[str, str]] = []
    if not isinstance(group, str) or not _DOMAIN.match(group):
        causes.append(("spec.group", f"Invalid value: {group!r}: should be a domain with at least one dot"))
    if not isinstance(plural, str) or not _LABEL.match(plural):
        causes.append(("spec.names.plural", "Required value"))
    if not isinstance(kind, str) or not _KIND.match(kind):
        causes.append(("spec.names.kind", "Required value"))
    scope = spec.get("scope")
    if scope not in ("Cluster", "Namespaced"):
        causes.append(
            ("spec.scope", f'Unsupported value: "{scope}": supported values: "Cluster", "Namespaced"')
        )
    elif old is not None and scope != (old.get("spec") or {}).get("scope"):
        causes.append(("spec.scope", f'Invalid value: "{scope}": field is immutable'))
    causes += _version_causes(spec.get("versions"))
    if not causes and name != f"{plural}.{group}":
        causes.append(("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    if causes:
        raise invalid(KIND, name, GROUP, causes)


def _resources(obj: JsonObject) -> list[tuple[ResourceType, JsonObject]]:
    """The resource of each served version, with its schema."""
    spec = obj["spec"]
    names = spec["names"]
    found = []
    for version in spec["versions"]:
        if not version.get("served"):
            continue
        status = "status" in (version.get("subresources") or {})
        scale = "scale" in (version.get("subresources") or {})
        resource = ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec["scope"] == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            subresources=(("status",) if status else ()) + (("scale",) if scale else ()),
            has_status=status,
            categories=tuple(names.get("categories") or ()),
            custom=True,
        )
        found.append((resource, version["schema"]["openAPIV3Schema"]))
    return found


def _condition(kind: str, reason: str, message: str, *, status: bool) -> JsonObject:
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message}


class CrdController:
    """The naming, establishing and finalizing controllers of the apiextensions server: serve
    each accepted CRD's resources, stop serving (and delete the objects of) the others."""

    name = "apiextensions"
    watches = frozenset({CRDS.key})

    def __init__(self, api: ClusterApi, registry: ResourceRegistry) -> None:
        self.api, self.registry = api, registry
        self.schemas: dict[tuple[str, str, str], JsonObject] = {}
        self._lock = threading.Lock()
        api.validators.append(self.admit)

    # --- admission (every create and update, through ClusterApi) ---------------------------------
    def admit(self, resource: ResourceType, obj: JsonObject, old: JsonObject | None) -> None:
        if resource.key == CRDS.key:
            default_definition(obj)
            check_definition(obj, old)
            return
        if not resource.custom:
            return
        schema = self.schemas.get((resource.group, resource.version, resource.plural))
        if schema is None:
            return
        pruned = crd_schema.prune(obj, schema, root=True)
        obj.clear()
        obj.update(pruned)
        checked = {k: v for k, v in obj.items() if k != "status"} if resource.has_status else obj
        causes = crd_schema.validate(checked, schema)
        if causes:
            raise invalid(resource.kind, str(obj["metadata"].get("name", "")), resource.group, causes)

    # --- reconcile ---------------------------------------------------------------------------------
    def reconcile(self, now: float) -> float | None:
        with self._lock:
            definitions = sorted(self.api.store.list(CRDS).items, key=lambda s: s.rv)
            taken: dict[str, set[str]] = {}  # group -> plurals, kinds and short names in use
            wanted: dict[tuple[str, str, str], tuple[ResourceType, JsonObject]] = {}
            for stored in definitions:
                obj = stored.obj
                spec, names = obj["spec"], obj["spec"]["names"]
                used = {names["plural"], names["kind"], *(names.get("shortNames") or ())}
                clash = sorted(used & taken.setdefault(spec["group"], set()))
                if clash:
                    self._status(obj, accepted=False, clash=clash[0])
                    continue
                taken[spec["group"]] |= used
                mine = {(r.group, r.version, r.plural): (r, schema) for r, schema in _resources(obj)}
                self._serve(mine)  # served before it says Established
                wanted.update(mine)
                self._status(obj, accepted=True, clash="")
            self._unserve(wanted)
        return None

    def _serve(self, wanted: dict[tuple[str, str, str], tuple[ResourceType, JsonObject]]) -> None:
        for path, (resource, schema) in wanted.items():
            self.api.store.add_table(resource)
            self.schemas[path] = schema
            if self.registry.find(*path) != resource:
                self.registry.add(resource)

    def _unserve(self, wanted: dict[tuple[str, str, str], tuple[ResourceType, JsonObject]]) -> None:
        for resource in [r for r in self.registry.resources if r.custom]:
            path = (resource.group, resource.version, resource.plural)
            if path in wanted:
                continue
            self.registry.remove(resource)
            self.schemas.pop(path, None)
            if any(r.key == resource.key for r in self.registry.resources):
                continue  # another served version keeps the objects (one storage for all)
            for stored in list(self.api.store.list(resource).items):
                namespace, name = stored.key
                if self.api.store.try_get(resource, namespace, name) is not None:
                    self.api.delete(resource, namespace, name)
            self.api.store.drop_table(resource)

    def _status(self, obj: JsonObject, *, accepted: bool, clash: str) -> None:
        spec = obj["spec"]
        old = obj.get("status") or {}
        if accepted:
            conditions = [
                _condition("NamesAccepted", "NoConflicts", "no conflicts found", status=True),
                _condition(
                    "Established", "InitialNamesAccepted", "the initial names have been accepted", status=True
                ),
            ]
        else:
            conditions = [
                _condition("NamesAccepted", "AlreadyInUse", f'"{clash}" is already in use', status=False),
                _condition("Established", "NotAccepted", "not all names are accepted", status=False),
            ]
        storage = [v["name"] for v in spec["versions"] if v.get("storage")]
        status: JsonObject = {
            "acceptedNames": _accepted(spec["names"], clash),
            "conditions": conditions,
            "storedVersions": sorted({*(old.get("storedVersions") or ()), *storage}),
        }
        if _without_times(old) == _without_times(status):
            return
        stamp = self.api.clock.now()

        def write(current: JsonObject) -> None:
            previous = {c["type"]: c for c in (current.get("status") or {}).get("conditions") or ()}
            for condition in status["conditions"]:
                before = previous.get(condition["type"])
                kept = before.get("lastTransitionTime") if before is not None else None
                same = before is not None and before.get("status") == condition["status"]
                condition["lastTransitionTime"] = kept if same and kept else format_timestamp(stamp)
            current["status"] = status

        self.api.update(CRDS, "", obj["metadata"]["name"], write, subresource="status")


def _accepted(names: JsonObject, clash: str) -> JsonObject:
    """The names the naming controller accepts: all, or those not in use (the kind and list kind
    blank when the kind is taken, as its accepted names start empty)."""
    if not clash:
        return dict(names)
    accepted: JsonObject = {
        "plural": "" if names["plural"] == clash else names["plural"],
        "kind": "" if names["kind"] == clash else names["kind"],
    }
    if accepted["kind"]:
        accepted["listKind"] = names.get("listKind", "")
        accepted["singular"] = names.get("singular", "")
    short = [n for n in names.get("shortNames") or () if n != clash]
    if short:
        accepted["shortNames"] = short
    return accepted


def _without_times(status: JsonObject) -> JsonObject:
    conditions = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or ()
    ]
    return {**status, "conditions": conditions}
