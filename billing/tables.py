"""The tables of the dashboard pages, built once and rendered twice: as HTML and as CSV.

A cell carries its display text (`$1,234.57`) and its CSV value (`1234.57`), rounded alike, so the
downloaded file holds exactly the numbers on the page.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.urls import reverse

from billing.models import PodPlacement
from billing.selectors.reports import CAPACITY_LABELS, GROUPINGS, Report, SeriesPoint, workload_name
from engines.kube.capacity import CapacityType
from engines.metering import IDLE_GROUP, SavingsRow, StaticPool
from engines.metering.money import CENTS, rate_text, usd_decimal, usd_text
from engines.metering.windows import DAY, HOUR
from policies.models import Workload


@dataclass(frozen=True)
class Cell:
    text: str
    value: str
    numeric: bool = False
    href: str = ""
    title: str = ""  # the exact figure, when the text rounds it (a rate in cents)


@dataclass(frozen=True)
class Gap:
    """Consecutive rows with nothing in them, shown on the page as one line that says so."""

    text: str


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[Cell, ...]]
    footer: tuple[Cell, ...] | None = None
    # What the page shows when it differs from `rows`: runs of empty periods folded into a Gap.
    # The CSV always holds every row, so a spreadsheet gets one line per period.
    page_rows: Sequence[tuple[Cell, ...] | Gap] | None = None

    @property
    def shown_rows(self) -> Sequence[tuple[Cell, ...] | Gap]:
        return self.rows if self.page_rows is None else self.page_rows

    @property
    def header_cells(self) -> list[tuple[str, bool]]:
        """Headers with whether their column is numeric (right-aligned), as the cells below."""
        sample = self.rows[0] if self.rows else (self.footer or ())
        return [
            (header, index < len(sample) and sample[index].numeric)
            for index, header in enumerate(self.headers)
        ]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.headers)
        for row in [*self.rows, *([self.footer] if self.footer else [])]:
            writer.writerow([cell.value if cell.numeric else spreadsheet_safe(cell.value) for cell in row])
        return out.getvalue()


# A text cell starting with one of these is a formula to a spreadsheet (OWASP's "CSV injection"): a
# cluster or namespace named "=HYPERLINK(...)" must read as text, not run. Numbers (-3.10) are left as
# they are; their cells are marked numeric.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def text(value: str, href: str = "") -> Cell:
    return Cell(value, value, href=href)


def dollars(value: float | Decimal, places: int = CENTS) -> Cell:
    """A sum of money: "$1,234.57" on the page, "1234.57" in the CSV, rounded as the API rounds."""
    rounded = usd_decimal(value, places)
    return Cell(usd_text(rounded), f"{rounded:f}", numeric=True)


def rate(value: float | Decimal, per: str = "h", suffix: bool = True) -> Cell:
    """A price per hour in the one money format (engines.metering.money.rate_text); the CSV holds it
    to six decimals, as the API does."""
    shown = rate_text(value, per, suffix=suffix)
    return Cell(shown.text, f"{shown.exact:f}", numeric=True, title=shown.title)


def percent(value: float | None) -> Cell:
    if value is None:
        return Cell("—", "", numeric=True)
    return Cell(f"{value:.1f} %", f"{value:.1f}", numeric=True)


def number(value: float, places: int = 1) -> Cell:
    return Cell(f"{value:,.{places}f}", f"{value:.{places}f}", numeric=True)


def hours(value: float) -> Cell:
    """Hours to three significant digits (at least one decimal), so that a few minutes still
    multiply out: 100 s is 0.0278 h, not 0.0."""
    places = 1 if value <= 0 else max(1, 2 - math.floor(math.log10(value)))
    return number(value, places)


def duration(seconds: float) -> str:
    """A metered span as a person says it: "12 minutes" under an hour, else hours to two or three
    significant digits ("1.5 hours", "24 hours")."""
    if seconds < 3600:
        count = round(seconds / 60)
        return f"{count} minute{'' if count == 1 else 's'}"
    amount = seconds / 3600
    return f"{amount:.1f} hours" if amount < 10 else f"{amount:.0f} hours"


def _moment(start: datetime, step: str) -> Cell:
    return text(start.strftime("%Y-%m-%d %H:%M" if step == "hour" else "%Y-%m-%d"))


def _span(first: datetime, last: datetime, step: str) -> str:
    """The periods from `first` to `last` (both bucket starts) as one range: hours end where the last
    one ends ("2026-03-02 02:00–09:00"), days are named inclusively ("2026-03-02 – 2026-03-04")."""
    count = round((last - first) / (HOUR if step == "hour" else DAY)) + 1
    if step == "hour":
        end = last + HOUR
        end_text = end.strftime("%H:%M" if end.date() == first.date() else "%Y-%m-%d %H:%M")
        return f"{first:%Y-%m-%d %H:%M}–{end_text} ({count} hour{'' if count == 1 else 's'})"
    if count == 1:
        return f"{first:%Y-%m-%d}"
    return f"{first:%Y-%m-%d} – {last:%Y-%m-%d} ({count} days)"


def _fold_unmetered(
    series: Sequence[SeriesPoint], rows: Sequence[tuple[Cell, ...]], step: str, nothing: str
) -> list[tuple[Cell, ...] | Gap]:
    """The rows of metered periods, with each run of unmetered ones as a single Gap: a day's report
    of a cluster connected at noon would otherwise open with twelve rows of zeros."""
    out: list[tuple[Cell, ...] | Gap] = []
    run: list[datetime] = []
    for point, row in zip(series, rows, strict=True):
        if not point.metered:
            run.append(point.start)
            continue
        if run:
            out.append(Gap(f"{nothing} {_span(run[0], run[-1], step)}"))
            run = []
        out.append(row)
    if run:
        out.append(Gap(f"{nothing} {_span(run[0], run[-1], step)}"))
    return out


NOT_APPLICABLE = Cell("n/a", "n/a", numeric=True)
# Without a metrics source metering charges "used" as the request; showing that figure as usage
# would claim a measurement nobody made.
NOT_MEASURED = Cell("not measured", "not measured", numeric=True)


def serverless_fit(row: SavingsRow) -> str:
    """How much of the row's pod time the serverless baseline really prices ("" when all of it)."""
    if row.serverless_applies and not row.serverless_partial:
        return ""
    fit, total = hours(row.serverless_fit_pod_seconds / 3600), hours(row.pod_seconds / 3600)
    if not row.serverless_applies:
        return f"0 of {total.text} pod-hours fit a serverless shape"
    return f"{fit.text} of {total.text} pod-hours fit a serverless shape; the rest keep their actual cost"


