"""The engine's view of a FederationPolicy: cluster selector, strategy and its settings.

Every dataclass validates itself on construction and raises ``PolicyError`` naming the offending
field, so the policy form and API can refuse a policy the engine could not execute.
All of them are hashable: the engine caches per-selector filtering on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from engines.kube.labels import Operator, value_matches


class PolicyError(ValueError):
    """A policy the engine cannot execute. ``field`` is a dotted path into the policy."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


@dataclass(frozen=True, slots=True)
class LabelExpression:
    """One requirement on a cluster label, with Kubernetes node-affinity semantics.

    Gt and Lt compare integers; a label that is missing or not an integer does not match.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            raise PolicyError("key", "a label expression needs a key")
        if self.operator in (Operator.IN, Operator.NOT_IN) and not self.values:
            raise PolicyError("values", f"{self.operator} on {self.key!r} needs at least one value")
        if self.operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and self.values:
            raise PolicyError("values", f"{self.operator} on {self.key!r} takes no values")
        if self.operator in (Operator.GT, Operator.LT):
            if len(self.values) != 1:
                raise PolicyError("values", f"{self.operator} on {self.key!r} needs exactly one value")
            try:
                int(self.values[0])
            except ValueError:
                raise PolicyError(
                    "values", f"{self.operator} on {self.key!r} needs an integer, got {self.values[0]!r}"
                ) from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        return value_matches(self.operator, self.values, labels.get(self.key))

    def describe(self) -> str:
        """Short human form: ``env=prod``, ``env in (a, b)``, ``env!=dev``, ``gpu``, ``!gpu``, ``tier>2``."""
        joined = ", ".join(self.values)
        match self.operator:
            case Operator.IN:
                return f"{self.key}={joined}" if len(self.values) == 1 else f"{self.key} in ({joined})"
            case Operator.NOT_IN:
                return f"{self.key}!={joined}" if len(self.values) == 1 else f"{self.key} notin ({joined})"
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return f"!{self.key}"
            case Operator.GT:
                return f"{self.key}>{joined}"
            case Operator.LT:
                return f"{self.key}<{joined}"


@dataclass(frozen=True, slots=True)
class ClusterSelector:
    """All expressions must match (AND). The empty selector matches every cluster."""

    expressions: tuple[LabelExpression, ...] = ()
    # Selectors key the engine's memo tables on every decision; hash them once.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self.expressions))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def equals(cls, **labels: str) -> ClusterSelector:
        """``ClusterSelector.equals(env="prod", cloud="aws")``: each label must have that value."""
        return cls(tuple(LabelExpression(key, Operator.IN, (value,)) for key, value in labels.items()))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(expression.matches(labels) for expression in self.expressions)

    def describe(self) -> str:
        return ", ".join(expression.describe() for expression in self.expressions) or "(any cluster)"


ANY_CLUSTER = ClusterSelector()


class Strategy(StrEnum):
    CHEAPEST = "cheapest"
    MOST_CAPACITY = "most_capacity"
    SPREAD = "spread"
    DUPLICATE = "duplicate"
    FILL_THEN_BURST = "fill_then_burst"
    PINNED = "pinned"


class SpreadBy(StrEnum):
    CLUSTER = "cluster"
    REGION = "region"
    CLOUD = "cloud"


class WeightMode(StrEnum):
    """How ``spread`` divides replicas, in Karmada's terms (``replicaScheduling``):

    - CAPACITY: ``Divided``/``Weighted`` with ``dynamicWeight: AvailableReplicas``;
    - STATIC: ``Divided``/``Weighted`` with a ``staticWeightList`` (no rules: every cluster weighs 1,
      as Karmada's default weight preference);
    - AGGREGATED: ``Divided``/``Aggregated``, as few clusters as hold the replicas.
    """

    CAPACITY = "capacity"
    STATIC = "static"
    AGGREGATED = "aggregated"


class AssignmentMode(StrEnum):
    """STEADY keeps what runs and changes only what must change; FRESH re-plans from scratch
    (an explicit rebalance), still preferring current clusters by the policy's stickiness."""

    STEADY = "steady"
    FRESH = "fresh"


@dataclass(frozen=True, slots=True)
class WeightRule:
    """A static weight for clusters named here (by id or name) or matching ``selector``.

    A cluster's weight is the largest weight of the rules that match it; clusters matching no rule
    (or only weight-0 rules) get no replicas. If no cluster has a positive weight, all weigh 1.
    """

    weight: int
    cluster_names: frozenset[str] = frozenset()
    selector: ClusterSelector | None = None

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise PolicyError("weight", f"weights must be >= 0, got {self.weight}")
        if not self.cluster_names and self.selector is None:
            raise PolicyError("cluster_names", "a weight rule needs cluster names or a selector")

    def matches(self, cluster_id: str, name: str, labels: Mapping[str, str]) -> bool:
        if cluster_id in self.cluster_names or name in self.cluster_names:
            return True
        return self.selector is not None and self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class SpreadSettings:
    """How `spread` chooses clusters and divides replicas.

    ``spread_by`` is the topology domain. With CLUSTER, ``min_groups``/``max_groups`` are the min
    and max number of clusters. With REGION or CLOUD they count regions or clouds, and each chosen
    domain contributes its one best cluster. Static weights without rules weigh every cluster 1
    (Karmada's ``getDefaultWeightPreference``), so the form's defaults always make a valid policy.
    """

    weights: WeightMode = WeightMode.CAPACITY
    static_weights: tuple[WeightRule, ...] = ()
    spread_by: SpreadBy = SpreadBy.CLUSTER
    min_groups: int = 1
    max_groups: int | None = None

    def __post_init__(self) -> None:
        if self.min_groups < 1:
            raise PolicyError("spread.min_groups", f"must be >= 1, got {self.min_groups}")
        if self.max_groups is not None and self.max_groups < self.min_groups:
            raise PolicyError(
                "spread.max_groups",
                f"({self.max_groups}) is smaller than spread.min_groups ({self.min_groups})",
            )


@dataclass(frozen=True, slots=True)
class BurstSettings:
    """Ordered tiers for `fill_then_burst`, and the rule that stops replicas flapping between them.

    Replicas return to a higher tier only when the placement has been unchanged for
    ``return_after_seconds`` and the higher tier keeps at least ``return_headroom`` of its room
    for this workload free after the move (at least one replica), so the tier is not filled to
    the brim the moment it frees up and immediately overflowed again.
    """

    tiers: tuple[ClusterSelector, ...]
    return_headroom: float = 0.1
    return_after_seconds: float = 300.0

    def __post_init__(self) -> None:
        if len(self.tiers) < 1:
            raise PolicyError("burst.tiers", "fill_then_burst needs at least one tier")
        if not 0 <= self.return_headroom < 1:
            raise PolicyError("burst.return_headroom", f"must be in [0, 1), got {self.return_headroom}")
        if self.return_after_seconds < 0:
            raise PolicyError("burst.return_after_seconds", "must be >= 0")


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    """The engine view of a FederationPolicy.

    ``egress_weight`` scales egress cost before it is added to price (cost-aware strategies:
    cheapest and the order inside fill_then_burst tiers). ``stickiness`` in [0, 1) is the
    fraction by which a cluster already running the workload is favoured when ranking.
    """

    strategy: Strategy
    selector: ClusterSelector = ANY_CLUSTER
    spread: SpreadSettings = field(default_factory=SpreadSettings)
    burst: BurstSettings | None = None
    pinned: tuple[str, ...] = ()
    egress_weight: float = 1.0
    stickiness: float = 0.1

    def __post_init__(self) -> None:
        if self.strategy is Strategy.FILL_THEN_BURST and self.burst is None:
            raise PolicyError("burst", "fill_then_burst needs burst tiers")
        if self.strategy is Strategy.PINNED and not self.pinned:
            raise PolicyError("pinned", "pinned needs at least one cluster name")
        if self.egress_weight < 0:
            raise PolicyError("egress_weight", f"must be >= 0, got {self.egress_weight}")
        if not 0 <= self.stickiness < 1:
            raise PolicyError("stickiness", f"must be in [0, 1), got {self.stickiness}")
