"""Precise, actionable reasons for pods that no offering can serve.

The diagnosis adds the filters one layer at a time - resources alone, then the pod's own
constraints, then the policy's instance requirements, then the zones, capacity types and spot
cap offerings are sold in - and reports the first layer that empties the set, naming what the
pod asked for and what the layer allowed. It runs only for unschedulable pods.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from engines.kube.capacity import CapacityType
from engines.kube.resources import AXES, CPU, EPHEMERAL, GPU, MEMORY, PODS, describe_vector
from engines.planner.constraints import Constraints, offering_mask
from engines.planner.policy import InstanceRequirements
from engines.planner.problem import Problem, Vector
from engines.planner.results import UnschedulableCode
from engines.planner.table import OfferingTable, build_offering_table, fits_mask, type_allowed

_UNITS = {CPU: 1000, MEMORY: 1024, GPU: 1000, EPHEMERAL: 1024, PODS: 1}
_UNIT_NAMES = {CPU: "vCPU", MEMORY: "GiB", GPU: "GPUs", EPHEMERAL: "GiB", PODS: "pods"}


def _fitting(table: OfferingTable, vector: Vector) -> np.ndarray:
    return fits_mask(table.alloc, vector) if len(table) else np.zeros(0, bool)


def _type_names(table: OfferingTable, mask: np.ndarray, limit: int = 3) -> str:
    names = sorted({table.offerings[i].instance_type for i in np.flatnonzero(mask)})
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _too_big(table: OfferingTable, vector: Vector) -> str:
    """Which resource no instance type has enough of, or that no type has all of them."""
    if not len(table):
        return (
            f"no instance type is priced in {table.region or 'this region'}, so Nodeless cannot launch "
            "there; connect the cluster in a priced region or wait for the price list refresh"
        )
    largest = table.alloc.max(axis=0)
    for axis in (GPU, CPU, MEMORY, EPHEMERAL, PODS):
        if vector[axis] > largest[axis]:
            return (
                f"asks for {vector[axis] / _UNITS[axis]:g} {_UNIT_NAMES[axis]} of {AXES[axis]} but the most any "
                f"instance type offers new pods is {largest[axis] / _UNITS[axis]:g} (after system reserve and "
                "daemonsets)"
            )
    return f"no single instance type has {describe_vector(vector)} free after system reserve and daemonsets"


def _requirement_culprits(problem: Problem, fitting_types: set[str]) -> list[str]:
    """Names of the instance requirements that, each alone, exclude every fitting type."""
    requirements = problem.policy.instance_requirements
    default = InstanceRequirements()
    culprits = []
    for spec in fields(InstanceRequirements):
        value = getattr(requirements, spec.name)
        if value == getattr(default, spec.name):
            continue
        only_this = replace(default, **{spec.name: value})
        types = (t for t in problem.catalog.instance_types if t.name in fitting_types)
        if not any(type_allowed(t, only_this) for t in types):
            shown = ",".join(sorted(value)) if isinstance(value, frozenset) else value
            culprits.append(f"{spec.name}={shown}")
    return culprits


def diagnose(problem: Problem, vector: Vector, constraints: Constraints) -> tuple[UnschedulableCode, str]:
    """Why no offering can take a pod with this request and these constraints.

    1. Taints the policy puts on new nodes that the pod does not tolerate.
    2. Resources alone: no instance type in the catalog is big enough.
    3. The pod's own constraints (selectors, affinity, GPU models) against the whole catalog.
    4. The policy's instance requirements.
    5. The zones, capacity types and spot cap the offerings must be sold in.
    """
    policy, snapshot, catalog = problem.policy, problem.snapshot, problem.catalog
    asked = describe_vector(vector)
    code = UnschedulableCode.NO_MATCHING_OFFERING
    blocking = constraints.blocking_taints(policy.node_taints)
    if blocking:
        taints = ", ".join(t.describe() for t in blocking)
        return (
            UnschedulableCode.UNTOLERATED_TAINT,
            f"does not tolerate the taint {taints} the policy puts on new nodes",
        )

    def matching(candidates: OfferingTable) -> np.ndarray:
        return _fitting(candidates, vector) & offering_mask(constraints, candidates, ())

    everything = build_offering_table(
        catalog, policy, snapshot, type_filter=lambda t: True, offering_filter=lambda o: True
    )
    fitting = _fitting(everything, vector)
    if not fitting.any():
        return code, _too_big(everything, vector)
    if not matching(everything).any():
        return code, _constraint_culprits(constraints, everything, fitting, asked)

    allowed = build_offering_table(
        catalog,
        policy,
        snapshot,
        type_filter=lambda t: type_allowed(t, policy.instance_requirements),
        offering_filter=lambda o: True,
    )
    if not matching(allowed).any():
        candidates = matching(everything)
        fitting_types = {everything.offerings[i].instance_type for i in np.flatnonzero(candidates)}
        culprits = (
            ", ".join(_requirement_culprits(problem, fitting_types)) or "instance requirements together"
        )
        return code, (
            f"needs {asked}; the policy's {culprits} exclude every instance type that fits and matches "
            f"(e.g. {_type_names(everything, candidates)})"
        )

    zones = ",".join(sorted(snapshot.allowed_zones or catalog.zones))
    capacity = ",".join(sorted(c.value for c in policy.capacity_types if c is not CapacityType.SERVERLESS))
    spot_cap = (
        f" with spot interruption bucket <= {policy.spot_max_interruption_bucket}"
        if policy.spot_max_interruption_bucket is not None
        else ""
    )
    return code, (
        f"needs {asked}{_with(constraints)}; the types that fit and match "
        f"({_type_names(allowed, matching(allowed))}) are not sold in zones {zones} as "
        f"{capacity or 'no capacity type'}{spot_cap}"
    )


def _with(constraints: Constraints) -> str:
    described = constraints.describe()
    return f" with {described}" if described else ""


def _constraint_culprits(
    constraints: Constraints, everything: OfferingTable, fitting: np.ndarray, asked: str
) -> str:
    """Name the pod requirement that alone rules out every offering big enough for it."""
    if constraints.gpu_models:
        gpu_only = Constraints(gpu_models=constraints.gpu_models)
        if not (offering_mask(gpu_only, everything, ()) & fitting).any():
            models = ",".join(sorted(constraints.gpu_models))
            return (
                f"needs {asked} with GPU model in {models}; no instance type with such GPUs is big enough "
                f"(those that fit: {_type_names(everything, fitting)})"
            )
    culprits = [
        requirement.describe()
        for term in constraints.requirement_terms()
        for requirement in term
        if not (everything.label_column(requirement.key).evaluate(requirement) & fitting).any()
    ]
    culprit = f"; {culprits[0]} alone rules out all of them" if culprits else ""
    return (
        f"needs {asked}{_with(constraints)}; no instance type that fits matches those constraints "
        f"(those that fit: {_type_names(everything, fitting)}){culprit}"
    )
