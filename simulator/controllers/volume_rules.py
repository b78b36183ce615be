"""kube-scheduler's volume filters, as its plugins apply them (pure, on JSON):

- VolumeBinding: a claim that does not exist, or an unbound claim of an `Immediate` class, keeps the
  pod off every node; a bound claim's PersistentVolume must exist and its `nodeAffinity` must match
  the node; an unbound claim of a `WaitForFirstConsumer` class needs, on this node, an available
  volume that fits it (class, size, access modes, node affinity) or a provisioner allowed to
  create one here (the class's `allowedTopologies`);
- VolumeZone: a bound volume labelled with a zone (the legacy way) only on nodes of that zone;
- NodeVolumeLimits: the volumes of a CSI driver attached to a node (counted once per volume,
  whichever pods share it) may not exceed the `allocatable.count` the node's CSINode reports for
  that driver (or, without a CSINode, the node's `attachable-volumes-aws-ebs` allocatable).

Message texts are kube-scheduler's. Written from the Kubernetes documentation
(https://kubernetes.io/docs/concepts/storage/storage-limits/,
https://kubernetes.io/docs/concepts/storage/persistent-volumes/#binding), independently of the
product, so the scheduling oracle covers volumes too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.quantity import parse_quantity

Json = Mapping[str, Any]
EBS_DRIVER = "ebs.csi.aws.com"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
LEGACY_EBS_LIMIT = "attachable-volumes-aws-ebs"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")

NOT_FOUND = 'persistentvolumeclaim "{}" not found'
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
PV_MISSING = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ZONE_CONFLICT = "node(s) had no available volume zone"
TOO_MANY = "node(s) exceed max volume count"


@dataclass(frozen=True)
class VolumeWorld:
    """The storage objects of a cluster, read once per scheduling pass."""

    claims: Mapping[tuple[str, str], Json] = field(default_factory=dict)  # (namespace, name)
    volumes: Mapping[str, Json] = field(default_factory=dict)
    classes: Mapping[str, Json] = field(default_factory=dict)
    csi_nodes: Mapping[str, Json] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        claims: Iterable[Json],
        volumes: Iterable[Json],
        classes: Iterable[Json],
        csi_nodes: Iterable[Json],
    ) -> VolumeWorld:
        return cls(
            {(c["metadata"].get("namespace") or "default", c["metadata"]["name"]): c for c in claims},
            {v["metadata"]["name"]: v for v in volumes},
            {s["metadata"]["name"]: s for s in classes},
            {n["metadata"]["name"]: n for n in csi_nodes},
        )

    def claim_class(self, claim: Json) -> Json | None:
        return self.classes.get(str((claim.get("spec") or {}).get("storageClassName") or ""))

    def bound_volume(self, claim: Json) -> Json | None:
        return self.volumes.get(str((claim.get("spec") or {}).get("volumeName") or ""))


def claim_names(pod: Json) -> list[str]:
    """The claims a pod mounts; a generic ephemeral volume's claim is `<pod>-<volume>`."""
    names = []
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        claim = volume.get("persistentVolumeClaim")
        if claim is not None:
            names.append(str(claim.get("claimName") or ""))
        elif volume.get("ephemeral") is not None:
            names.append(f"{pod['metadata']['name']}-{volume.get('name', '')}")
    return names


def _namespace(pod: Json) -> str:
    return str(pod["metadata"].get("namespace") or "default")


def _expression(expression: Json, labels: Mapping[str, str]) -> bool:
    key, operator, values = (
        expression.get("key", ""),
        expression.get("operator", "In"),
        expression.get("values") or [],
    )
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def volume_affinity_matches(volume: Json, labels: Mapping[str, str]) -> bool:
    """A PersistentVolume's required node affinity (terms ORed, expressions ANDed)."""
    required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required")
    if required is None:
        return True
    return any(
        all(_expression(e, labels) for e in term.get("matchExpressions") or ())
        for term in required.get("nodeSelectorTerms") or ()
    )


def class_allows(storage_class: Json, labels: Mapping[str, str]) -> bool:
    """Whether a class's `allowedTopologies` admit a node (none: every node)."""
    terms = storage_class.get("allowedTopologies") or ()
    if not terms:
        return True
    return any(
        all(
            labels.get(e.get("key", "")) in (e.get("values") or ())
            for e in term.get("matchLabelExpressions") or ()
        )
        for term in terms
    )


def waits_for_first_consumer(storage_class: Json | None) -> bool:
    return storage_class is not None and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"


def _storage(obj: Json, *path: str) -> float:
    value: Any = obj
    for key in path:
        value = (value or {}).get(key)
    return parse_quantity(str(value)) if value else 0.0


