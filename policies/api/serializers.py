"""API shapes of federation policies, workloads, placements and decisions.

Serializers check types; meaning (selectors, clusters, what the engine can execute, manifests) is
checked by the services, which name the offending field the same way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engines.federation import SpreadBy, Strategy, WeightMode
from policies.federation.manifest_checks import MAX_REPLICAS
from policies.federation.placements import SYNC_STAMP_SECONDS
from policies.federation.spec import (
    MAX_EGRESS_WEIGHT,
    MAX_GROUPS,
    MAX_RETURN_AFTER_SECONDS,
    MAX_WHOLE_NUMBER,
    api_shape,
    describe_policy,
)
from policies.models import Decision, FailureBehaviour, FederationPolicy, Placement, Workload
from tenants.api.fields import (
    DecisionRecordField,
    FieldsOnceModelSerializer,
    StrictCharField,
    StrictFloatField,
    UsdRateField,
)

SELECTOR_HELP = (
    'A cluster selector: text such as "env=prod, cloud in (aws, gcp), !spot, tier>2", or a list of '
    '{"key", "operator", "values"} with the operators In, NotIn, Exists, DoesNotExist, Gt, Lt.'
)


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]})
class SelectorField(serializers.JSONField):
    """Selector text or structured expressions (their meaning is checked by the service)."""

    default_error_messages = {"shape": "Write a selector as text or as a list of expression objects."}

    def to_internal_value(self, data: Any) -> Any:
        shaped = isinstance(data, str) or (
            isinstance(data, list) and all(isinstance(item, dict) for item in data)
        )
        if not shaped:
            self.fail("shape")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "object"},
            {"type": "array", "items": {"type": "object"}, "minItems": 1},
        ]
    }
)
class ManifestField(serializers.JSONField):
    """YAML or JSON text, or the objects themselves."""


class WorkloadSelectorSerializer(serializers.Serializer[Any]):
    namespaces = serializers.ListField(child=StrictCharField(max_length=63), required=False, default=list)
    labels = serializers.DictField(child=StrictCharField(allow_blank=True), required=False, default=dict)


class WeightRuleSerializer(serializers.Serializer[Any]):
    weight = serializers.IntegerField(min_value=0, max_value=MAX_WHOLE_NUMBER)
    clusters = serializers.ListField(child=StrictCharField(), required=False, help_text="Names or ids.")
    selector = SelectorField(required=False, allow_null=True, help_text=SELECTOR_HELP)


class SpreadSerializer(serializers.Serializer[Any]):
    weights = serializers.ChoiceField(choices=[str(m) for m in WeightMode], default=WeightMode.CAPACITY.value)
    static_weights = WeightRuleSerializer(many=True, required=False)
    spread_by = serializers.ChoiceField(choices=[str(b) for b in SpreadBy], default=SpreadBy.CLUSTER.value)
    min_groups = serializers.IntegerField(min_value=1, max_value=MAX_GROUPS, default=1)
    max_groups = serializers.IntegerField(min_value=1, max_value=MAX_GROUPS, required=False, allow_null=True)


class BurstSerializer(serializers.Serializer[Any]):
    tiers = serializers.ListField(child=SelectorField(), help_text="Cluster selectors, tier 1 first.")
    return_headroom = StrictFloatField(min_value=0, max_value=0.99, default=0.1)
    return_after_seconds = StrictFloatField(min_value=0, max_value=MAX_RETURN_AFTER_SECONDS, default=300.0)


class FederationPolicySerializer(serializers.Serializer[Any]):
    """A federation policy (see ``policies.federation.spec`` for the semantics of every field)."""

    id = serializers.UUIDField(read_only=True)
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=300, required=False, allow_blank=True, default="")
    workload_selector = WorkloadSelectorSerializer(required=False)
    cluster_selector = SelectorField(required=False, allow_null=True, help_text=SELECTOR_HELP)
    strategy = serializers.ChoiceField(choices=[str(s) for s in Strategy])
    spread = SpreadSerializer(required=False, allow_null=True, help_text="For the spread strategy.")
    burst = BurstSerializer(required=False, allow_null=True, help_text="For fill_then_burst: ordered tiers.")
    pinned = serializers.ListField(
        child=StrictCharField(), required=False, help_text="For pinned: cluster names or ids."
    )
    egress_weight = StrictFloatField(min_value=0, max_value=MAX_EGRESS_WEIGHT, required=False, default=1.0)
    stickiness = StrictFloatField(min_value=0, max_value=0.99, required=False, default=0.1)
    on_failure = serializers.ChoiceField(
        choices=FailureBehaviour.choices, default=FailureBehaviour.RESCHEDULE
    )
    grace_period_seconds = serializers.IntegerField(min_value=0, max_value=86_400, default=120)
    version = serializers.IntegerField(read_only=True)
    summary = StrictCharField(read_only=True)
    workload_count = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


def policy_representation(policy: FederationPolicy, names: dict[str, str]) -> dict[str, Any]:
    """The API shape of a stored policy (``names``: cluster id → name)."""
    count = getattr(policy, "workload_count", None)
    return {
        "id": policy.pk,
        "name": policy.name,
        "description": policy.description,
        "workload_selector": {"namespaces": policy.workload_namespaces, "labels": policy.workload_labels},
        **api_shape(policy.spec, names),
        "on_failure": policy.on_failure,
        "grace_period_seconds": policy.grace_period_seconds,
        "version": policy.version,
        "summary": describe_policy(policy.spec, names),
        "workload_count": count
        if count is not None
        else policy.workloads.filter(deleted_at__isnull=True).count(),
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
    }


class PolicyRefSerializer(FieldsOnceModelSerializer[FederationPolicy]):
    class Meta:
        model = FederationPolicy
        fields = ("id", "name")
        read_only_fields = fields


class PlacementSerializer(FieldsOnceModelSerializer[Placement]):
    cluster = serializers.UUIDField(source="cluster_id", read_only=True)
    cluster_name = StrictCharField(source="cluster.name", read_only=True)
    companion_statuses = serializers.DictField(
        child=serializers.JSONField(),
        read_only=True,
        help_text="What the cluster reports of the workload's Ingresses, LoadBalancer Services and "
        'HorizontalPodAutoscalers there: "Kind/name" -> their load balancer\'s status (its addresses) '
        "or the autoscaler's status (replicas, metrics, conditions).",
    )

    class Meta:
        model = Placement
        fields = (
            "cluster",
            "cluster_name",
            "replicas",
            "ready_replicas",
            "available_replicas",
            "succeeded",
            "failed",
            "state",
            "reason",
            "applied_generation",
            "completions",
            "unreachable_since",
            "last_synced_at",
            "companion_statuses",
        )
        read_only_fields = fields
        extra_kwargs = {
            "applied_generation": {
                "help_text": "The workload generation last applied on this cluster (null: not applied yet)."
            },
            "unreachable_since": {
                "help_text": "Since when this cluster has not answered (null: it answers); the policy's "
                "grace period counts from here."
            },
            "last_synced_at": {
                "help_text": "When the federation loop last heard from this cluster about this placement. "
                f"Refreshed at most every {SYNC_STAMP_SECONDS} s while nothing else changes."
            },
        }


class DecisionSerializer(FieldsOnceModelSerializer[Decision]):
    chosen = DecisionRecordField(help_text="What was chosen; prices per hour as decimal strings.")
    runner_ups = DecisionRecordField(help_text="The options not chosen, with their prices per hour.")
    inputs = DecisionRecordField(help_text="What the decision was made from.")
    cost_per_hour = UsdRateField(allow_null=True, help_text="What the choice costs ($/h).")

    class Meta:
        model = Decision
        fields = (
            "id",
            "kind",
            "reason",
            "chosen",
            "runner_ups",
            "inputs",
            "cost_per_hour",
            "policy_version",
            "created_at",
        )
        read_only_fields = fields


class WorkloadSerializer(FieldsOnceModelSerializer[Workload]):
    """A federated workload: what was asked, where it runs, and how it is doing."""

    policy = PolicyRefSerializer(read_only=True)
    requests = serializers.SerializerMethodField()
    placements = PlacementSerializer(many=True, read_only=True)
    deleting = serializers.SerializerMethodField()

    class Meta:
        model = Workload
        fields: tuple[str, ...] = (
            "id",
            "name",
            "namespace",
            "kind",
            "labels",
            "policy",
            "desired_replicas",
            "completions",
            "ready_replicas",
            "available_replicas",
            "succeeded",
            "failed",
            "status",
            "status_message",
            "generation",
            "scheduled_generation",
            "requests",
            "egress_gb_per_hour",
            "data_location",
            "placements",
            "deleting",
            "created_at",
            "updated_at",
        )
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_requests(self, workload: Workload) -> dict[str, int]:
        return {"cpu_millis": workload.cpu_millis, "memory_mib": workload.memory_mib, "gpus": workload.gpus}

    def get_deleting(self, workload: Workload) -> bool:
        return workload.deleted_at is not None


class WorkloadDetailSerializer(WorkloadSerializer):
    """A workload with its manifest (the Deployment/Job; companions by kind and name only: Secret
    data is never returned) and its latest decisions."""

    companions = serializers.JSONField(source="companion_summary", read_only=True)
    decisions = serializers.SerializerMethodField()

    class Meta(WorkloadSerializer.Meta):
        fields = (*WorkloadSerializer.Meta.fields, "manifest", "companions", "decisions")
        read_only_fields = fields

    @extend_schema_field(DecisionSerializer(many=True))
    def get_decisions(self, workload: Workload) -> Any:
        decisions = self.context.get("decisions", [])
        return DecisionSerializer(decisions, many=True).data


class WorkloadSubmitSerializer(serializers.Serializer[Any]):
    manifest = ManifestField(
        help_text="One workload (Deployment, StatefulSet, DaemonSet, Job or CronJob) plus the objects it needs "
        "in its namespace (ConfigMaps, Secrets, Services, ServiceAccounts, PVCs, HPAs, Ingresses, Roles, "
        "RoleBindings), as YAML (several documents) or JSON text, or as objects. Every container must request cpu and memory."
    )
    policy = StrictCharField(
        required=False,
        allow_null=True,
        help_text="Federation policy id or name; omitted: the most specific policy whose workload selector matches.",
    )
    egress_gb_per_hour = serializers.DecimalField(
        max_digits=10,
        decimal_places=3,
        min_value=Decimal(0),
        required=False,
        help_text="Expected traffic to data_location.",
    )
    data_location = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Where the traffic goes: cloud/region[/zone].",
    )


class WorkloadUpdateSerializer(serializers.Serializer[Any]):
    manifest = ManifestField(
        required=False,
        help_text="A new manifest (a new generation, rolled out to every placement). With only the "
        "Deployment/Job, the ConfigMaps, Secrets and Services submitted before are kept.",
    )
    replicas = serializers.IntegerField(
        min_value=0, max_value=MAX_REPLICAS, required=False, help_text="Scale."
    )
    policy = StrictCharField(required=False, allow_null=True, help_text="Federation policy id or name.")
    egress_gb_per_hour = serializers.DecimalField(
        max_digits=10, decimal_places=3, min_value=Decimal(0), required=False
    )
    data_location = StrictCharField(max_length=64, required=False, allow_blank=True)