def _savings_cells(row: SavingsRow, label: Cell, *, serverless: bool) -> tuple[Cell, ...]:
    """The baselines in the headline order: on-demand with the same packing (what Nodeless's choices
    saved), static pools (what going nodeless saved), serverless. `serverless`: the baseline applies
    to the window's total; a row whose pods no serverless shape holds then shows their actual cost
    (what the total counts for them), so the column adds up to its total."""
    return (
        label,
        dollars(row.actual),
        dollars(row.on_demand_only),
        dollars(row.static_pool),
        dollars(row.serverless_only) if serverless else NOT_APPLICABLE,
        dollars(row.versus_on_demand_only),
        dollars(row.versus_static_pool),
        dollars(row.versus_serverless_only) if serverless else NOT_APPLICABLE,
    )


SAVINGS_HEADERS = (
    "Actual spend",
    "On-demand, same packing",
    "Static pools",
    "Serverless only",
    "Saved vs on-demand, same packing",
    "Saved vs static pools",
    "Saved vs serverless only",
)


def savings_table(report: Report) -> Table:
    serverless = report.savings.total.serverless_applies
    return Table(
        key="savings",
        title=f"Savings by {GROUPINGS[report.grouping].lower()}",
        headers=(GROUPINGS[report.grouping], *SAVINGS_HEADERS),
        rows=[_savings_cells(row, text(row.label), serverless=serverless) for row in report.savings.rows],
        footer=_savings_cells(report.savings.total, text("Total"), serverless=serverless),
    )


