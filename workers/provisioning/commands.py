"""What the pass's decisions ask for: frozen commands, recorded as intents (rows and decisions, through
the apps' services) before executors act on them through the cloud and kube ports. Pure.

A command names the record it is about by id and carries the words of its decision; the ledger
(`workers.provisioning.ledger`) knows which row change and which decision kind each one records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from engines.kube import Pod, Resources
from engines.planner import InstanceType, Launch, OfferingChoice
from workers.provisioning.records import Lifecycle, PlannedPod

# --- launching and binding ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanQuality:
    """The plan a launch belongs to, against the best possible for the same pods: its cost and the
    planner's proven lower bound on any plan's cost (both effective $/h), kept with each decision so
    "within x % of the best possible" can be shown and checked later."""

    cost_per_hour: float
    lower_bound_per_hour: float
    pods: int
    launches: int

    def as_json(self) -> dict[str, float | int]:
        return {
            "cost_per_hour": round(self.cost_per_hour, 6),
            "lower_bound_per_hour": round(self.lower_bound_per_hour, 6),
            "pods": self.pods,
            "launches": self.launches,
        }


@dataclass(frozen=True)
class LaunchNode:
    """A node to launch: recorded as a LAUNCHING row with its decision before any cloud call."""

    launch: Launch  # the planner's: ordered offerings, the chosen one, the decision and its runner-ups
    planned: tuple[PlannedPod, ...]
    reserved_for: str = ""  # "namespace/name" of the one pod a reserved node is for
    plan: PlanQuality | None = None

    @property
    def subject(self) -> str:
        return self.reserved_for or f"{len(self.launch.pod_uids)} pods"


@dataclass(frozen=True)
class JoinNode:
    """Pods planned onto a node in flight: bound to it once it is Ready."""

    record_id: str
    planned: tuple[PlannedPod, ...]


@dataclass(frozen=True)
class BindPod:
    """A pod the planner placed on a Ready node: bound now (after gaining `tolerations` for the
    node's Nodeless taints, when it needs any; `uid` makes sure it is still the same pod)."""

    namespace: str
    name: str
    node_name: str
    uid: str = ""
    tolerations: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class LeavePending:
    pod_key: str
    reason: str
    remember: bool = True  # record a decision (once per pod and reason)


@dataclass(frozen=True)
class BindPlanned:
    """Bind the pods planned onto a node that became Ready; keep the room of planned pods still
    running elsewhere; lift the initializing taint once nothing is left to bind."""

    record_id: str
    node_name: str
    pods: tuple[Pod, ...]
    kept: tuple[PlannedPod, ...]
    changed: bool  # the record's planned pods become `kept`
    untaint: bool  # lift the initializing taint (nothing left to bind)
    # Tolerations of the node's Nodeless taints each pod (by uid) gains before its bind.
    tolerations: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)


# --- a node's life -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """The instance registered as a Ready node; `labels` are those to put on it first (what its kubelet
    could not set, or did not: a node registered the stock EKS way carries none of ours)."""

    record_id: str
    node_name: str
    allocatable: Resources
    labels: Mapping[str, str] = field(default_factory=dict)
    # (key, value): the startup taint to make the node's own. The launch template registers every
    # node of its shape with the same value; a pod planned here is given a toleration for this node's
    # value only, so kube-scheduler cannot put it on another node of the template meanwhile.
    own_taint: tuple[str, str] | None = None


@dataclass(frozen=True)
class Forget:
    """The instance is gone: the record ends; its node, if any is left, is deleted."""

    record_id: str
    node_name: str
    was: Lifecycle
    note: str  # the decision's reason; "" when the pass itself terminated it


@dataclass(frozen=True)
class Terminate:
    """Take the node away: recorded as TERMINATING first, then cordon, terminate, delete the node."""

    record_id: str
    node_name: str
    instance_id: str
    reason: str
    price_per_hour: float
    subject: str


@dataclass(frozen=True)
class FinishTermination:
    """A termination recorded earlier whose instance or node is still there: act on it again."""

    record_id: str
    node_name: str
    instance_id: str


@dataclass(frozen=True)
class DrainNode:
    """Cordon and evict; once nothing is left on the node, `then` terminates it."""

    record_id: str
    node_name: str
    evict: tuple[Pod, ...]
    held: int  # pods that may not be evicted (do-not-evict): the drain waits for them
    then: Terminate


# --- disruption ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interrupt:
    """A spot interruption notice: the record goes DRAINING, its node is cordoned, and its pods are
    planned again in this pass."""

    record_id: str
    node_name: str
    reason: str
    note: str
    subject: str
    replacement_pods: tuple[Pod, ...]


@dataclass(frozen=True)
class MarkEmpty:
    record_id: str
    since: datetime | None  # None: busy again


@dataclass(frozen=True)
class Consolidate:
    """Delete nodes whose pods fit elsewhere (they go DRAINING at once), or replace them with one
    cheaper `replacement`: it is recorded first, each node names it (`replaced_by`), and they drain
    once it is Ready."""

    record_ids: tuple[str, ...]
    node_names: tuple[str, ...]
    note: str
    saving_per_hour: float
    replacement: LaunchNode | None = None
    rebalance: bool = False  # replaced early on a rebalance recommendation, not to save money


@dataclass(frozen=True)
class ReplacementDone:
    """The node's replacement is gone (its launch failed): the node is an ordinary one again."""

    record_id: str


@dataclass(frozen=True)
class DrainReplaced:
    """The replacement is Ready: drain the node it replaces."""

    record_id: str
    reason: str


@dataclass(frozen=True)
class CollectInstance:
    """An instance tagged for the cluster that no record owns (a launch that crashed before it was
    recorded): terminated."""

    instance_id: str
    instance_type: str


@dataclass(frozen=True)
class GiveUp:
    """An instance that never became a Ready node: terminated, its record FAILED."""

    record_id: str
    instance_id: str
    subject: str


@dataclass(frozen=True)
class DeleteNode:
    """A node Nodeless labelled that neither a record nor an instance owns any more."""

    node_name: str


DisruptionCommand: TypeAlias = (
    Interrupt | MarkEmpty | Terminate | Consolidate | CollectInstance | GiveUp | DeleteNode
)


def offering_json(choice: OfferingChoice, spec: InstanceType | None = None) -> dict[str, Any]:
    """An offering as rows and decisions keep it; with the type's `spec`, its architecture and GPU
    model too (a decision says what a node runs on, not only what it costs)."""
    described: dict[str, Any] = {
        "instance_type": choice.instance_type,
        "zone": choice.zone,
        "capacity_type": choice.capacity_type.value,
        "price_per_hour": round(choice.price_per_hour, 6),
        "effective_price_per_hour": round(choice.effective_price_per_hour, 6),
        "interruption_bucket": choice.interruption_bucket,
    }
    if spec is not None:
        described["architecture"] = spec.architecture
        described["gpu_model"] = spec.gpu_model if spec.gpus else ""
        described["gpus"] = spec.gpus
    return described
