"""The resource types the simulated API server serves, with what discovery says about each.

A `ResourceType` is what a `kind` is to `kubectl api-resources`: group/version, plural, whether it
is namespaced, verbs, short names, subresources and the field selectors it supports.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")

# Field selectors every resource supports, as in kube-apiserver's DefaultClusterScopedAttr.
COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # Subresources whose writes change only `.status`; main-resource writes then keep the status.
    has_status: bool = False
    # Extra fields usable in fieldSelector (beyond metadata.name / metadata.namespace).
    selectable_fields: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    custom: bool = False  # defined by a CustomResourceDefinition (``crds``)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> str:
        """Unique name of the resource inside the server, e.g. `pods` or `deployments.apps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def supports_field(self, field: str) -> bool:
        return field in COMMON_FIELDS or field in self.selectable_fields


_core = functools.partial(ResourceType, "", "v1")


NAMESPACES = _core(
    "namespaces",
    "Namespace",
    namespaced=False,
    short_names=("ns",),
    subresources=("status", "finalize"),
    has_status=True,
    selectable_fields=("status.phase",),
)
NODES = _core(
    "nodes",
    "Node",
    namespaced=False,
    short_names=("no",),
    subresources=("status",),
    has_status=True,
    selectable_fields=("spec.unschedulable",),
)
PODS = _core(
    "pods",
    "Pod",
    namespaced=True,
    short_names=("po",),
    subresources=("status", "binding", "eviction", "log", "exec"),
    has_status=True,
    selectable_fields=(
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    categories=("all",),
)
BINDINGS = _core("bindings", "Binding", namespaced=True, verbs=("create",))
EVENTS = _core(
    "events",
    "Event",
    namespaced=True,
    short_names=("ev",),
    selectable_fields=(
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
)
SERVICES = _core(
    "services",
    "Service",
    namespaced=True,
    short_names=("svc",),
    subresources=("status",),
    has_status=True,
    categories=("all",),
)
CONFIGMAPS = _core("configmaps", "ConfigMap", namespaced=True, short_names=("cm",))
SECRETS = _core("secrets", "Secret", namespaced=True, selectable_fields=("type",))
SERVICE_ACCOUNTS = _core("serviceaccounts", "ServiceAccount", namespaced=True, short_names=("sa",))
DEPLOYMENTS = ResourceType(
    group="apps",
    version="v1",
    plural="deployments",
    kind="Deployment",
    namespaced=True,
    short_names=("deploy",),
    subresources=("status", "scale"),
    has_status=True,
    categories=("all",),
)
REPLICASETS = ResourceType(
    group="apps",
    version="v1",
    plural="replicasets",
    kind="ReplicaSet",
    namespaced=True,
    short_names=("rs",),
    subresources=("status", "scale"),
    has_status=True,
    categories=("all",),
)
JOBS = ResourceType(
    group="batch",
    version="v1",
    plural="jobs",
    kind="Job",
    namespaced=True,
    subresources=("status",),
    has_status=True,
    categories=("all",),
)
STATEFULSETS = ResourceType(
    group="apps",
    version="v1",
    plural="statefulsets",
    kind="StatefulSet",
    namespaced=True,
    short_names=("sts",),
    subresources=("status", "scale"),
    has_status=True,
    categories=("all",),
)
DAEMONSETS = ResourceType(
    group="apps",
    version="v1",
    plural="daemonsets",
    kind="DaemonSet",
    namespaced=True,
    short_names=("ds",),
    subresources=("status",),
    has_status=True,
    categories=("all",),
)
CRONJOBS = ResourceType(
    group="batch",
    version="v1",
    plural="cronjobs",
    kind="CronJob",
    namespaced=True,
    short_names=("cj",),
    subresources=("status",),
    has_status=True,
    categories=("all",),
)
HPAS = ResourceType(
    group="autoscaling",
    version="v2",
    plural="horizontalpodautoscalers",
    kind="HorizontalPodAutoscaler",
    namespaced=True,
    short_names=("hpa",),
    subresources=("status",),
    has_status=True,
    categories=("all",),
)
INGRESSES = ResourceType(
    group="networking.k8s.io",
    version="v1",
    plural="ingresses",
    kind="Ingress",
    namespaced=True,
    short_names=("ing",),
    subresources=("status",),
    has_status=True,
)
ROLES = ResourceType(
    group="rbac.authorization.k8s.io", version="v1", plural="roles", kind="Role", namespaced=True
)
ROLE_BINDINGS = ResourceType(
    group="rbac.authorization.k8s.io",
    version="v1",
    plural="rolebindings",
    kind="RoleBinding",
    namespaced=True,
)
PDBS = ResourceType(
    group="policy",
    version="v1",
    plural="poddisruptionbudgets",
    kind="PodDisruptionBudget",
    namespaced=True,
    short_names=("pdb",),
    subresources=("status",),
    has_status=True,
)
PERSISTENT_VOLUMES = _core(
    "persistentvolumes",
    "PersistentVolume",
    namespaced=False,
    short_names=("pv",),
    subresources=("status",),
    has_status=True,
)
PERSISTENT_VOLUME_CLAIMS = _core(
    "persistentvolumeclaims",
    "PersistentVolumeClaim",
    namespaced=True,
    short_names=("pvc",),
    subresources=("status",),
    has_status=True,
)
STORAGE_CLASSES = ResourceType(
    group="storage.k8s.io",
    version="v1",
    plural="storageclasses",
    kind="StorageClass",
    namespaced=False,
    short_names=("sc",),
)
# What a node's CSI drivers report, among it how many volumes each can attach (kubelet writes it
# when a driver registers); kube-scheduler's NodeVolumeLimits filter reads it.
CSI_NODES = ResourceType(
    group="storage.k8s.io",
    version="v1",
    plural="csinodes",
    kind="CSINode",
    namespaced=False,
)
SELF_SUBJECT_ACCESS_REVIEWS = ResourceType(
    group="authorization.k8s.io",
    version="v1",
    plural="selfsubjectaccessreviews",
    kind="SelfSubjectAccessReview",
    namespaced=False,
    verbs=("create",),
)
SELF_SUBJECT_REVIEWS = ResourceType(
    group="authentication.k8s.io",
    version="v1",
    plural="selfsubjectreviews",
    kind="SelfSubjectReview",
    namespaced=False,
    verbs=("create",),
)

CUSTOM_RESOURCE_DEFINITIONS = ResourceType(
    group="apiextensions.k8s.io",
    version="v1",
    plural="customresourcedefinitions",
    kind="CustomResourceDefinition",
    namespaced=False,
    short_names=("crd", "crds"),
    subresources=("status",),
    has_status=True,
    categories=("api-extensions",),
)

# The resource metrics API (metrics-server's): computed from the pods on each read (`metrics.py`).
POD_METRICS = ResourceType(
    group="metrics.k8s.io",
    version="v1beta1",
    plural="pods",
    kind="PodMetrics",
    namespaced=True,
    verbs=("get", "list"),
)
NODE_METRICS = ResourceType(
    group="metrics.k8s.io",
    version="v1beta1",
    plural="nodes",
    kind="NodeMetrics",
    namespaced=False,
    verbs=("get", "list"),
)

# Resources kept in the object store (the review kinds are computed per request, never stored).
STORED_RESOURCES: tuple[ResourceType, ...] = (
    NAMESPACES,
    NODES,
    PODS,
    EVENTS,
    SERVICES,
    CONFIGMAPS,
    SECRETS,
    SERVICE_ACCOUNTS,
    DEPLOYMENTS,
    REPLICASETS,
    JOBS,
    PDBS,
    PERSISTENT_VOLUMES,
    PERSISTENT_VOLUME_CLAIMS,
    STORAGE_CLASSES,
    CSI_NODES,
    STATEFULSETS,
    DAEMONSETS,
    CRONJOBS,
    HPAS,
    INGRESSES,
    ROLES,
    ROLE_BINDINGS,
    CUSTOM_RESOURCE_DEFINITIONS,
)
VIRTUAL_RESOURCES: tuple[ResourceType, ...] = (
    BINDINGS,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    POD_METRICS,
    NODE_METRICS,
)
ALL_RESOURCES = STORED_RESOURCES + VIRTUAL_RESOURCES

# Preferred version of each group, in the order discovery lists them.
GROUP_VERSIONS: tuple[tuple[str, str], ...] = (
    ("apps", "v1"),
    ("batch", "v1"),
    ("policy", "v1"),
    ("storage.k8s.io", "v1"),
    ("autoscaling", "v2"),
    ("networking.k8s.io", "v1"),
    ("rbac.authorization.k8s.io", "v1"),
    ("authorization.k8s.io", "v1"),
    ("authentication.k8s.io", "v1"),
    ("apiextensions.k8s.io", "v1"),
    ("metrics.k8s.io", "v1beta1"),
)


class ResourceRegistry:
    """Lookup of resource types by (group, version, plural). Each cluster has its own: the
    resources its CustomResourceDefinitions define come and go (``add``/``remove``, by the
    apiextensions controller); readers see one consistent snapshot at a time."""

    def __init__(self, resources: tuple[ResourceType, ...] = ALL_RESOURCES) -> None:
        self._lock = threading.Lock()
        self._set(resources)

    def _set(self, resources: tuple[ResourceType, ...]) -> None:
        # Replaced whole, never mutated: a lookup needs no lock.
        self._by_path = {(r.group, r.version, r.plural): r for r in resources}
        self._by_key = {r.key: r for r in resources}
        self.resources = resources

    def add(self, resource: ResourceType) -> None:
        with self._lock:
            self._set(
                (
                    *(r for r in self.resources if r.key != resource.key or r.version != resource.version),
                    resource,
                )
            )

    def remove(self, resource: ResourceType) -> None:
        with self._lock:
            self._set(
                tuple(
                    r
                    for r in self.resources
                    if (r.group, r.version, r.plural) != (resource.group, resource.version, resource.plural)
                )
            )

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_key(self, key: str) -> ResourceType:
        return self._by_key[key]

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.resources if r.group == group and r.version == version]

    def has_group_version(self, group: str, version: str) -> bool:
        return any(r.group == group and r.version == version for r in self.resources)

    def group_versions(self) -> list[tuple[str, str]]:
        """The built-in groups in discovery's order, then the custom ones by name, each group's
        versions by Kubernetes' version priority (GA before beta before alpha, higher first)."""
        custom = {(r.group, r.version) for r in self.resources if r.custom} - set(GROUP_VERSIONS)
        ordered = sorted(custom, key=lambda gv: (gv[0], version_priority(gv[1])))
        return [*(gv for gv in GROUP_VERSIONS if self.has_group_version(*gv)), *ordered]


_VERSION = re.compile(r"^v([0-9]+)(?:(alpha|beta)([0-9]+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key of apimachinery's version.CompareKubeAwareVersionStrings: v2, v1, v1beta2,
    v1beta1, v1alpha1, then versions of no such shape by name."""
    found = _VERSION.match(version)
    if found is None:
        return (3, 0, 0, version)
    major, stage, minor = found.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), "")


DEFAULT_REGISTRY = ResourceRegistry()
