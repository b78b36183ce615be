"""Dashboard pages: overview, reports (window and grouping controls, CSV of every table), placement
(where every pod and workload runs, and why), the decision detail, and right-sizing."""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from billing import charts, selectors, tables
from billing.models import PodPlacement
from billing.rightsizing_table import rightsizing_table
from billing.selectors import focus
from billing.selectors.placement import PLACEMENT_FILTERS
from billing.selectors.reports import CAPACITY_LABELS, DEFAULT_GROUPING, Report
from billing.selectors.rightsizing import (
    WINDOWS as RIGHTSIZING_WINDOWS,
)
from billing.selectors.rightsizing import (
    RightsizingError,
    WorkloadRecommendation,
    parse_rightsizing_window,
    rightsizing_namespaces,
    rightsizing_recommendations,
    rightsizing_summary,
)
from billing.selectors.usage import organization_clusters
from clusters.models import Cluster
from engines.metering import WindowError, parse_window
from engines.metering.windows import DEFAULT_WINDOW, PRESETS
from policies.models import Decision
from tenants.access import get_for_organization
from tenants.decorators import organization_view
from tenants.http import OrganizationRequest

PODS_PER_PAGE = 50
WORKLOADS_PER_PAGE = 25


@organization_view()
@require_safe
def overview(request: OrganizationRequest) -> HttpResponse:
    data = selectors.overview(request.organization, timezone.now())
    context = {
        "section": "overview",
        "overview": data,
        "daily_chart": charts.spend_chart(data.daily, data.month.step),
        "nodes_chart": charts.nodes_chart(data.nodes),
        "utilization": tables.utilization_cells(data.utilization, data.usage_measured),
        "savings_notes": tables.negative_savings(data.savings),
    }
    return render(request, "billing/overview.html", context)


@dataclass(frozen=True)
class ReportQuery:
    """The window and grouping a request asks for, with what was wrong with them: one sentence per
    problem, each naming what is shown instead."""

    window_key: str
    grouping: str
    date_from: str
    date_to: str
    problems: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()  # namespaces whose costs are spread over the others

    @property
    def shared_text(self) -> str:
        return ", ".join(self.shared)

    @property
    def error(self) -> str:
        return " ".join(self.problems)


def _report_query(request: OrganizationRequest) -> ReportQuery:
    window = request.GET.get("window") or DEFAULT_WINDOW
    date_from, date_to = request.GET.get("from", ""), request.GET.get("to", "")
    problems = []
    if window == "custom":
        if date_from and date_to:
            window = f"{date_from},{date_to}"
        else:
            window = DEFAULT_WINDOW
            problems.append(
                f"A custom window needs both a start and an end date. Showing {PRESETS[window].lower()} instead."
            )
    elif "," in window:
        date_from, _, date_to = window.partition(",")
    try:
        grouping = selectors.parse_grouping(request.GET.get("group"))
    except selectors.ReportError as error:
        grouping = DEFAULT_GROUPING
        problems.append(f"{error} Grouping by {selectors.GROUPINGS[grouping].lower()} instead.")
    try:
        shared = selectors.parse_shared(request.GET.get("share"))
    except selectors.ReportError as error:
        shared = ()
        problems.append(f"{error} Sharing no namespace's costs instead.")
    return ReportQuery(window, grouping, date_from, date_to, tuple(problems), shared)


def _report(request: OrganizationRequest) -> tuple[Report, ReportQuery]:
    query = _report_query(request)
    now = timezone.now()
    problems = list(query.problems)
    try:
        window = parse_window(query.window_key, now)
    except WindowError as problem:
        window = parse_window(DEFAULT_WINDOW, now)
        problems.append(f"{problem} Showing {window.label.lower()} instead.")
    query = ReportQuery(
        window.key, query.grouping, query.date_from, query.date_to, tuple(problems), query.shared
    )
    return selectors.report(request.organization, window, query.grouping, query.shared), query


@organization_view()
@require_safe
def reports(request: OrganizationRequest) -> HttpResponse:
    report, query = _report(request)
    context = {
        "section": "reports",
        "report": report,
        "query": query,
        "presets": PRESETS,
        "groupings": selectors.GROUPINGS,
        "methods": selectors.BASELINE_METHODS,
        "tables": [builder(report) for builder in tables.REPORT_TABLES.values()],
        "savings_notes": tables.savings_notes(report),
        "spend_chart": charts.spend_chart(report.series, report.window.step),
        "savings_chart": charts.savings_chart(report.savings.rows),
        "savings_chart_groups": charts.TOP_GROUPS,
        "utilization_chart": charts.utilization_chart(report.series, report.window.step),
    }
    template = "billing/partials/_report.html" if request.htmx else "billing/reports.html"
    return render(request, template, context)


def _csv(table: tables.Table, name: str) -> HttpResponse:
    response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@organization_view()
@require_safe
def reports_csv(request: OrganizationRequest) -> HttpResponse:
    builder = tables.REPORT_TABLES.get(request.GET.get("table", ""))
    if builder is None:
        raise Http404(f"No such table; use one of {', '.join(tables.REPORT_TABLES)}.")
    report, query = _report(request)
    if query.error:
        # A download is not a page that can show what was wrong next to a fallback: refuse it.
        return HttpResponseBadRequest(query.error, content_type="text/plain; charset=utf-8")
    table = builder(report)
    window = report.window.key.replace(",", "_to_")
    return _csv(table, f"nodeless-{table.key}-{report.grouping}-{window}")


