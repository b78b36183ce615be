"""The right-sizing table, one row per workload container, rendered on the page and as CSV (the
cells of `billing.tables`, so the CSV escapes text as every other export does)."""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse

from billing.resize_snippets import cpu_quantity, memory_quantity
from billing.selectors.rightsizing import ContainerRow, WorkloadRecommendation
from billing.tables import Cell, Table, dollars, number, text
from engines.metering.rightsizing import Verdict

VERDICT_LABELS = {
    Verdict.RESIZE: "Resize",
    Verdict.RIGHT_SIZED: "Right-sized",
    Verdict.INSUFFICIENT_DATA: "Too little data",
}


def _cpu(cores: float | None) -> Cell:
    if cores is None:
        return text("—")
    quantity = cpu_quantity(cores) if cores > 0 else "none"
    return Cell(quantity, quantity, numeric=True)  # as kubectl takes it, on the page and in the CSV


def _memory(gib: float | None) -> Cell:
    if gib is None:
        return text("—")
    quantity = memory_quantity(gib) if gib > 0 else "none"
    return Cell(quantity, quantity, numeric=True)


def _row(workload: WorkloadRecommendation, row: ContainerRow, *, reasons: bool) -> tuple[Cell, ...]:
    recommendation = row.recommendation
    recommended = recommendation.recommended
    cells = (
        text(workload.workload),
        text(workload.namespace),
        text(workload.cluster_name, reverse("cluster-detail", args=[workload.cluster_id])),
        text(row.name),
        _cpu(recommendation.current.cpu),
        _cpu(recommended.cpu if recommended else None),
        _memory(recommendation.current.memory_gib),
        _memory(recommended.memory_gib if recommended else None),
        number(workload.replicas, 2),
        text(VERDICT_LABELS[recommendation.verdict]),
        text(recommendation.confidence.value),
        dollars(float(row.monthly_saving)) if row.monthly_saving is not None else text("—"),
    )
    return (*cells, text(" ".join(recommendation.reasons))) if reasons else cells


def rightsizing_table(workloads: Iterable[WorkloadRecommendation], *, reasons: bool = True) -> Table:
    """The table; without `reasons` (the page, which shows them under each workload) it stops
    before the "Why" column, so no cell holds a paragraph."""
    headers = HEADERS if reasons else HEADERS[:-1]
    return Table(
        key="rightsizing",
        title="Right-sizing",
        headers=headers,
        rows=[_row(workload, row, reasons=reasons) for workload in workloads for row in workload.containers],
    )


HEADERS = (
    "Workload",
    "Namespace",
    "Cluster",
    "Container",
    "CPU request",
    "CPU recommended",
    "Memory request",
    "Memory recommended",
    "Average pods",
    "Verdict",
    "Confidence",
    "Saving $/month",
    "Why",
)