def negative_savings(row: SavingsRow) -> list[str]:
    """One sentence for each baseline the row saved less than nothing against: no negative saving is
    shown without its reason."""
    notes = []
    if row.versus_on_demand_only < -0.005:
        notes.append(
            "Against on-demand with the same packing the saving is negative: some capacity cost more than "
            "on-demand nodes of the same shapes would have — serverless pods priced above a node's share, "
            "or spot above on-demand at the time."
        )
    if row.versus_static_pool < -0.005:
        notes.append(
            "Against static pools the saving is negative: the pool is a low estimate (sized for the "
            "window's peak requests with packing ignored), and the nodes launched — their boot time, "
            "minimum charges and idle capacity included — cost more than such a pool in this window."
        )
    if row.serverless_applies and row.versus_serverless_only < -0.005:
        notes.append(
            "Against serverless the saving is negative: serverless bills each pod for its own size only "
            "and has no idle capacity, while the nodes' cost includes the capacity no pod requested "
            "(the idle capacity row of the report)."
        )
    return notes


def savings_notes(report: Report) -> list[str]:
    """The sentences under the savings table: why the total, or any row, saved less than nothing."""
    notes = negative_savings(report.savings.total)  # at most one sentence per row follows
    if report.savings.shared:
        notes.append(
            f"Shared costs: {', '.join(report.savings.shared)} spread over the other rows in proportion to "
            "their spend, every column alike (OpenCost's shared namespaces); the total is unchanged."
        )
    for row in report.savings.rows:
        if row.group == IDLE_GROUP:
            if row.serverless_applies and row.versus_serverless_only < -0.005:
                notes.append(
                    "The idle capacity row is what the nodes cost beyond their pods' requests; serverless "
                    "has no idle capacity, so the saving against it is negative there by construction "
                    "(each pod's row compares pods with pods)."
                )
            continue
        reasons = negative_savings(row)
        if reasons:
            notes.append(f"{row.label}: {reasons[0]}")
    return notes


def spend_table(report: Report) -> Table:
    rows = [
        (
            _moment(point.start, report.window.step),
            *(dollars(point.spend_by_capacity.get(kind, 0.0)) for kind in CapacityType),
            dollars(point.actual),
            dollars(point.static_pool),
            dollars(point.on_demand_only),
            NOT_APPLICABLE if point.serverless_only is None else dollars(point.serverless_only),
        )
        for point in report.series
    ]
    return Table(
        key="spend",
        # Not "Spend over time": that is the chart's title on the same page.
        title=f"Spend per {report.window.step}, by capacity type and baseline",
        headers=(
            "Period (UTC)",
            "On-demand",
            "Spot",
            "Serverless",
            "Actual spend",
            "Static pools",
            "On-demand only",
            "Serverless only",
        ),
        rows=rows,
        page_rows=_fold_unmetered(report.series, rows, report.window.step, "no spend metered"),
    )


def utilization_cells(point: SeriesPoint, usage_measured: bool) -> tuple[Cell, ...]:
    """Requested and used shares of allocatable CPU and memory, and the allocatable amounts; "used"
    only when some usage in the window came from a metrics source (`usage_measured`)."""
    return (
        percent(point.cpu_requested_pct),
        percent(point.cpu_used_pct) if usage_measured else NOT_MEASURED,
        percent(point.memory_requested_pct),
        percent(point.memory_used_pct) if usage_measured else NOT_MEASURED,
        number(point.cpu_allocatable),
        number(point.memory_allocatable),
    )


def utilization_table(report: Report) -> Table:
    rows = [
        (_moment(point.start, report.window.step), *utilization_cells(point, report.usage_measured))
        for point in report.series
    ]
    return Table(
        key="utilization",
        title=f"Utilization per {report.window.step}",
        headers=(
            "Period (UTC)",
            "CPU requested",
            "CPU used",
            "Memory requested",
            "Memory used",
            "CPU allocatable (core-hours)",
            "Memory allocatable (GiB-hours)",
        ),
        rows=rows,
        page_rows=_fold_unmetered(report.series, rows, report.window.step, "nothing metered"),
    )


