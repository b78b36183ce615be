"""Resource quantities in the integer units Kubernetes schedules by.

CPU is in millicores, memory and ephemeral storage in MiB, GPUs as whole devices and pods as
a count. Everything is an int so sums never drift and capacity checks are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

# Order of the resource axes in the engine's vectors (see `Resources.as_vector`). GPUs are
# carried in milli-GPUs there, so that shared GPU slices and whole devices use one axis.
CPU, MEMORY, GPU, EPHEMERAL, PODS = range(5)
AXES = ("cpu", "memory", "gpu", "ephemeral-storage", "pods")
MILLI_GPU_PER_GPU = 1000


@dataclass(frozen=True, slots=True)
class Resources:
    """A bundle of schedulable resources (a request, a free capacity or an allocatable)."""

    cpu_millis: int = 0
    memory_mib: int = 0
    gpus: int = 0
    ephemeral_mib: int = 0
    pods: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis + other.cpu_millis,
            self.memory_mib + other.memory_mib,
            self.gpus + other.gpus,
            self.ephemeral_mib + other.ephemeral_mib,
            self.pods + other.pods,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis - other.cpu_millis,
            self.memory_mib - other.memory_mib,
            self.gpus - other.gpus,
            self.ephemeral_mib - other.ephemeral_mib,
            self.pods - other.pods,
        )

    def maximum(self, other: Resources) -> Resources:
        """The larger of the two on every axis."""
        return Resources(
            max(self.cpu_millis, other.cpu_millis),
            max(self.memory_mib, other.memory_mib),
            max(self.gpus, other.gpus),
            max(self.ephemeral_mib, other.ephemeral_mib),
            max(self.pods, other.pods),
        )

    def clamped(self) -> Resources:
        """The same bundle with negative quantities raised to zero."""
        return Resources(
            max(self.cpu_millis, 0),
            max(self.memory_mib, 0),
            max(self.gpus, 0),
            max(self.ephemeral_mib, 0),
            max(self.pods, 0),
        )

    def fits_in(self, capacity: Resources) -> bool:
        return (
            self.cpu_millis <= capacity.cpu_millis
            and self.memory_mib <= capacity.memory_mib
            and self.gpus <= capacity.gpus
            and self.ephemeral_mib <= capacity.ephemeral_mib
            and self.pods <= capacity.pods
        )

    def as_vector(self) -> tuple[int, int, int, int, int]:
        """The engine's axis order, with GPUs in milli-GPUs."""
        return (
            self.cpu_millis,
            self.memory_mib,
            self.gpus * MILLI_GPU_PER_GPU,
            self.ephemeral_mib,
            self.pods,
        )


def describe_vector(vector: tuple[int, ...] | list[int]) -> str:
    """A short human form of an engine vector, e.g. '2.5 vCPU, 8 GiB, 1 GPU'."""
    parts = [f"{vector[CPU] / 1000:g} vCPU", f"{vector[MEMORY] / 1024:.3g} GiB"]
    if vector[GPU]:
        parts.append(f"{vector[GPU] / MILLI_GPU_PER_GPU:g} GPU")
    if vector[EPHEMERAL]:
        parts.append(f"{vector[EPHEMERAL] / 1024:.3g} GiB ephemeral storage")
    return ", ".join(parts)
