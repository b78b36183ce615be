"""What the engine returns: replicas per cluster plus the decision record that explains them.

Every result carries the clusters chosen and the best runner-ups with their scores, prices and
egress, the counts of clusters filtered out and why, and a one-line human reason. When replicas
could not be placed, the reason says what a person can change.

The records are NamedTuples rather than frozen dataclasses: equally immutable and typed, built
about three times faster, which shows at thousands of decisions a second; ``_asdict()`` gives the
loop a JSON-ready dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from engines.federation.policy import AssignmentMode, Strategy


class Outcome(StrEnum):
    PLACED = "placed"
    PARTIAL = "partial"
    UNSCHEDULABLE = "unschedulable"


class ClusterScore(NamedTuple):
    """One cluster in a decision.

    For chosen clusters ``replicas`` is what it runs after this decision and ``price_per_hour`` /
    ``egress_per_hour`` are for those replicas; for runner-ups ``replicas`` is 0 and the prices are
    for the replicas it could have taken (``min(desired, available_replicas)``). ``score`` and
    ``price_per_hour`` are None where they mean nothing (a cluster kept while unreachable, a
    cluster that can take no more), so the record serialises to strict JSON.
    """

    cluster_id: str
    cluster_name: str
    replicas: int
    available_replicas: int
    price_per_hour: float | None
    egress_per_hour: float
    score: float | None
    note: str = ""


class Decision(NamedTuple):
    """The record of one placement decision.

    ``chosen`` are the clusters that run the workload afterwards, in the strategy's preference
    order (clusters kept while unreachable last); ``runner_ups`` the best clusters not chosen.
    ``score`` means what ``score_meaning`` says for this strategy. ``filtered`` counts the
    clusters left out, by reason; ``candidate_count`` the clusters that passed the filter.
    """

    strategy: Strategy
    mode: AssignmentMode
    outcome: Outcome
    reason: str
    score_meaning: str
    chosen: tuple[ClusterScore, ...]
    runner_ups: tuple[ClusterScore, ...]
    filtered: tuple[tuple[str, int], ...]
    candidate_count: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the Decision row: nested records as dicts, enums as strings."""
        return {
            "strategy": str(self.strategy),
            "mode": str(self.mode),
            "outcome": str(self.outcome),
            "reason": self.reason,
            "score_meaning": self.score_meaning,
            "chosen": [score._asdict() for score in self.chosen],
            "runner_ups": [score._asdict() for score in self.runner_ups],
            "filtered": {str(reason): count for reason, count in self.filtered},
            "candidate_count": self.candidate_count,
        }

    @property
    def price_per_hour(self) -> float:
        """$/hour of the chosen placement (clusters with an unknown price count as 0)."""
        return sum(score.price_per_hour or 0.0 for score in self.chosen)

    @property
    def egress_per_hour(self) -> float:
        return sum(score.egress_per_hour for score in self.chosen)


class ScheduleResult(NamedTuple):
    """Replicas per cluster id (only clusters with > 0) and the decision that produced them.

    ``unplaced`` counts replicas that fit nowhere (0 for duplicate once any copy is placed).
    ``previous`` is the placement the decision started from, so ``changes()`` gives the deltas the
    loop must apply and ``Fleet.charge`` must account for.
    """

    workload_id: str
    desired: int
    replicas: Mapping[str, int]
    unplaced: int
    decision: Decision
    previous: Mapping[str, int]

    @property
    def outcome(self) -> Outcome:
        return self.decision.outcome

    @property
    def placed(self) -> int:
        return sum(self.replicas.values())

    def changes(self) -> dict[str, int]:
        """Cluster id → replicas to add (positive) or remove (negative)."""
        delta = {cluster: count - self.previous.get(cluster, 0) for cluster, count in self.replicas.items()}
        for cluster, count in self.previous.items():
            if cluster not in self.replicas and count:
                delta[cluster] = -count
        return {cluster: count for cluster, count in delta.items() if count}


def frozen_counts(counts: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(counts))
