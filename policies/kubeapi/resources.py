"""The kinds the endpoint serves, and the discovery and OpenAPI documents that describe them.

Any namespaced object of these kinds can be stored. Deployments, StatefulSets, DaemonSets, Jobs and
CronJobs become federated workloads (``federation``); ConfigMaps, Secrets, Services, ServiceAccounts,
PVCs, HPAs, Ingresses, Roles and RoleBindings go with the workloads that use them; the other kinds
are kept and served. ``FederationPolicy`` is the organization's federation policies
(``policies``). Discovery is the legacy kind (``/api``, ``/apis``, one ``APIResourceList`` per
group version), which kubectl, client-go and the Python client all read.

The OpenAPI v3 documents declare, for each kind, the operations kubectl looks for: a PATCH taking
``fieldValidation`` tells kubectl the server validates (so it sends ``fieldValidation=Strict`` and
validates nothing itself) and the ``x-kubernetes-group-version-kind`` of each path maps kinds to
paths. The kinds' schemas (``schemas``) describe their fields for ``kubectl explain``; the server
checks what it federates itself.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from policies.kubeapi import protowire, schemas

Json = dict[str, Any]
SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-nodeless",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2026-12-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}
POLICY_GROUP = "policy.nodeless.io"
_ALL = {
    "Pod",
    "ReplicationController",
    "Service",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
READ_VERBS = ["get", "list", "watch"]


# A pod's subresources relayed to the member that runs it as a held connection (``member_streams``).
RELAYED_POD_SUBRESOURCES = {"exec": "kubectl exec"}


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    status: bool = False  # has a status subresource
    workload: bool = False  # federated as a workload
    read_only: bool = False  # written by the product only (events): get, list and watch
    # Not stored: computed from other objects when read (a Deployment's ReplicaSet,
    # ``replica_sets``) or read from the members (pods, ``member_objects``): get and list (and a pod's
    # delete), so watchers (Argo CD's cache) leave them alone.
    derived: bool = False

    @property
    def verbs(self) -> list[str]:
        """What discovery says the resource serves."""
        if self.derived:
            return ["delete", "get", "list"] if self.kind == "Pod" else ["get", "list"]
        return READ_VERBS if self.read_only else VERBS

    @property
    def subresources(self) -> frozenset[str]:
        """status, scale (``kubectl scale``) and a pod's log, where served."""
        served = {"status"} if self.status else set()
        if self.scalable:
            served.add("scale")
        if self.kind == "Pod" and not self.group:
            served.add("log")
        return frozenset(served)

    @property
    def categories(self) -> list[str]:
        """``kubectl get all`` lists the kinds in the "all" category, as the API server groups them."""
        if self.kind in _ALL:
            return ["all"]
        return ["nodeless"] if self.group == POLICY_GROUP else []

    @property
    def scalable(self) -> bool:
        """Has a scale subresource (``kubectl scale``)."""
        return self.kind == "Deployment"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def path_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",), status=True),
    Resource("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    Resource("", "v1", "Secret", "secrets"),
    Resource("", "v1", "Service", "services", short_names=("svc",), status=True),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",), status=True),
    # The members' pods of the organization's workloads, and the members' nodes, read from them when
    # asked (``member_objects``).
    Resource("", "v1", "Pod", "pods", short_names=("po",), derived=True),
    Resource("", "v1", "Node", "nodes", namespaced=False, short_names=("no",), read_only=True, derived=True),
    # Kept and served, not placed (the members run their own): kube-apiserver always serves them, and
    # ``kubectl apply --prune`` maps every kind of its default list (these among them) before it prunes.
    Resource("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
    Resource("", "v1", "ReplicationController", "replicationcontrollers", short_names=("rc",), status=True),
    Resource(
        "", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=("pv",), status=True
    ),
    Resource("apps", "v1", "Deployment", "deployments", short_names=("deploy",), status=True, workload=True),
    Resource("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",), status=True, workload=True),
    Resource("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), status=True, workload=True),
    Resource("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), read_only=True, derived=True),
    # The members' metrics-server's, of the organization's pods (``member_objects``): ``kubectl top pod``.
    Resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", read_only=True, derived=True),
    Resource(
        "metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", namespaced=False, read_only=True, derived=True
    ),
    Resource("batch", "v1", "Job", "jobs", status=True, workload=True),
    Resource("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), status=True, workload=True),
    Resource(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short_names=("hpa",),
        status=True,
    ),
    # Stored as v2, served at v1 too (``conversion``): kubectl autoscale and charts written for v1.
    Resource(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short_names=("hpa",),
        status=True,
    ),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",), status=True),
    # Written by the federation loop (``propagation``), read by ``kubectl describe`` and GitOps tools.
    Resource("", "v1", "Event", "events", short_names=("ev",), read_only=True),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    Resource(
        POLICY_GROUP,
        "v1alpha1",
        "FederationPolicy",
        "federationpolicies",
        namespaced=False,
        short_names=("fp",),
    ),
    Resource(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short_names=("crd", "crds"),
        status=True,
    ),
)
BUILTIN_GROUPS = {r.group for r in RESOURCES} | {"policy", "storage.k8s.io", "apiregistration.k8s.io"}
_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
# A kind served at two versions is found as the first, the version its objects are stored at.
_BY_KIND = {(r.group, r.kind): r for r in reversed(RESOURCES)}


def find(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(group: str, kind: str) -> Resource | None:
    return _BY_KIND.get((group, kind))


def group_versions(served: tuple[Resource, ...] = RESOURCES) -> dict[str, list[str]]:
    """Every named group and its versions, in the order served."""
    groups: dict[str, list[str]] = {}
    for resource in served:
        if resource.group and resource.version not in groups.setdefault(resource.group, []):
            groups[resource.group].append(resource.version)
    return groups


def api_versions() -> Json:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}


def api_group_list(served: tuple[Resource, ...] = RESOURCES) -> Json:
    groups = []
    for group, versions in group_versions(served).items():
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, served: tuple[Resource, ...] = RESOURCES) -> Json | None:
    versions = group_versions(served).get(group)
    if versions is None:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_resource_list(group: str, version: str, served: tuple[Resource, ...] = RESOURCES) -> Json | None:
    matching = [r for r in served if (r.group, r.version) == (group, version)]
    if not matching:
        return None
    entries: list[Json] = []
    for resource in matching:
        entry: Json = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": resource.verbs,
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = resource.categories
        entries.append(entry)
        if resource.status:
            entries.append(
                {
                    "name": f"{resource.plural}/status",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": resource.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if "log" in resource.subresources:
            entries.append(
                {
                    "name": f"{resource.plural}/log",
                    "singularName": "",
                    "namespaced": True,
                    "kind": resource.kind,
                    "verbs": ["get"],
                }
            )
        if resource.scalable:  # kubectl scale finds the Scale kind here
            entries.append(
                {
                    "name": f"{resource.plural}/scale",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }


# --- OpenAPI v3 ----------------------------------------------------------------------------------

_QUERY = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gvk(resource: Resource) -> Json:
    return {"group": resource.group, "version": resource.version, "kind": resource.kind}


def _operation(resource: Resource, action: str, *, queries: tuple[str, ...] = ()) -> Json:
    return {
        "operationId": f"{action}{resource.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(resource),
        "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}} for name in queries],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _ref(resource)}}}
        },
    }


def _ref(resource: Resource) -> Json:
    return {"$ref": f"#/components/schemas/{schema_name(resource)}"}


def schema_name(resource: Resource) -> str:
    group = resource.group or "core"
    return f"{group}.{resource.version}.{resource.kind}"


def openapi_index(prefix: str, served: tuple[Resource, ...] = RESOURCES) -> Json:
    """The OpenAPI v3 index; ``prefix`` is where the endpoint is mounted (client-go takes
    ``serverRelativeURL`` as the whole path, not relative to the kubeconfig's server path). Each
    document's URL carries its hash, as kube-apiserver's: kubectl keeps a document under its URL
    and asks for it again only once the hash changes (each is ~200 KB, and every ``kubectl
    apply`` reads the index)."""
    paths = {}
    for group_version in sorted({(r.group, r.version) for r in served}):
        group, version = group_version
        key = f"apis/{group}/{version}" if group else f"api/{version}"
        found = openapi_document_bytes(group, version, served)
        assert found is not None  # a group version that is served has a document
        paths[key] = {"serverRelativeURL": f"{prefix}/openapi/v3/{key}?hash={found[1]}"}
    return {"paths": paths}


def openapi_document_bytes(
    group: str, version: str, served: tuple[Resource, ...] = RESOURCES
) -> tuple[bytes, str] | None:
    """``openapi_document`` as served, and its hash (kube-openapi's: SHA-512, upper-case hex)."""
    matching = tuple(r for r in served if (r.group, r.version) == (group, version))
    return _document_bytes(group, version, matching) if matching else None


@functools.lru_cache(maxsize=512)
def _document_bytes(group: str, version: str, matching: tuple[Resource, ...]) -> tuple[bytes, str] | None:
    """Built once per process and set of kinds: the built-in groups are the same for every
    organization; a group of custom resources changes with its CRDs (a new key)."""
    document = openapi_document(group, version, matching)
    if document is None:
        return None
    body = json.dumps(document, separators=(",", ":")).encode()
    return body, hashlib.sha512(body).hexdigest().upper()


def _open_schema(resource: Resource) -> Json:
    """A kind the official client has no model of (a custom resource, ``FederationPolicy``)."""
    return {
        "type": "object",
        "description": f"{resource.kind} ({resource.group_version}).",
        "x-kubernetes-group-version-kind": [_gvk(resource)],
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }


def openapi_document(group: str, version: str, served: tuple[Resource, ...] = RESOURCES) -> Json | None:
    """One group version's OpenAPI v3 document: paths with their operations, and the kinds' schemas
    (``schemas``: typed from the official client's models, open where it has none)."""
    matching = [r for r in served if (r.group, r.version) == (group, version)]
    if not matching:
        return None
    paths: Json = {}
    components: Json = {}
    for resource in matching:
        base = resource.path_prefix()
        scope = f"{base}/namespaces/{{namespace}}" if resource.namespaced else base
        paths[f"{scope}/{resource.plural}"] = {"get": _operation(resource, "list")}
        paths[f"{scope}/{resource.plural}/{{name}}"] = {"get": _operation(resource, "get")}
        if not resource.read_only:
            paths[f"{scope}/{resource.plural}"]["post"] = _operation(resource, "post", queries=_QUERY[:3])
            paths[f"{scope}/{resource.plural}/{{name}}"].update(
                put=_operation(resource, "put", queries=_QUERY[:3]),
                patch=_operation(resource, "patch", queries=_QUERY),
                delete=_operation(resource, "delete", queries=_QUERY[:1]),
            )
        typed = schemas.kind_schemas(resource.group, resource.version, resource.kind)
        if typed is None:
            components[schema_name(resource)] = _open_schema(resource)
        else:
            kind_schema, referenced = typed
            gvk = {"x-kubernetes-group-version-kind": [_gvk(resource)]}
            components[schema_name(resource)] = {**kind_schema, **gvk}
            components.update(referenced)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Nodeless federation", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": components},
    }


# --- OpenAPI v2 ----------------------------------------------------------------------------------

# What client-go's discovery client asks /openapi/v2 for (``OpenAPISchema``, with the subtype's
# older spelling, "...spec.v2@v1.0+protobuf"): the gnostic ``openapi_v2.Document`` message,
# protobuf-encoded (github.com/google/gnostic-models). kube-apiserver answers either spelling with
# this one: Go's media type parser refuses the "@".
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def openapi_v2() -> Json:
    """The OpenAPI v2 document: a valid one, with no definitions.

    Argo CD (gitops-engine's cluster cache) reads it before it watches a cluster and gives the
    cluster up when it cannot. It has no definitions on purpose: kubectl's client-side apply looks
    a kind up in it for the lists it merges by key, and finding none uses the built-in kinds' own
    (as the endpoint's strategic merge patch does), where an open schema would make it replace
    them. The kinds' documents are the OpenAPI v3 ones."""
    return {
        "swagger": "2.0",
        "info": {"title": "Nodeless federation", "version": SERVER_VERSION["gitVersion"]},
        "paths": {},
        "definitions": {},
    }


def openapi_v2_protobuf(document: Json) -> bytes:
    """``openapi_v2`` as the gnostic ``Document`` message: swagger (field 1), info (2: title 1,
    version 2), and the empty paths (8) and definitions (9)."""
    info = protowire.length_delimited(1, document["info"]["title"].encode()) + protowire.length_delimited(
        2, document["info"]["version"].encode()
    )
    return (
        protowire.length_delimited(1, document["swagger"].encode())
        + protowire.length_delimited(2, info)
        + protowire.length_delimited(8, b"")
        + protowire.length_delimited(9, b"")
    )
