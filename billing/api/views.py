"""REST API v1 for reports (OpenCost's `window` and `aggregate` vocabulary), pod placements and
decisions. The same selectors feed the pages, so the API and the pages show the same numbers."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing.api.serializers import (
    DecisionDetailSerializer,
    OverviewSerializer,
    PodPlacementSerializer,
    SavingsReportSerializer,
    SeriesSerializer,
)
from billing.models import ClusterRollup, PodPlacement
from billing.selectors.placement import PLACEMENT_FILTERS
from billing.selectors.reports import usage_over_time
from engines.kube.capacity import CapacityType
from engines.metering import UNPRICED, WindowError, parse_window
from engines.metering.windows import DEFAULT_WINDOW, ReportWindow
from policies.models import Decision, DecisionKind
from policies.selectors import decision_list
from tenants.api.base import OrganizationScopedViewSet
from tenants.api.fields import check_uuid_parameters
from tenants.models import Organization

WINDOW = OpenApiParameter(
    "window",
    str,
    description="today, yesterday, month, lastmonth, a duration (24h, 7d, 30d) ending with the current hour, or "
    "'start,end' as dates (both days included) or RFC 3339 times. Default 7d. Times are UTC.",
)
AGGREGATE = OpenApiParameter(
    "aggregate",
    str,
    enum=list(selectors.GROUPINGS),
    description="How to group the savings rows (default namespace).",
)


SHARE = OpenApiParameter(
    "share",
    str,
    description="Namespaces whose costs are shared (OpenCost's shareNamespaces), comma-separated, e.g. "
    "kube-system,monitoring: with aggregate namespace or workload their rows are spread over the other "
    "rows in proportion to actual spend, every column alike; the totals do not change.",
)


def _window(request: Request) -> ReportWindow:
    try:
        return parse_window(request.query_params.get("window") or DEFAULT_WINDOW, timezone.now())
    except WindowError as error:
        raise ValidationError({"window": [str(error)]})


class ReportViewSet(OrganizationScopedViewSet[ClusterRollup]):
    """Spend, savings against three explained baselines, and utilization, for any window."""

    queryset = ClusterRollup.objects.none()
    pagination_class = None

    def scoped_queryset(self, organization: Organization) -> QuerySet[ClusterRollup]:
        return ClusterRollup.objects.filter(organization=organization)

    def _report(self, request: Request) -> selectors.Report:
        aggregate = request.query_params.get("aggregate")
        try:
            if aggregate == "":  # the pages' empty choice means the default; the API names one
                raise selectors.ReportError(f"Use one of {', '.join(selectors.GROUPINGS)}.")
            grouping = selectors.parse_grouping(aggregate)
        except selectors.ReportError as error:
            raise ValidationError({"aggregate": [str(error)]})
        try:
            shared = selectors.parse_shared(request.query_params.get("share"))
        except selectors.ReportError as error:
            raise ValidationError({"share": [str(error)]})
        return selectors.report(self.organization, _window(request), grouping, shared)

    @extend_schema(parameters=[WINDOW, AGGREGATE, SHARE], responses=SavingsReportSerializer)
    @action(detail=False, methods=["get"])
    def savings(self, request: Request) -> Response:
        """Actual spend, what each baseline would have cost for the same pods over the same time, and
        the difference, per group and in total, with how each baseline is computed."""
        report = self._report(request)
        body: dict[str, Any] = {
            "window": report.window,
            "aggregate": report.grouping,
            "totals": report.savings.total,
            "rows": report.savings.rows,
            "static_pools": report.pools,
            "methods": selectors.BASELINE_METHODS,
            "usage_measured": report.usage_measured,
            "shared": list(report.savings.shared),
        }
        return Response(SavingsReportSerializer(body).data)

    def _series(self, request: Request) -> Response:
        return Response(SeriesSerializer(usage_over_time(self.organization, _window(request))).data)

    @extend_schema(parameters=[WINDOW], responses=SeriesSerializer)
    @action(detail=False, methods=["get"])
    def spend(self, request: Request) -> Response:
        """Spend per hour (windows up to 48 hours) or per UTC day, by capacity type, with the baselines."""
        return self._series(request)

    @extend_schema(parameters=[WINDOW], responses=SeriesSerializer)
    @action(detail=False, methods=["get"])
    def utilization(self, request: Request) -> Response:
        """Requested, used and allocatable CPU and memory per hour or per day (the same points as spend)."""
        return self._series(request)

    @extend_schema(responses=OverviewSerializer)
    @action(detail=False, methods=["get"])
    def overview(self, request: Request) -> Response:
        """Spend today, this month and projected to month-end, this month's savings, nodes and top workloads."""
        return Response(OverviewSerializer(selectors.overview(self.organization, timezone.now())).data)


_CAPACITY_TYPES = [*CapacityType, UNPRICED]
_PLACEMENT_PARAMETERS = [
    OpenApiParameter("cluster", OpenApiTypes.UUID, description="Cluster id"),
    OpenApiParameter("namespace", str),
    OpenApiParameter("capacity_type", str, enum=_CAPACITY_TYPES),
]


class PodPlacementViewSet(mixins.ListModelMixin, OrganizationScopedViewSet[PodPlacement]):
    """Where every pod runs now: node, instance type, capacity type, price, and the launch decision."""

    serializer_class = PodPlacementSerializer
    queryset = PodPlacement.objects.none()

    def scoped_queryset(self, organization: Organization) -> QuerySet[PodPlacement]:
        check_uuid_parameters(self.request.query_params, "cluster")
        filters = {name: self.request.query_params.get(name, "") for name in PLACEMENT_FILTERS}
        if filters["capacity_type"] and filters["capacity_type"] not in _CAPACITY_TYPES:
            # An unknown type would match nothing: say so rather than answer an empty list.
            raise ValidationError({"capacity_type": [f"Use one of {', '.join(_CAPACITY_TYPES)}."]})
        return selectors.pod_placements(organization, filters)

    @extend_schema(parameters=_PLACEMENT_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class DecisionFilterSerializer(serializers.Serializer[Any]):
    """The decisions list's filters (query parameters), checked before they reach the database."""

    cluster = serializers.UUIDField(required=False, help_text="Cluster id")
    workload = serializers.UUIDField(required=False, help_text="Federated workload id")
    kind = serializers.MultipleChoiceField(choices=DecisionKind.choices, required=False)
    subject = serializers.CharField(
        max_length=320, required=False, help_text="Part of the pod, node or workload name"
    )
    since = serializers.DateTimeField(required=False, help_text="ISO 8601, e.g. 2026-12-01T00:00:00Z")
    until = serializers.DateTimeField(required=False)


class DecisionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[Decision]):
    """Provisioning and placement decisions, newest first: the reason, the chosen option and the
    runner-ups with their prices. Filter by cluster, workload, kind (repeatable), subject and time."""

    serializer_class = DecisionDetailSerializer
    queryset = Decision.objects.none()

    def scoped_queryset(self, organization: Organization) -> QuerySet[Decision]:
        return Decision.objects.filter(organization=organization).select_related("cluster")

    @extend_schema(parameters=[DecisionFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = DecisionFilterSerializer(
            data={**request.query_params.dict(), "kind": request.query_params.getlist("kind")}
        )
        query.is_valid(raise_exception=True)
        rows = decision_list(self.organization, **query.validated_data)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DecisionDetailSerializer(page, many=True).data)