class _Echo:
    """A file whose write returns the line, for csv.writer into a streamed response."""

    def write(self, value: str) -> str:
        return value


@organization_view()
@require_safe
def reports_focus_csv(request: OrganizationRequest) -> HttpResponse | StreamingHttpResponse:
    """The window's compute spend in the FinOps FOCUS columns, one row per node and hour, streamed."""
    query = _report_query(request)
    if query.error:
        return HttpResponseBadRequest(query.error, content_type="text/plain; charset=utf-8")
    try:
        window = parse_window(query.window_key, timezone.now())
    except WindowError as problem:
        return HttpResponseBadRequest(str(problem), content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())
    rows = selectors.focus_rows(request.organization, window.start, window.end)
    lines = itertools.chain(
        [writer.writerow(focus.COLUMNS)],
        (writer.writerow([tables.spreadsheet_safe(cell) for cell in row.cells()]) for row in rows),
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = f"nodeless-focus-{window.key.replace(',', '_to_')}"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _placement_filters(request: OrganizationRequest) -> dict[str, str]:
    filters = {name: request.GET.get(name, "") for name in PLACEMENT_FILTERS}
    if filters["cluster"]:
        # Another organization's cluster, or no cluster at all, is a 404 like any other object.
        filters["cluster"] = str(get_for_organization(request.organization, Cluster, filters["cluster"]).pk)
    return filters


def _pods_page(request: OrganizationRequest, filters: dict[str, str]) -> Page[PodPlacement]:
    rows = selectors.pod_placements(request.organization, filters)
    return Paginator(rows, PODS_PER_PAGE).get_page(request.GET.get("page"))


@organization_view()
@require_safe
def placement(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    filters = _placement_filters(request)
    page = _pods_page(request, filters)
    context = {
        "section": "placement",
        "filters": filters,
        "clusters": organization_clusters(organization).values(),
        "namespaces": selectors.placement_namespaces(organization),
        "capacity_types": CAPACITY_LABELS,
        "page": page,
        "pods": tables.pods_table(page.object_list),
        "workloads": tables.workloads_table(selectors.federated_workloads(organization)),
    }
    template = "billing/partials/_pods.html" if request.htmx else "billing/placement.html"
    return render(request, template, context)


@organization_view()
@require_safe
def placement_csv(request: OrganizationRequest) -> HttpResponse:
    kind = request.GET.get("table", "pods")
    if kind == "workloads":
        return _csv(
            tables.workloads_table(selectors.federated_workloads(request.organization, limit=10_000)),
            "nodeless-workloads",
        )
    if kind != "pods":
        raise Http404("No such table; use pods or workloads.")
    rows = selectors.pod_placements(request.organization, _placement_filters(request))
    return _csv(tables.pods_table(rows.iterator(chunk_size=2000)), "nodeless-pods")


@organization_view()
@require_safe
def decision_detail(request: OrganizationRequest, decision_id: int) -> HttpResponse:
    decision = get_for_organization(
        request.organization, Decision.objects.select_related("cluster", "node", "workload"), decision_id
    )
    pods = list(selectors.decision_pods(decision).select_related("cluster")[:200])
    context = {
        "section": "placement",
        "decision": decision,
        "options": selectors.decision_options(decision),
        "inputs": selectors.decision_inputs(decision),
        "certificate": selectors.decision_plan_certificate(decision),
        "pods": tables.pods_table(pods),
        "pod_cost_per_hour": sum(float(pod.cost_per_hour) for pod in pods),
    }
    return render(request, "billing/decision_detail.html", context)


@dataclass(frozen=True)
class RightsizingQuery:
    cluster: str
    namespace: str
    window: str


def _rightsizing_query(request: OrganizationRequest) -> RightsizingQuery:
    """The filters, checked: another organization's cluster is a 404; a bad window a RightsizingError."""
    cluster = request.GET.get("cluster", "")
    if cluster:
        cluster = str(get_for_organization(request.organization, Cluster, cluster).pk)
    window = parse_rightsizing_window(request.GET.get("window"))
    return RightsizingQuery(cluster, request.GET.get("namespace", ""), window)


def _recommendations(
    request: OrganizationRequest, query: RightsizingQuery, clusters: dict[str, Cluster] | None = None
) -> list[WorkloadRecommendation]:
    return rightsizing_recommendations(
        request.organization,
        now=timezone.now(),
        window=query.window,
        cluster_id=query.cluster,
        namespace=query.namespace,
        clusters=clusters,
    )


@organization_view()
@require_safe
def rightsizing(request: OrganizationRequest) -> HttpResponse:
    try:
        query = _rightsizing_query(request)
    except RightsizingError as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    clusters = organization_clusters(request.organization)
    workloads = _recommendations(request, query, clusters)
    page = Paginator(workloads, WORKLOADS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "section": "rightsizing",
        "query": query,
        "windows": RIGHTSIZING_WINDOWS,
        "clusters": clusters.values(),
        "namespaces": rightsizing_namespaces(request.organization),
        "page": page,
        "table": rightsizing_table(page.object_list, reasons=False),
        "summary": rightsizing_summary(workloads),
    }
    return render(request, "billing/rightsizing.html", context)


@organization_view()
@require_safe
def rightsizing_csv(request: OrganizationRequest) -> HttpResponse:
    try:
        query = _rightsizing_query(request)
    except RightsizingError as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    return _csv(rightsizing_table(_recommendations(request, query)), f"nodeless-rightsizing-{query.window}")
