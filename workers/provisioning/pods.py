"""The provisioning loop's words on pods and nodes (the managed-by label, its taints, the annotations
that keep a pod in place) and a pod as the planner takes it. Pure: no Django, no I/O.

What a pod may ask of Nodeless (`nodeless.io/isolate`, `nodeless.io/gpu-models`) is kernel
vocabulary (`engines.kube.labels`), read by `engines.planner.requests.pod_request`."""

from __future__ import annotations

from engines.kube import NVIDIA_GPU, Pod
from engines.kube.pods import DEFAULT_SCHEDULER
from engines.planner import PlannerPolicy, PodRequest
from engines.planner.requests import pod_request

DO_NOT_EVICT_ANNOTATIONS = (
    "nodeless.io/do-not-evict",
    "karpenter.sh/do-not-disrupt",
    "pod.elotl.co/do-not-evict",
)
# Every node Nodeless launches registers with this label (its kubelet's --node-labels): how the loop
# tells its nodes from others. Which record a node belongs to is its providerID's instance id.
MANAGED_LABEL = "nodeless.io/managed-by"
# A packed node keeps this taint until its planned pods are bound, so the default scheduler cannot
# take the room the planner meant for them.
INITIALIZING_TAINT = "nodeless.io/initializing"
# A node launched for one isolated pod keeps this taint for life.
RESERVED_TAINT = "nodeless.io/reserved-for"


class Unplannable(Exception):
    """The pod cannot be planned as it is; the message says why (it stays pending)."""


# The schedulers whose decisions Nodeless models (kube-scheduler's default profile). A pod of any
# other scheduler (Volcano, YuniKorn, fargate-scheduler, a custom profile) is that scheduler's.
MODELLED_SCHEDULERS = frozenset({DEFAULT_SCHEDULER})


def is_ours(pod: Pod, policy: PlannerPolicy) -> bool:
    """Whether Nodeless may plan for and bind this pending pod: a scheduler it models is to place it,
    the policy does not leave it alone, it is not waiting on scheduling gates (its gating controller
    owns it) nor nominated for a node preemption is freeing, and it is not a DaemonSet's or a static
    pod (their node is decided by their owner)."""
    if pod.scheduler_name not in MODELLED_SCHEDULERS or pod.scheduling_gated or pod.nominated_node_name:
        return False
    if pod.is_daemonset or any(ref.get("kind") == "Node" for ref in pod.owner_references):
        return False
    return not policy.exclusions.excludes(pod.namespace, pod.labels)


def may_evict(pod: Pod) -> bool:
    return not any(pod.annotations.get(key, "").lower() == "true" for key in DO_NOT_EVICT_ANNOTATIONS)


def plan_request(pod: Pod, volume_zones: frozenset[str] | None = None) -> PodRequest:
    """The pod as the planner takes it. Raises Unplannable for a pod whose requests cannot be read or
    that asks for GPUs of a vendor Nodeless does not launch (it launches NVIDIA instance types)."""
    others = sorted(pod.gpu_vendors - {NVIDIA_GPU})
    if others:
        raise Unplannable(f"asks for {', '.join(others)}; Nodeless launches NVIDIA GPU instance types only")
    try:
        return pod_request(pod, volume_zones)
    # QuantityError is a ValueError; so is an unknown operator; a list where a number belongs is a
    # TypeError (the API server validates these, but a decision must not crash on one pod).
    except (KeyError, TypeError, ValueError) as error:
        raise Unplannable(f"cannot read its requests or scheduling rules: {error}") from error
