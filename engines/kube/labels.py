"""Node labels, label requirements, taints and tolerations, with Kubernetes semantics.

New nodes carry the well-known labels below (the values come from the catalog offering); a
pod's node selector and required node affinity are matched against them exactly as the
kube-scheduler would match them against the node once it exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from engines.kube.capacity import KARPENTER_LABEL, NODELESS_LABEL

ARCH = "kubernetes.io/arch"
OS = "kubernetes.io/os"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = KARPENTER_LABEL
INSTANCE_FAMILY = "karpenter.k8s.aws/instance-family"
INSTANCE_GENERATION = "karpenter.k8s.aws/instance-generation"
INSTANCE_CPU = "karpenter.k8s.aws/instance-cpu"
INSTANCE_MEMORY = "karpenter.k8s.aws/instance-memory"
INSTANCE_GPU_COUNT = "karpenter.k8s.aws/instance-gpu-count"
INSTANCE_GPU_NAME = "karpenter.k8s.aws/instance-gpu-name"
COMPUTE_TYPE = "eks.amazonaws.com/compute-type"
HOSTNAME = "kubernetes.io/hostname"
# Ours: the federated workload an object or pod in a member cluster belongs to, and the generation
# of it we applied there.
WORKLOAD_ID = "nodeless.io/workload-id"
GENERATION_ANNOTATION = "nodeless.io/generation"
# What kube-apiserver labels a Job's pods with (the Job strategy's generateSelector): the Job's uid
# selects them; both spellings since Kubernetes 1.27.
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
# Annotations a pod may carry for Nodeless: a node of its own; the GPU models it may run on
# (comma-separated, e.g. "T4,A10G"; absent: any model).
ISOLATE_ANNOTATION = "nodeless.io/isolate"
GPU_MODELS_ANNOTATION = "nodeless.io/gpu-models"

# Older or provider-specific spellings of the same facts; a requirement on an alias is
# evaluated exactly like one on the canonical key.
LABEL_ALIASES: Mapping[str, str] = {
    "beta.kubernetes.io/arch": ARCH,
    "beta.kubernetes.io/os": OS,
    "failure-domain.beta.kubernetes.io/zone": ZONE,
    "failure-domain.beta.kubernetes.io/region": REGION,
    "beta.kubernetes.io/instance-type": INSTANCE_TYPE,
    NODELESS_LABEL: CAPACITY_TYPE,
    "nodeless.io/instance-family": INSTANCE_FAMILY,
}
NUMERIC_LABELS = frozenset({INSTANCE_GENERATION, INSTANCE_CPU, INSTANCE_MEMORY, INSTANCE_GPU_COUNT})


def canonical_key(key: str) -> str:
    return LABEL_ALIASES.get(key, key)


class Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


def value_matches(operator: Operator, values: tuple[str, ...], value: str | None) -> bool:
    """The one label-requirement matcher (node affinity, label selectors, cluster selectors):
    whether a label's value (None when absent) satisfies `operator` over `values`. Gt and Lt
    compare integers; a missing or non-integer value does not match."""
    if operator is Operator.IN:
        return value is not None and value in values
    if operator is Operator.NOT_IN:
        return value is None or value not in values
    if operator is Operator.EXISTS:
        return value is not None
    if operator is Operator.DOES_NOT_EXIST:
        return value is None
    if value is None or not values:
        return False
    try:
        number, bound = int(value), int(values[0])
    except ValueError:
        return False
    return number > bound if operator is Operator.GT else number < bound


@dataclass(frozen=True, slots=True)
class NodeSelectorRequirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with these labels satisfies the requirement (Kubernetes semantics)."""
        return self.matches_value(labels.get(canonical_key(self.key)))

    def matches_value(self, value: str | None) -> bool:
        """Whether a label value (None when the label is absent) satisfies the requirement."""
        return value_matches(self.operator, self.values, value)

    def describe(self) -> str:
        if self.operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return f"{self.key} {self.operator.value}"
        return f"{self.key} {self.operator.value} {','.join(self.values)}"


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """All expressions must hold (AND). A pod's terms are alternatives (OR)."""

    match_expressions: tuple[NodeSelectorRequirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.match_expressions)


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: TaintEffect = TaintEffect.NO_SCHEDULE

    def describe(self) -> str:
        return f"{self.key}={self.value}:{self.effect.value}" if self.value else f"{self.key}:{self.effect}"


class TolerationOperator(StrEnum):
    EQUAL = "Equal"
    EXISTS = "Exists"


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: TolerationOperator = TolerationOperator.EQUAL
    value: str = ""
    effect: TaintEffect | None = None  # None tolerates every effect

    def tolerates(self, taint: Taint) -> bool:
        if self.effect is not None and self.effect is not taint.effect:
            return False
        if self.operator is TolerationOperator.EXISTS:
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


def untolerated_taints(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]) -> list[Taint]:
    """The taints that keep a pod off a node; PreferNoSchedule only discourages, so it never blocks."""
    return [
        taint
        for taint in taints
        if taint.effect is not TaintEffect.PREFER_NO_SCHEDULE
        and not any(toleration.tolerates(taint) for toleration in tolerations)
    ]


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector over pod labels (used by isolation rules)."""

    match_labels: Mapping[str, str]
    match_expressions: tuple[NodeSelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        # Pod labels have no aliases, so look the raw keys up rather than canonical ones.
        return all(
            requirement.matches_value(labels.get(requirement.key)) for requirement in self.match_expressions
        )
