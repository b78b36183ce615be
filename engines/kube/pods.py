"""Pods as the scheduler sees them: a typed, read-only view of a pod's JSON, and its effective requests.

`Pod` wraps the JSON the API serves (nothing is copied and nothing is changed); every engine, loop
and report reads pods through it, so a pod is sized, owned and classified one way everywhere.

Effective requests follow kube-scheduler (`k8s.io/component-helpers/resource`):

- app containers add up; every sidecar (an init container with `restartPolicy: Always`) runs beside
  them for the pod's life and adds to that sum;
- a regular init container runs alone, beside the sidecars started before it, so the pod needs at
  least its request plus theirs;
- the pod needs the larger of the two, plus its `overhead` (RuntimeClass), plus one pod slot;
- a missing request defaults to the limit, as the API server defaults it.

GPUs are whole devices of any vendor the product knows (`GPU_RESOURCES`); `gpu_vendors` says which
were asked for, for a consumer that can only serve some (Nodeless launches NVIDIA types).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from engines.kube.affinity import (
    AffinityTerm,
    HostPort,
    SpreadConstraint,
    WeightedNodeTerm,
    WeightedPodTerm,
    host_ports,
    preferred_pod_terms,
    required_terms,
    spread_constraints,
)
from engines.kube.labels import (
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Operator,
    TaintEffect,
    Toleration,
    TolerationOperator,
)
from engines.kube.objects import ObjectView, parse_time
from engines.kube.quantity import QuantityError, mebibytes, millicores, whole
from engines.kube.resources import Resources

Json = Mapping[str, Any]

NVIDIA_GPU = "nvidia.com/gpu"
AMD_GPU = "amd.com/gpu"
GPU_RESOURCES = (NVIDIA_GPU, AMD_GPU)
DEFAULT_SCHEDULER = "default-scheduler"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
# The resources the scheduler's sizing here counts; others (hugepages, pod ENIs...) are not read.
_READ = ("cpu", "memory", "ephemeral-storage", *GPU_RESOURCES)


def _amounts(values: Mapping[str, Any]) -> Resources:
    return Resources(
        cpu_millis=millicores(values.get("cpu", 0)),
        memory_mib=mebibytes(values.get("memory", 0)),
        gpus=sum(whole(values.get(name, 0)) for name in GPU_RESOURCES),
        ephemeral_mib=mebibytes(values.get("ephemeral-storage", 0)),
    )


@lru_cache(maxsize=8192)
def _amounts_of_items(items: tuple[tuple[str, Any], ...]) -> Resources:
    return _amounts(dict(items))


def resources_of(values: Mapping[str, Any] | None) -> Resources:
    """A resource list (`requests`, `limits`, `allocatable`, `overhead`) as Resources (no pod slots).
    Raises QuantityError on a malformed quantity."""
    if not values:
        return Resources()
    read = {name: values[name] for name in _READ if name in values}
    if not all(isinstance(value, str | int | float) for value in read.values()):
        return _amounts(read)  # a list or a mapping where a quantity belongs: QuantityError
    # Cached by value: a big cluster's 50,000 pods repeat a few dozen request sets.
    return _amounts_of_items(tuple(sorted(read.items())))


def container_requests(container: Json) -> Resources:
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    try:
        # Cached by the lists' items as they are: a pass reads the same few request sets 50,000 times.
        return _container_requests(tuple(limits.items()), tuple(requests.items()))
    except TypeError:  # something unhashable where a quantity belongs: let the parser say what
        return resources_of({**limits, **requests})


@lru_cache(maxsize=8192)
def _container_requests(
    limits: tuple[tuple[str, Any], ...], requests: tuple[tuple[str, Any], ...]
) -> Resources:
    # Kubernetes defaults a missing request to the limit.
    return resources_of({**dict(limits), **dict(requests)})


def _is_sidecar(container: Json) -> bool:
    return container.get("restartPolicy") == "Always"


@lru_cache(maxsize=8192)
def _alone_with_pod_slot(requests: Resources) -> Resources:
    return requests.maximum(Resources()) + Resources(pods=1)


def pod_requests(spec: Json) -> Resources:
    """What a pod with this spec asks the scheduler for, one pod slot included (see the module
    docstring for the rule). Raises QuantityError on a malformed quantity."""
    containers: Sequence[Json] = spec.get("containers") or ()
    if len(containers) == 1 and not spec.get("initContainers") and not spec.get("overhead"):
        # Most pods: the rule below reduces to this, cached by value (a pass over 50,000 pods cannot
        # afford ten Resources per pod).
        return _alone_with_pod_slot(container_requests(containers[0]))
    apps = Resources()
    for container in spec.get("containers") or ():
        apps = apps + container_requests(container)
    sidecars = Resources()
    init_peak = Resources()
    for init in spec.get("initContainers") or ():
        request = container_requests(init)
        if _is_sidecar(init):
            sidecars = sidecars + request
            init_peak = init_peak.maximum(sidecars)
        else:
            init_peak = init_peak.maximum(sidecars + request)
    running = (apps + sidecars).maximum(init_peak)
    return running + resources_of(spec.get("overhead")) + Resources(pods=1)


def _toleration(raw: Json) -> Toleration:
    effect = raw.get("effect")
    return Toleration(
        key=raw.get("key") or "",
        operator=TolerationOperator(raw.get("operator") or "Equal"),
        value=raw.get("value") or "",
        effect=TaintEffect(effect) if effect else None,
    )


def node_selector_terms(terms: Sequence[Json]) -> tuple[NodeSelectorTerm, ...]:
    return tuple(
        NodeSelectorTerm(
            tuple(
                NodeSelectorRequirement(e["key"], Operator(e["operator"]), tuple(e.get("values") or ()))
                for e in term.get("matchExpressions") or ()
            )
        )
        for term in terms
    )


class Pod(ObjectView):
    """A read-only view of one pod's JSON."""

    __slots__ = ("_requests",)

    def __init__(self, raw: Json) -> None:
        super().__init__(raw)
        self._requests: Resources | None = None

    def __repr__(self) -> str:
        return f"Pod({self.key})"

    # --- identity ----------------------------------------------------------------------------------
    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")

    @property
    def key(self) -> str:
        """ "namespace/name", how people and decisions name a pod."""
        return f"{self.namespace}/{self.name}"

    # --- ownership ---------------------------------------------------------------------------------
    @property
    def owner_references(self) -> Sequence[Json]:
        return self.metadata.get("ownerReferences") or ()

    @property
    def controller(self) -> Json | None:
        """The owner reference marked `controller` (its ReplicaSet, Job, DaemonSet...), if any."""
        return next((ref for ref in self.owner_references if ref.get("controller")), None)

    @property
    def controller_uid(self) -> str:
        """The controller's uid, "" for a bare pod: the pod that replaces an evicted one has a new uid
        but the same controller."""
        controller = self.controller
        return str(controller.get("uid", "")) if controller else ""

    @property
    def daemonset_uid(self) -> str:
        """The uid of the DaemonSet that owns the pod, "" when none does."""
        return next(
            (str(ref.get("uid", "")) for ref in self.owner_references if ref.get("kind") == "DaemonSet"),
            "",
        )

    @property
    def is_daemonset(self) -> bool:
        return bool(self.daemonset_uid)

    # --- scheduling --------------------------------------------------------------------------------
    @property
    def node_name(self) -> str:
        return str(self.spec.get("nodeName") or "")

    @property
    def scheduler_name(self) -> str:
        return str(self.spec.get("schedulerName") or DEFAULT_SCHEDULER)

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority") or 0)

    @property
    def node_selector(self) -> Mapping[str, str]:
        return self.spec.get("nodeSelector") or {}

    @property
    def required_node_affinity(self) -> tuple[NodeSelectorTerm, ...]:
        affinity = (self.spec.get("affinity") or {}).get("nodeAffinity") or {}
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        return node_selector_terms(required.get("nodeSelectorTerms") or ())

    @property
    def preferred_node_affinity(self) -> tuple[WeightedNodeTerm, ...]:
        affinity = (self.spec.get("affinity") or {}).get("nodeAffinity") or {}
        preferred = affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        return tuple(
            WeightedNodeTerm(
                int(raw.get("weight") or 1), node_selector_terms([raw.get("preference") or {}])[0]
            )
            for raw in preferred
        )

    @property
    def preferred_pod_affinity(self) -> tuple[WeightedPodTerm, ...]:
        """Preferred pod affinity (positive weights) and anti-affinity (negative) terms."""
        return preferred_pod_terms(self.spec, self.namespace)

    @property
    def pod_affinity(self) -> tuple[AffinityTerm, ...]:
        """Required pod affinity terms."""
        return required_terms(self.spec, "podAffinity", self.namespace)

    @property
    def pod_anti_affinity(self) -> tuple[AffinityTerm, ...]:
        """Required pod anti-affinity terms."""
        return required_terms(self.spec, "podAntiAffinity", self.namespace)

    @property
    def spread(self) -> tuple[SpreadConstraint, ...]:
        return spread_constraints(self.spec, self.labels)

    @property
    def host_ports(self) -> frozenset[HostPort]:
        return host_ports(self.spec)

    @property
    def claim_names(self) -> tuple[str, ...]:
        """The PersistentVolumeClaims the pod mounts (ephemeral volumes' claims included)."""
        names = []
        for volume in self.spec.get("volumes") or ():
            claim = volume.get("persistentVolumeClaim")
            if claim and claim.get("claimName"):
                names.append(str(claim["claimName"]))
            elif volume.get("ephemeral") is not None:
                names.append(f"{self.name}-{volume.get('name', '')}")
        return tuple(names)

    @property
    def scheduling_gated(self) -> bool:
        return bool(self.spec.get("schedulingGates"))

    @property
    def nominated_node_name(self) -> str:
        return str(self.status.get("nominatedNodeName") or "")

    @property
    def tolerations(self) -> tuple[Toleration, ...]:
        return tuple(_toleration(raw) for raw in self.spec.get("tolerations") or ())

    @property
    def requests(self) -> Resources:
        """Effective requests, one pod slot included (computed once). Raises QuantityError."""
        if self._requests is None:
            self._requests = pod_requests(self.spec)
        return self._requests

    @property
    def gpu_vendors(self) -> frozenset[str]:
        """The GPU resources the pod's containers ask for ("nvidia.com/gpu", "amd.com/gpu")."""
        asked: set[str] = set()
        for container in [*(self.spec.get("containers") or ()), *(self.spec.get("initContainers") or ())]:
            resources = container.get("resources") or {}
            for values in (resources.get("requests") or {}, resources.get("limits") or {}):
                asked.update(name for name in GPU_RESOURCES if name in values)
        return frozenset(asked)

    # --- lifecycle ---------------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or "Pending")

    @property
    def is_finished(self) -> bool:
        return self.phase in FINISHED_PHASES

    @property
    def is_terminating(self) -> bool:
        return bool(self.metadata.get("deletionTimestamp"))

    @property
    def is_pending(self) -> bool:
        """Not bound to a node, and not finished or on its way out: waiting for a node."""
        return not self.node_name and not self.is_finished and not self.is_terminating

    @property
    def is_unschedulable(self) -> bool:
        """The scheduler tried and found no node (PodScheduled False, reason Unschedulable)."""
        for condition in self.status.get("conditions") or ():
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return bool(condition.get("reason") == "Unschedulable")
        return False

    @property
    def started_at(self) -> datetime | None:
        return parse_time(self.status.get("startTime"))

    @property
    def finished_at(self) -> datetime | None:
        """When its last container finished, for a finished pod whose containers say so."""
        ends = [
            parse_time(((status.get("state") or {}).get("terminated") or {}).get("finishedAt"))
            for status in self.status.get("containerStatuses") or ()
        ]
        known = [end for end in ends if end is not None]
        return max(known) if known else None


def try_requests(pod: Pod) -> Resources | None:
    """The pod's requests, or None when a quantity in it cannot be read."""
    try:
        return pod.requests
    except QuantityError:
        return None


# What a pod's JSON keeps when held for a long time (a watch-fed cache of 50,000 pods): everything
# `Pod` reads. Container specs keep only their name, resources, restart policy and ports (host
# ports); managed fields and kubectl's last-applied copy of the object are dropped.
_CONTAINER_FIELDS = ("name", "resources", "restartPolicy", "ports")
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def essential_pod(raw: Json) -> dict[str, Any]:
    metadata = dict(raw.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if annotations and any(key in annotations for key in _DROPPED_ANNOTATIONS):
        metadata["annotations"] = {k: v for k, v in annotations.items() if k not in _DROPPED_ANNOTATIONS}
    spec = dict(raw.get("spec") or {})
    for key in ("containers", "initContainers"):
        if spec.get(key):
            spec[key] = [{f: c[f] for f in _CONTAINER_FIELDS if f in c} for c in spec[key]]
    spec.pop("ephemeralContainers", None)
    return {"metadata": metadata, "spec": spec, "status": raw.get("status") or {}}
