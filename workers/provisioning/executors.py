"""Executors: the pass's recorded commands acted on through the injected ports (the cloud provider and
the kube port). No Django and no rows: what happened is returned, and the pass records it.

Calls are network-bound and independent, so most run on a pool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from clusters.cloud.errors import CloudError
from clusters.cloud.interface import CloudProvider, LaunchRequest, LaunchResult
from engines.kube import Pod
from workers.provisioning.commands import BindPlanned, BindPod, DrainNode
from workers.provisioning.crash import crash_point
from workers.provisioning.pods import INITIALIZING_TAINT
from workers.provisioning.ports import KubePort

# Cloud and API calls of one pass run this many at a time (they are I/O-bound).
PARALLEL_CALLS = 16
T = TypeVar("T")


def parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run independent calls concurrently; results in order."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(calls))) as pool:
        return list(pool.map(lambda call: call(), calls))


def _launch(cloud: CloudProvider, request: LaunchRequest) -> LaunchResult | CloudError:
    try:
        return cloud.launch(request)
    except CloudError as error:
        return error


def launch_instances(
    cloud: CloudProvider, requests: Sequence[LaunchRequest]
) -> list[LaunchResult | CloudError]:
    """Every launch at once (each idempotent by its token); a failure is returned, not raised."""
    return parallel([partial(_launch, cloud, request) for request in requests])


def start_binds(
    pool: ThreadPoolExecutor, kube: KubePort, plans: Sequence[BindPlanned]
) -> list[list[Future[bool]]]:
    """The planned binds, submitted to `pool` (the pass plans meanwhile); one list of calls per plan.
    A pod that must tolerate the node's Nodeless taints gets the tolerations first."""
    return [
        [
            pool.submit(_tolerate_and_bind, kube, pod, plan.node_name, plan.tolerations.get(pod.uid, ()))
            for pod in plan.pods
        ]
        for plan in plans
    ]


def _tolerate_and_bind(
    kube: KubePort, pod: Pod, node_name: str, tolerations: Sequence[Mapping[str, Any]]
) -> bool:
    return _tolerate_and_bind_pod(
        kube, BindPod(pod.namespace, pod.name, node_name, pod.uid, tuple(tolerations))
    )


def _tolerate_and_bind_pod(kube: KubePort, bind: BindPod) -> bool:
    if bind.tolerations and not kube.tolerate(bind.namespace, bind.name, bind.uid, bind.tolerations):
        return False  # gone, replaced or bound meanwhile: nothing to bind
    return kube.bind(bind.namespace, bind.name, bind.node_name)


def bind(kube: KubePort, binds: Sequence[BindPod]) -> int:
    """Bind pods to Ready nodes; how many were bound."""
    calls = [partial(_tolerate_and_bind_pod, kube, b) for b in binds]
    return sum(1 for done in parallel(calls) if done)


def untaint(kube: KubePort, plans: Sequence[BindPlanned]) -> None:
    """Lift the initializing taint of nodes with nothing left to bind."""
    parallel(
        [partial(kube.remove_taint, plan.node_name, INITIALIZING_TAINT) for plan in plans if plan.untaint]
    )


def terminate(cloud: CloudProvider, kube: KubePort, *, node_name: str, instance_id: str) -> None:
    """Cordon, terminate the instance, delete the node (each is a no-op when already done)."""
    if node_name:
        kube.cordon(node_name)
    if instance_id:
        cloud.terminate([instance_id])
    if node_name:
        kube.delete_node(node_name)


def drain(kube: KubePort, step: DrainNode) -> bool:
    """Cordon the node and evict what may be evicted; True once nothing is left on it."""
    kube.cordon(step.node_name)
    crash_point("during_drain")
    remaining = step.held
    for pod in step.evict:
        if kube.evict(pod.namespace, pod.name) == "blocked":
            remaining += 1  # a PodDisruptionBudget says not now; try again next pass
    return remaining == 0
