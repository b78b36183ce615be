"""Trace replay reads `GPU_MODELS_ANNOTATION` here; the name lives in the kernel (`engines.kube.labels`)
and the pass reads the cluster through `workers.provisioning.reads.observe`."""

from engines.kube.labels import GPU_MODELS_ANNOTATION

__all__ = ["GPU_MODELS_ANNOTATION"]
