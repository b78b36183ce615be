"""The Kubernetes kernel: the vocabulary every engine, loop and report shares, written once.

- `quantity`: resource quantities, parsed exactly (`parse_quantity`, `millicores`, `mebibytes`).
- `resources`: `Resources`, the integer units the scheduler counts in.
- `capacity`: `CapacityType` (on-demand, spot, serverless) and its spellings on nodes and clouds.
- `labels`: well-known labels, the one label-requirement matcher, taints and tolerations.
- `pods` / `nodes`: typed read-only views of pod and node JSON; `pod_requests`, the one sizing rule.

Pure: no Django, no I/O (`.importlinter`).
"""

from engines.kube.capacity import CapacityType
from engines.kube.nodes import Node
from engines.kube.pods import GPU_RESOURCES, NVIDIA_GPU, Pod, pod_requests, resources_of
from engines.kube.quantity import QuantityError, mebibytes, millicores, parse_quantity
from engines.kube.resources import Resources

__all__ = [
    "GPU_RESOURCES",
    "NVIDIA_GPU",
    "CapacityType",
    "Node",
    "Pod",
    "QuantityError",
    "Resources",
    "mebibytes",
    "millicores",
    "parse_quantity",
    "pod_requests",
    "resources_of",
]