def _describe(size: StaticPool | None) -> Cell:
    if size is None:
        return text("no on-demand type holds the largest pod: priced as on-demand only")
    return text(f"{size.nodes} × {size.instance_type}" if size.nodes else "—")


def pools_table(report: Report) -> Table:
    return Table(
        key="pools",
        title="Static pools sized for the window's peak",
        headers=("Cluster", "CPU pool", "GPU pool", "Metered hours", "Pool $/hour", "Pool cost"),
        rows=[
            (
                text(pool.cluster_name),
                _describe(pool.cpu_pool),
                _describe(pool.gpu_pool),
                hours(pool.metered_hours),
                rate(pool.cost_per_hour, suffix=False),
                dollars(pool.cost),
            )
            for pool in report.pools
        ],
    )


REPORT_TABLES = {
    "savings": savings_table,
    "spend": spend_table,
    "utilization": utilization_table,
    "pools": pools_table,
}


NOT_LAUNCHED_BY_NODELESS = "placed by kube-scheduler on a node Nodeless did not launch"
NO_LAUNCH_DECISION = "no launch decision recorded for its node"


def _decision_link(decision_id: object) -> Cell:
    """On the page a link to the decision's explanation; in the CSV its id, which a spreadsheet can
    look up (GET /api/v1/decisions/<id>/) where "why?" said nothing."""
    return Cell("why?", str(decision_id), href=reverse("decision-detail", args=[decision_id]))


def _decision_cell(row: PodPlacement) -> Cell:
    """The decision behind a pod's node, or why there is none to show."""
    if row.decision_id:
        return _decision_link(row.decision_id)
    if not row.node_name:
        return text("—")
    return text(NO_LAUNCH_DECISION if row.managed_node_id else NOT_LAUNCHED_BY_NODELESS)


def pods_table(rows: Iterable[PodPlacement]) -> Table:
    out = []
    for row in rows:
        node_price = row.node_price_per_hour if row.node_name else None
        out.append(
            (
                text(f"{row.namespace}/{row.name}"),
                text(workload_name(row.namespace, row.workload)),
                text(row.cluster.name, reverse("cluster-detail", args=[row.cluster_id])),
                text(row.node_name or "pending"),
                text(row.instance_type or "—"),
                text(CAPACITY_LABELS.get(row.capacity_type, row.capacity_type or "—")),
                text(row.zone or "—"),
                rate(node_price, suffix=False) if node_price is not None else text("—"),
                # A pod not on a priced node costs nothing yet: "—", like the node columns beside it.
                rate(row.cost_per_hour, suffix=False) if node_price is not None else text("—"),
                _decision_cell(row),
            )
        )
    return Table(
        key="pods",
        title="Pods",
        headers=(
            "Pod",
            "Workload",
            "Cluster",
            "Node",
            "Instance type",
            "Capacity",
            "Zone",
            "Node $/hour",
            "Pod $/hour",
            "Decision",
        ),
        rows=out,
    )


def workloads_table(workloads: Sequence[Workload]) -> Table:
    rows = []
    for workload in workloads:
        placements = ", ".join(
            f"{placement.cluster.name}: {placement.replicas}" for placement in workload.placements.all()
        )
        decision = getattr(workload, "latest_decision_id", None)
        rows.append(
            (
                text(workload.name, reverse("workload-detail", args=[workload.pk])),
                text(workload.namespace),
                text(workload.kind),
                text(workload.get_status_display()),
                text(placements or "not placed"),
                _decision_link(decision) if decision else text(""),
            )
        )
    return Table(
        key="workloads",
        title="Federated workloads",
        headers=("Workload", "Namespace", "Kind", "Status", "Replicas per cluster", "Decision"),
        rows=rows,
    )
