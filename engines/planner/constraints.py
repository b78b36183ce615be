"""A pod's placement constraints, reduced to a hashable signature shared by identical pods.

Pods with the same node selector, required node affinity, tolerations and GPU-model
allowlist can go to exactly the same offerings, so the engine evaluates each signature once
(as a boolean mask over the offering table) rather than once per pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engines.kube.labels import (
    ARCH,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Operator,
    Taint,
    Toleration,
    canonical_key,
    untolerated_taints,
)
from engines.planner.table import BoolArray, OfferingTable
from engines.planner.types import PodRequest


@dataclass(frozen=True, slots=True)
class Constraints:
    node_selector: tuple[tuple[str, str], ...] = ()
    affinity: tuple[NodeSelectorTerm, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    gpu_models: frozenset[str] = frozenset()

    def requirement_terms(self) -> list[list[NodeSelectorRequirement]]:
        """Alternatives (OR) of requirement lists (AND): the selector joins every affinity term."""
        base = [NodeSelectorRequirement(key, Operator.IN, (value,)) for key, value in self.node_selector]
        if not self.affinity:
            return [base]
        return [base + list(term.match_expressions) for term in self.affinity]

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        return any(all(r.matches(labels) for r in term) for term in self.requirement_terms())

    def blocking_taints(self, taints: tuple[Taint, ...]) -> list[Taint]:
        return untolerated_taints(taints, self.tolerations)

    def accepts_gpu_model(self, model: str) -> bool:
        return not self.gpu_models or model in self.gpu_models

    def describe(self) -> str:
        """The constraints in a short human form ('' when there are none)."""
        parts: list[str] = [f"{key}={value}" for key, value in self.node_selector]
        terms = [" and ".join(r.describe() for r in term.match_expressions) for term in self.affinity]
        if terms:
            parts.append("(" + " or ".join(terms) + ")")
        if self.gpu_models:
            parts.append("GPU model in " + ",".join(sorted(self.gpu_models)))
        return ", ".join(parts)


UNCONSTRAINED = Constraints()


def constraints_of(pod: PodRequest, default_architectures: frozenset[str] = frozenset()) -> Constraints:
    """The pod's constraints; a pod that says nothing about `kubernetes.io/arch` (no selector, and an
    affinity term without it) is held to `default_architectures` in that term, when some are given:
    its images may well be built for one architecture only (see `PlannerPolicy`)."""
    gpu_models = pod.gpu_models if pod.wants_gpu else frozenset()
    affinity = pod.required_node_affinity
    if default_architectures and not any(canonical_key(key) == ARCH for key in pod.node_selector):
        default = NodeSelectorRequirement(ARCH, Operator.IN, tuple(sorted(default_architectures)))
        affinity = tuple(_with_default(term, default) for term in affinity) or (NodeSelectorTerm((default,)),)
    if not (pod.node_selector or affinity or pod.tolerations or gpu_models):
        return UNCONSTRAINED  # the common case, kept cheap: no sorting, no allocation
    return Constraints(tuple(sorted(pod.node_selector.items())), affinity, pod.tolerations, gpu_models)


def _with_default(term: NodeSelectorTerm, default: NodeSelectorRequirement) -> NodeSelectorTerm:
    if any(canonical_key(r.key) == ARCH for r in term.match_expressions):
        return term
    return NodeSelectorTerm((*term.match_expressions, default))


def offering_mask(
    constraints: Constraints, table: OfferingTable, node_taints: tuple[Taint, ...]
) -> BoolArray:
    """Offerings in `table` whose new nodes would satisfy the constraints."""
    size = len(table)
    if constraints.blocking_taints(node_taints):
        return np.zeros(size, bool)
    mask = np.zeros(size, bool)
    for term in constraints.requirement_terms():
        term_mask = np.ones(size, bool)
        for requirement in term:
            term_mask &= table.label_column(requirement.key).evaluate(requirement)
        mask |= term_mask
    if constraints.gpu_models:
        accepted = np.fromiter(
            (t.gpus == 0 or t.gpu_model in constraints.gpu_models for t in table.types),
            bool,
            len(table.types),
        )
        mask &= accepted[table.type_of]
    return mask
