"""API shapes of the reports (spend, savings with explained baselines, utilization, overview), pod
placements and decisions. Money is USD in decimal strings (tenants.api.fields: amounts to the cent,
per-hour rates to six decimals); resource amounts are core-hours and GiB-hours."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import PodPlacement
from engines.metering import SavingsRow
from engines.metering.money import usd
from policies.models import Decision
from policies.plan_quality import decision_plan_certificate
from tenants.api.fields import DecisionRecordField, UsdField, UsdRateField


class WindowSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="What was asked, e.g. 7d or 2026-01-01,2026-01-31.")
    name = serializers.CharField(source="label", help_text="A readable name, e.g. Last 7 days.")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")
    step = serializers.ChoiceField(choices=["hour", "day"], help_text="Width of each series point.")


class SavingsRowSerializer(serializers.Serializer[Any]):
    group = serializers.CharField(help_text="Cluster id, namespace, namespace/workload or capacity type.")
    name = serializers.CharField(source="label", help_text="The cluster's name, or the group itself.")
    actual = UsdField(help_text="Actual spend: node cost at the prices paid.")
    static_pool = UsdField(help_text="Baseline: static on-demand pools sized for the peak.")
    on_demand_only = UsdField(help_text="Baseline: the same nodes, all on-demand.")
    serverless_only = serializers.SerializerMethodField(
        help_text="Baseline: every pod alone on serverless. Null (n/a) when pods ran and none fits a "
        "serverless shape: see serverless_fit_pod_hours."
    )
    saved_vs_static_pool = UsdField(source="versus_static_pool")
    saved_vs_on_demand_only = UsdField(source="versus_on_demand_only")
    saved_vs_serverless_only = serializers.SerializerMethodField()
    saved_vs_static_pool_pct = serializers.FloatField(source="versus_static_pool_pct", allow_null=True)
    saved_vs_on_demand_only_pct = serializers.FloatField(source="versus_on_demand_only_pct", allow_null=True)
    saved_vs_serverless_only_pct = serializers.SerializerMethodField()
    pod_hours = serializers.SerializerMethodField(help_text="Hours the group's pods ran (summed over pods).")
    serverless_fit_pod_hours = serializers.SerializerMethodField(
        help_text="Of pod_hours, those of pods a serverless shape holds; the others keep their actual cost "
        "in the serverless baseline."
    )

    @extend_schema_field(UsdField(allow_null=True))
    def get_serverless_only(self, row: SavingsRow) -> str | None:
        return usd(row.serverless_only) if row.serverless_applies else None

    @extend_schema_field(UsdField(allow_null=True))
    def get_saved_vs_serverless_only(self, row: SavingsRow) -> str | None:
        return usd(row.versus_serverless_only) if row.serverless_applies else None

    def get_saved_vs_serverless_only_pct(self, row: SavingsRow) -> float | None:
        return row.versus_serverless_only_pct if row.serverless_applies else None

    def get_pod_hours(self, row: SavingsRow) -> float:
        return row.pod_seconds / 3600

    def get_serverless_fit_pod_hours(self, row: SavingsRow) -> float:
        return row.serverless_fit_pod_seconds / 3600


class PoolSizeSerializer(serializers.Serializer[Any]):
    instance_type = serializers.CharField()
    nodes = serializers.IntegerField()
    price_per_hour = UsdRateField()


class StaticPoolSerializer(serializers.Serializer[Any]):
    cluster_id = serializers.CharField()
    cluster_name = serializers.CharField()
    cpu_pool = PoolSizeSerializer(allow_null=True, help_text="Null: no on-demand type holds the largest pod.")
    gpu_pool = PoolSizeSerializer(allow_null=True)
    metered_hours = serializers.FloatField()
    cost_per_hour = UsdRateField()
    cost = UsdField()


class BaselineMethodsSerializer(serializers.Serializer[Any]):
    actual = serializers.CharField()
    static_pool = serializers.CharField()
    on_demand_only = serializers.CharField()
    serverless_only = serializers.CharField()


class SavingsReportSerializer(serializers.Serializer[Any]):
    window = WindowSerializer()
    aggregate = serializers.CharField()
    totals = SavingsRowSerializer()
    rows = SavingsRowSerializer(many=True)
    static_pools = StaticPoolSerializer(many=True)
    methods = BaselineMethodsSerializer()
    usage_measured = serializers.BooleanField(help_text="False: no metrics source, so used = requested.")
    shared = serializers.ListField(
        child=serializers.CharField(),
        help_text="The rows whose costs were spread over the others (the share parameter).",
    )


class SpendByCapacitySerializer(serializers.Serializer[Any]):
    on_demand = UsdField()
    spot = UsdField()
    serverless = UsdField()


class SeriesPointSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField()
    actual = UsdField()
    spend_by_capacity = SpendByCapacitySerializer()
    static_pool = UsdField()
    on_demand_only = UsdField()
    serverless_only = UsdField(
        allow_null=True, help_text="null when no pod of the window fits a serverless shape"
    )
    cpu_requested_core_hours = serializers.FloatField(source="cpu_requested")
    cpu_used_core_hours = serializers.FloatField(source="cpu_used")
    cpu_allocatable_core_hours = serializers.FloatField(source="cpu_allocatable")
    memory_requested_gib_hours = serializers.FloatField(source="memory_requested")
    memory_used_gib_hours = serializers.FloatField(source="memory_used")
    memory_allocatable_gib_hours = serializers.FloatField(source="memory_allocatable")
    cpu_requested_pct = serializers.FloatField(allow_null=True)
    cpu_used_pct = serializers.FloatField(allow_null=True)
    memory_requested_pct = serializers.FloatField(allow_null=True)
    memory_used_pct = serializers.FloatField(allow_null=True)


class SeriesSerializer(serializers.Serializer[Any]):
    window = WindowSerializer()
    points = SeriesPointSerializer(many=True)
    usage_measured = serializers.BooleanField()


class NodeCountSerializer(serializers.Serializer[Any]):
    capacity_type = serializers.CharField()
    nodes = serializers.FloatField(help_text="Average over the latest metered hour.")


class TopWorkloadSerializer(serializers.Serializer[Any]):
    namespace = serializers.CharField()
    workload = serializers.CharField()
    name = serializers.CharField(help_text="namespace/workload, as every page names it.")
    cost = UsdField()
    share_pct = serializers.FloatField()


class OverviewSerializer(serializers.Serializer[Any]):
    spend_today = UsdField()
    month_to_date = UsdField()
    projected_month_end = UsdField(
        allow_null=True,
        help_text="Null: less than an hour metered in the last 24 hours, too little to project.",
    )
    projection_basis_hours = serializers.SerializerMethodField(
        help_text="The metered hours (at most the last 24, plus the current one) whose spend rate is projected."
    )
    savings_this_month = SavingsRowSerializer(source="savings")
    nodes = NodeCountSerializer(many=True)
    top_workloads = TopWorkloadSerializer(many=True)

    def get_projection_basis_hours(self, overview: Any) -> float:
        return float(overview.projection_basis_seconds) / 3600


class PodPlacementSerializer(serializers.ModelSerializer[PodPlacement]):
    cluster_name = serializers.CharField(source="cluster.name", read_only=True)
    node_price_per_hour = UsdRateField(allow_null=True, help_text="The node's price ($/h); null: unpriced.")
    cost_per_hour = UsdRateField(help_text="The pod's share of its node's price ($/h).")

    class Meta:
        model = PodPlacement
        fields = [
            "cluster",
            "cluster_name",
            "namespace",
            "name",
            "workload",
            "phase",
            "node_name",
            "managed_node",
            "instance_type",
            "capacity_type",
            "zone",
            "node_price_per_hour",
            "cost_per_hour",
            "cpu",
            "memory_gib",
            "gpus",
            "decision",
            "updated_at",
        ]
        read_only_fields = fields


class PlanCertificateSerializer(serializers.Serializer[Any]):
    cost_per_hour = UsdRateField(help_text="The plan's effective cost ($/h, with interruption risk).")
    lower_bound_per_hour = UsdRateField(help_text="No plan for the same pods can cost less ($/h).")
    gap_percent = serializers.FloatField(allow_null=True, help_text="Cost over the bound, in percent.")
    pods = serializers.IntegerField()
    launches = serializers.IntegerField()
    summary = serializers.CharField()


class DecisionDetailSerializer(serializers.ModelSerializer[Decision]):
    cluster_name = serializers.CharField(source="cluster.name", read_only=True, default=None)
    plan_certificate = serializers.SerializerMethodField(
        help_text="For launches: the plan's cost against the best possible for the same pods."
    )
    chosen = DecisionRecordField(help_text="What was chosen; prices per hour as decimal strings.")
    runner_ups = DecisionRecordField(help_text="The options not chosen, with their prices per hour.")
    inputs = DecisionRecordField(help_text="What the decision was made from.")
    cost_per_hour = UsdRateField(allow_null=True, help_text="What the choice costs ($/h).")

    @extend_schema_field(PlanCertificateSerializer(allow_null=True))
    def get_plan_certificate(self, decision: Decision) -> dict[str, Any] | None:
        certificate = decision_plan_certificate(decision)
        return None if certificate is None else dict(PlanCertificateSerializer(certificate).data)

    class Meta:
        model = Decision
        fields = [
            "id",
            "kind",
            "cluster",
            "cluster_name",
            "node",
            "workload",
            "subject",
            "reason",
            "chosen",
            "runner_ups",
            "inputs",
            "cost_per_hour",
            "policy_version",
            "plan_certificate",
            "created_at",
        ]
        read_only_fields = fields