def volume_fits_claim(volume: Json, claim: Json) -> bool:
    """Whether an available PersistentVolume can satisfy a claim (class, size, access modes, mode)."""
    spec, wanted = volume.get("spec") or {}, claim.get("spec") or {}
    if (volume.get("status") or {}).get("phase") not in ("Available", "Pending"):
        return False
    ref = spec.get("claimRef")
    if ref and (ref.get("namespace"), ref.get("name")) != (
        claim["metadata"].get("namespace"),
        claim["metadata"]["name"],
    ):
        return False
    if str(spec.get("storageClassName") or "") != str(wanted.get("storageClassName") or ""):
        return False
    if (spec.get("volumeMode") or "Filesystem") != (wanted.get("volumeMode") or "Filesystem"):
        return False
    if not set(wanted.get("accessModes") or ()) <= set(spec.get("accessModes") or ()):
        return False
    return _storage(volume, "spec", "capacity", "storage") >= _storage(
        claim, "spec", "resources", "requests", "storage"
    )


def static_volume_for(world: VolumeWorld, claim: Json, labels: Mapping[str, str] | None) -> Json | None:
    """The smallest available volume that fits the claim (and, with `labels`, a node of them)."""
    fitting = [
        v
        for v in world.volumes.values()
        if volume_fits_claim(v, claim) and (labels is None or volume_affinity_matches(v, labels))
    ]
    return min(
        fitting,
        key=lambda v: (_storage(v, "spec", "capacity", "storage"), v["metadata"]["name"]),
        default=None,
    )


def pre_filter_reasons(pod: Json, world: VolumeWorld) -> list[str]:
    """VolumeBinding's PreFilter: refusals that hold on every node."""
    for name in claim_names(pod):
        claim = world.claims.get((_namespace(pod), name))
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return [NOT_FOUND.format(name)]
        if not (claim.get("spec") or {}).get("volumeName") and not waits_for_first_consumer(
            world.claim_class(claim)
        ):
            return [UNBOUND_IMMEDIATE]
    return []


def _driver(world: VolumeWorld, claim: Json) -> str | None:
    volume = world.bound_volume(claim)
    if volume is not None:
        spec = volume.get("spec") or {}
        if spec.get("csi"):
            return str(spec["csi"].get("driver") or "")
        return EBS_DRIVER if spec.get("awsElasticBlockStore") else None  # in-tree EBS is migrated to CSI
    storage_class = world.claim_class(claim)
    provisioner = str((storage_class or {}).get("provisioner") or "")
    if provisioner == "kubernetes.io/aws-ebs":
        return EBS_DRIVER
    return provisioner or None


def _limit(world: VolumeWorld, node_name: str, allocatable: Mapping[str, Any], driver: str) -> int | None:
    csi_node = world.csi_nodes.get(node_name)
    if csi_node is not None:
        for entry in (csi_node.get("spec") or {}).get("drivers") or ():
            if entry.get("name") == driver:
                count = (entry.get("allocatable") or {}).get("count")
                return None if count is None else int(count)
        return None
    if driver == EBS_DRIVER and LEGACY_EBS_LIMIT in allocatable:
        value = allocatable[LEGACY_EBS_LIMIT]  # parsed already when it comes from a NodeState
        return int(value if isinstance(value, int | float) else parse_quantity(str(value)))
    return None


def _attached(world: VolumeWorld, pods: Iterable[Json]) -> dict[str, set[str]]:
    """Per driver, the volumes the pods use (a claim counts once however many pods mount it)."""
    found: dict[str, set[str]] = {}
    for pod in pods:
        for name in claim_names(pod):
            claim = world.claims.get((_namespace(pod), name))
            driver = _driver(world, claim) if claim is not None else None
            if driver:
                found.setdefault(driver, set()).add(f"{_namespace(pod)}/{name}")
    return found


def node_volume_reasons(
    pod: Json,
    node_name: str,
    labels: Mapping[str, str],
    allocatable: Mapping[str, Any],
    on_node: Iterable[Json],
    world: VolumeWorld,
) -> list[str]:
    """NodeVolumeLimits, VolumeBinding and VolumeZone for one node (after `pre_filter_reasons`)."""
    names = claim_names(pod)
    if not names:
        return []
    wanted = _attached(world, [pod])
    if wanted:
        used = _attached(world, on_node)
        for driver, volumes in wanted.items():
            limit = _limit(world, node_name, allocatable, driver)
            if limit is not None and len(used.get(driver, set()) | volumes) > limit:
                return [TOO_MANY]
    for name in names:
        claim = world.claims[(_namespace(pod), name)]
        if (claim.get("spec") or {}).get("volumeName"):
            volume = world.bound_volume(claim)
            if volume is None:
                return [PV_MISSING]
            if not volume_affinity_matches(volume, labels):
                return [NODE_CONFLICT]
            zone_labels = (volume.get("metadata") or {}).get("labels") or {}
            for key in ZONE_LABELS:
                if key in zone_labels and labels.get(key) not in str(zone_labels[key]).split("__"):
                    return [ZONE_CONFLICT]
            continue
        if static_volume_for(world, claim, labels) is not None:
            continue
        storage_class = world.claim_class(claim) or {}
        provisioner = storage_class.get("provisioner")
        if not provisioner or provisioner == NO_PROVISIONER or not class_allows(storage_class, labels):
            return [BIND_CONFLICT]
    return []
