"""A kernel `Pod` as the planner's `PodRequest`: what it asks for and every constraint on where it
may run that the planner honours."""

from __future__ import annotations

from engines.kube.labels import GPU_MODELS_ANNOTATION, ISOLATE_ANNOTATION
from engines.kube.pods import Pod
from engines.planner.types import PodRequest


def pod_request(pod: Pod, volume_zones: frozenset[str] | None = None) -> PodRequest:
    """Raises QuantityError when a quantity in the pod cannot be read (ValueError for an unknown
    operator or a malformed rule). `volume_zones`: the zones its volumes allow, read by the caller."""
    annotations = pod.annotations
    return PodRequest(
        uid=pod.uid,
        name=pod.name,
        namespace=pod.namespace,
        requests=pod.requests,
        labels=dict(pod.labels),
        node_selector=dict(pod.node_selector),
        required_node_affinity=pod.required_node_affinity,
        tolerations=pod.tolerations,
        isolate=annotations.get(ISOLATE_ANNOTATION, "").lower() == "true",
        gpu_models=frozenset(
            model.strip() for model in annotations.get(GPU_MODELS_ANNOTATION, "").split(",") if model.strip()
        ),
        priority=pod.priority,
        pod_affinity=pod.pod_affinity,
        pod_anti_affinity=pod.pod_anti_affinity,
        spread=pod.spread,
        host_ports=pod.host_ports,
        volume_zones=volume_zones,
        # Every claim is counted: one that turns out not to attach (EFS, NFS) costs room, never a refusal.
        attachable_volumes=len(pod.claim_names),
        preferred_node_affinity=pod.preferred_node_affinity,
        preferred_pod_affinity=pod.preferred_pod_affinity,
    )
