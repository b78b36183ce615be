"""REST API v1 for right-sizing recommendations: per workload, its containers' recommended requests,
the monthly saving if applied (USD, a decimal string), and the kubectl patch and manifest fragment.
The page and its CSV read the same selector."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import ContainerUsageHour
from billing.selectors.rightsizing import (
    DEFAULT_WINDOW,
    WINDOWS,
    ContainerRow,
    WorkloadRecommendation,
    rightsizing_recommendations,
)
from clusters.models import Cluster
from engines.metering.money import RATE_PLACES, usd
from engines.metering.rightsizing import Confidence, Verdict
from tenants.access import get_for_organization
from tenants.api.base import OrganizationScopedViewSet
from tenants.api.fields import UsdField, UsdRateField
from tenants.models import Organization

_RATE_FIELD = UsdRateField(allow_null=True)


class RightsizingFilterSerializer(serializers.Serializer[Any]):
    cluster = serializers.UUIDField(required=False, help_text="Cluster id")
    namespace = serializers.CharField(max_length=63, required=False)
    window = serializers.ChoiceField(
        choices=list(WINDOWS),
        default=DEFAULT_WINDOW,
        help_text="How far back usage is read (the history is kept 8 days).",
    )


class ContainerRecommendationSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="The container's name in the pod template.")
    verdict = serializers.ChoiceField(choices=[v.value for v in Verdict], source="recommendation.verdict")
    confidence = serializers.ChoiceField(
        choices=[c.value for c in Confidence], source="recommendation.confidence"
    )
    cpu_request = serializers.FloatField(source="recommendation.current.cpu", help_text="Cores, now.")
    memory_request_gib = serializers.FloatField(source="recommendation.current.memory_gib")
    cpu_limit = serializers.FloatField(source="current_limits.0", allow_null=True, help_text="Null: none.")
    memory_limit_gib = serializers.FloatField(source="current_limits.1", allow_null=True)
    cpu_recommended = serializers.SerializerMethodField(help_text="Cores; null: too little data.")
    memory_recommended_gib = serializers.SerializerMethodField()
    cpu_limit_recommended = serializers.FloatField(
        source="recommendation.limits.0",
        allow_null=True,
        help_text="The limit keeping its ratio to the request; null: leave the limit as it is.",
    )
    memory_limit_recommended_gib = serializers.FloatField(source="recommendation.limits.1", allow_null=True)
    cpu_used = serializers.FloatField(
        source="recommendation.cpu_used", allow_null=True, help_text="The CPU percentile read, cores."
    )
    memory_peak_gib = serializers.FloatField(source="recommendation.memory_peak_gib")
    throttled = serializers.BooleanField(
        source="recommendation.throttled", help_text="At its CPU limit often enough to be likely throttled."
    )
    oom_kills = serializers.IntegerField(source="recommendation.oom_kills")
    reasons = serializers.ListField(child=serializers.CharField(), source="recommendation.reasons")
    monthly_saving = UsdField(
        allow_null=True,
        help_text="USD a month if applied (negative: what the extra room costs); null: unpriced or no data.",
    )

    def get_cpu_recommended(self, row: ContainerRow) -> float | None:
        recommended = row.recommendation.recommended
        return None if recommended is None else recommended.cpu

    def get_memory_recommended_gib(self, row: ContainerRow) -> float | None:
        recommended = row.recommendation.recommended
        return None if recommended is None else recommended.memory_gib


class RightsizingSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(help_text="Stable: the same cluster, namespace and workload keep it.")
    cluster = serializers.UUIDField(source="cluster_id")
    cluster_name = serializers.CharField()
    namespace = serializers.CharField()
    workload = serializers.CharField(help_text="Kind/name of the pods' owner, e.g. Deployment/web.")
    kind = serializers.CharField()
    name = serializers.CharField()
    verdict = serializers.ChoiceField(choices=[v.value for v in Verdict])
    confidence = serializers.ChoiceField(
        choices=[c.value for c in Confidence],
        help_text="The weakest of its containers': low under a day of data, medium under five, then high.",
    )
    average_pods = serializers.FloatField(source="replicas", help_text="Pods running on average (ledger).")
    samples = serializers.IntegerField(
        help_text="Container samples (pods × metering reads), the most of any."
    )
    span_hours = serializers.FloatField()
    cpu_rate_per_core_hour = serializers.SerializerMethodField(
        help_text="USD per core-hour the pods are allocated at (their nodes' prices); null: unpriced."
    )
    memory_rate_per_gib_hour = serializers.SerializerMethodField()
    monthly_saving = UsdField(allow_null=True, help_text="USD a month if every container is applied.")
    kubectl = serializers.CharField(allow_null=True, help_text="A kubectl patch; null: not patchable.")
    manifest = serializers.CharField(allow_null=True, help_text="The YAML fragment; null: nothing to apply.")
    containers = ContainerRecommendationSerializer(many=True)

    @extend_schema_field(_RATE_FIELD)
    def get_cpu_rate_per_core_hour(self, row: WorkloadRecommendation) -> str | None:
        return None if row.rates is None else usd(row.rates.cpu, RATE_PLACES)

    @extend_schema_field(_RATE_FIELD)
    def get_memory_rate_per_gib_hour(self, row: WorkloadRecommendation) -> str | None:
        return None if row.rates is None else usd(row.rates.memory_gib, RATE_PLACES)


class RightsizingViewSet(mixins.ListModelMixin, OrganizationScopedViewSet[ContainerUsageHour]):
    """Right-sizing recommendations per workload, the largest saving first. Filter by cluster and
    namespace; `window` says how much usage history is read."""

    serializer_class = RightsizingSerializer
    queryset = ContainerUsageHour.objects.none()

    def scoped_queryset(self, organization: Organization) -> QuerySet[ContainerUsageHour]:
        return ContainerUsageHour.objects.filter(organization=organization)

    @extend_schema(parameters=[RightsizingFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = RightsizingFilterSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        cluster_id = ""
        if "cluster" in query.validated_data:
            # Another organization's cluster is a 404, like one that does not exist.
            cluster_id = str(
                get_for_organization(self.organization, Cluster, query.validated_data["cluster"]).pk
            )
        rows = rightsizing_recommendations(
            self.organization,
            now=timezone.now(),
            window=query.validated_data["window"],
            cluster_id=cluster_id,
            namespace=query.validated_data.get("namespace", ""),
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RightsizingSerializer(page, many=True).data)
