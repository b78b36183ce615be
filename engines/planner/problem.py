"""The planning problem compiled from (snapshot, policy, catalog): pods as vectors grouped into
classes and signatures, offerings as arrays, existing nodes as free capacity."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.kube.resources import GPU, MILLI_GPU_PER_GPU, PODS
from engines.planner.catalog import Catalog, InstanceType
from engines.planner.constraints import Constraints, constraints_of, offering_mask
from engines.planner.policy import PlannerPolicy
from engines.planner.serverless import ServerlessPricer
from engines.planner.table import BoolArray, IntArray, OfferingTable, fits_mask, offering_table
from engines.planner.types import ExistingNode, PodRequest, Snapshot

# With GPU sharing, a slice is rounded up to a power-of-two fraction of a device, like MIG or
# time-slicing profiles. Slices of such sizes always pack onto devices whenever their sum
# fits, so the engine can treat GPUs as one additive resource and stay exact.
GPU_SLICES_MILLI = (125, 250, 500, 1000)

Vector = tuple[int, int, int, int, int]


def pod_vector(pod: PodRequest, gpu_sharing: bool) -> Vector | str:
    """The pod's request in engine units, or why the request is invalid."""
    r = pod.requests
    if min(r.cpu_millis, r.memory_mib, r.gpus, r.ephemeral_mib, pod.gpu_share_milli) < 0:
        return "requests must not be negative"
    if pod.gpu_share_milli > MILLI_GPU_PER_GPU:
        return f"gpu_share_milli must be at most {MILLI_GPU_PER_GPU} (one device); ask for whole GPUs instead"
    gpu = r.gpus * MILLI_GPU_PER_GPU
    if not gpu and pod.gpu_share_milli:
        gpu = MILLI_GPU_PER_GPU
        if gpu_sharing:
            gpu = next(size for size in GPU_SLICES_MILLI if size >= pod.gpu_share_milli)
    return (r.cpu_millis, r.memory_mib, gpu, r.ephemeral_mib, 1)


@dataclass(slots=True)
class PodClass:
    """Pods with identical requests and constraints: interchangeable for packing."""

    signature: int
    vector: Vector
    pods: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Signatures:
    """Distinct constraint signatures, each with its offering mask (computed on first use)."""

    table: OfferingTable
    policy: PlannerPolicy
    ids: dict[Constraints, int] = field(default_factory=dict)
    constraints: list[Constraints] = field(default_factory=list)
    masks: list[BoolArray] = field(default_factory=list)

    def id_for(self, constraints: Constraints) -> int:
        signature = self.ids.get(constraints)
        if signature is None:
            signature = len(self.constraints)
            self.ids[constraints] = signature
            self.constraints.append(constraints)
            self.masks.append(offering_mask(constraints, self.table, self.policy.node_taints))
        return signature


@dataclass(slots=True)
class ExistingCapacity:
    """Existing nodes open to any compatible pod (not reserved), as free-capacity vectors."""

    nodes: list[ExistingNode]
    free: IntArray
    gpu_models: list[str]

    def compatible(self, constraints: Constraints, vector: Vector) -> BoolArray:
        fits = fits_mask(self.free, vector) if len(self.nodes) else np.zeros(0, bool)
        return np.fromiter(
            (
                bool(fit)
                and constraints.matches_labels(node.labels)
                and not constraints.blocking_taints(node.taints)
                and (vector[GPU] == 0 or constraints.accepts_gpu_model(model))
                for node, model, fit in zip(self.nodes, self.gpu_models, fits, strict=True)
            ),
            bool,
            len(self.nodes),
        )


@dataclass(slots=True)
class Problem:
    snapshot: Snapshot
    policy: PlannerPolicy
    catalog: Catalog
    table: OfferingTable
    signatures: Signatures
    existing: ExistingCapacity
    serverless: ServerlessPricer
    types_by_name: dict[str, InstanceType]
    pod_vectors: list[Vector | None]
    pod_signature: list[int]
    invalid: list[tuple[int, str]]
    reserved_bindings: list[tuple[int, ExistingNode]]
    isolated: list[PodClass]
    packed: list[PodClass]


def _free_vector(node: ExistingNode) -> Vector:
    vector = node.free.clamped().as_vector()
    return (vector[0], vector[1], vector[2], vector[3], vector[PODS])


def compile_problem(snapshot: Snapshot, policy: PlannerPolicy, catalog: Catalog) -> Problem:
    """Group the pods and compile everything the engine's algorithms consume.

    1. Validate each pod's requests and turn them into a vector (GPU slices rounded).
    2. Bind pods to existing nodes reserved for them when they still fit there.
    3. Split the rest into isolated pods (bin-selection) and packed pods, grouped into classes
       of identical (constraint signature, request vector).
    """
    table = offering_table(catalog, policy, snapshot)
    signatures = Signatures(table, policy)
    types_by_name = {t.name: t for t in catalog.instance_types}
    reserved = {n.reserved_for_pod: n for n in snapshot.existing_nodes if n.reserved_for_pod is not None}
    open_nodes = [n for n in snapshot.existing_nodes if n.reserved_for_pod is None]
    existing = ExistingCapacity(
        open_nodes,
        np.array([_free_vector(n) for n in open_nodes], dtype=np.int64).reshape(len(open_nodes), 5),
        [
            types_by_name[n.instance_type].gpu_model if n.instance_type in types_by_name else ""
            for n in open_nodes
        ],
    )
    problem = Problem(
        snapshot,
        policy,
        catalog,
        table,
        signatures,
        existing,
        ServerlessPricer(catalog, policy, snapshot.allowed_zones),
        types_by_name,
        [],
        [],
        [],
        [],
        [],
        [],
    )
    classes: dict[tuple[bool, int, Vector], PodClass] = {}
    for index, pod in enumerate(snapshot.pods):
        vector = pod_vector(pod, policy.gpu_sharing)
        if isinstance(vector, str):
            problem.pod_vectors.append(None)
            problem.pod_signature.append(-1)
            problem.invalid.append((index, vector))
            continue
        constraints = constraints_of(pod, policy.default_architectures)
        signature = signatures.id_for(constraints)
        problem.pod_vectors.append(vector)
        problem.pod_signature.append(signature)
        node = reserved.get(pod.uid)
        if node is not None and _fits_reserved(node, constraints, vector):
            problem.reserved_bindings.append((index, node))
            continue
        isolated = policy.isolates(pod)
        key = (isolated, signature, vector)
        pod_class = classes.get(key)
        if pod_class is None:
            pod_class = classes[key] = PodClass(signature, vector)
            (problem.isolated if isolated else problem.packed).append(pod_class)
        pod_class.pods.append(index)
    return problem


def _fits_reserved(node: ExistingNode, constraints: Constraints, vector: Vector) -> bool:
    return (
        all(v <= f for v, f in zip(vector, _free_vector(node), strict=True))
        and constraints.matches_labels(node.labels)
        and not constraints.blocking_taints(node.taints)
    )
