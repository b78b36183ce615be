"""Which accelerators count as GPUs for planning: NVIDIA's, the only ones behind `nvidia.com/gpu`,
the resource GPU pods ask for and the one Nodeless plans for. A Habana Gaudi (dl1) or AMD Radeon
(g4ad) node advertises another resource, so a GPU pod launched onto one would never start: such
types enter the catalog as CPU-only shapes.

The catalogs name the maker for most rows; Azure's often leave it blank, and then the model tells
(NVIDIA's models are spelt alike everywhere: T4, T4g, V100-32GB, A10G, A100-80GB, L40S, H200, B300,
RTX PRO 6000, M60, K80, P100…).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from clusters.pricing.csvfiles import as_int

_NVIDIA_GPU_MODEL = re.compile(
    r"^(?:nvidia\s+|tesla\s+)?(?:[abhklmptv]\d+[a-z]?\b|gb\d+|rtx\b)", re.IGNORECASE
)


def is_nvidia_gpu(manufacturer: str, model: str) -> bool:
    if manufacturer.strip():
        return manufacturer.strip().lower() == "nvidia"
    return bool(_NVIDIA_GPU_MODEL.match(model.strip()))


def schedulable_gpus(row: Mapping[str, str]) -> tuple[int, str, int]:
    """(GPUs, model, GPU memory in MiB) of a catalog row, all zero/empty unless they are NVIDIA's."""
    count = as_int(row["gpu_count"])
    if count and is_nvidia_gpu(row.get("gpu_manufacturer", ""), row.get("gpu_model", "")):
        return count, row["gpu_model"], as_int(row["gpu_memory_mib"])
    return 0, "", 0
