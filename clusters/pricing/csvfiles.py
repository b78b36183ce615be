"""Reading the reference CSVs under `data/` (see data/README.md for every column)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
_GENERATION = re.compile(r"\d+")


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def as_int(text: str, default: int = 0) -> int:
    return int(float(text)) if text.strip() else default


def as_float(text: str) -> float | None:
    return float(text) if text.strip() else None


def generation_of(family: str) -> int:
    """The generation digits of a family name ('m7g' -> 7, 'x2iedn' -> 2, 'Dsv5' -> 5); 0 if none."""
    match = _GENERATION.search(family)
    return int(match.group()) if match else 0


ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
