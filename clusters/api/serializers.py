from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from clusters.models import CloudAccount, Cluster, ClusterConnection, ClusterMode, NodeClass
from clusters.regions import AWS_REGIONS
from tenants.api.fields import STRICT_FIELD_MAPPING, StrictCharField


class CloudAccountSerializer(serializers.ModelSerializer[CloudAccount]):
    serializer_field_mapping = STRICT_FIELD_MAPPING
    regions = serializers.ListField(
        child=serializers.ChoiceField(choices=AWS_REGIONS), allow_empty=False, min_length=1
    )
    on_demand_discount_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, min_value=Decimal(0), max_value=Decimal("99.99")
    )
    spot_discount_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, min_value=Decimal(0), max_value=Decimal("99.99")
    )
    serverless_discount_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, min_value=Decimal(0), max_value=Decimal("99.99")
    )
    stack_outputs = serializers.DictField(
        child=serializers.CharField(max_length=2048, allow_blank=True),
        required=False,
        help_text="The onboarding stack's outputs (InterruptionQueueUrl, InterruptionQueueArn, "
        "InterruptionQueueName, NodeRoleArn, NodeInstanceProfileName, ...): where Nodeless reads "
        "interruption events. Read from the stack itself at every verification.",
    )
    stack_name = serializers.CharField(
        max_length=600,
        required=False,
        allow_blank=True,
        help_text="The onboarding stack's name or ARN (blank: the name the stack link creates, nodeless-access).",
    )

    class Meta:
        model = CloudAccount
        fields = (
            "id",
            "provider",
            "name",
            "account_id",
            "role_arn",
            "regions",
            "on_demand_discount_pct",
            "spot_discount_pct",
            "serverless_discount_pct",
            "status",
            "permissions",
            "last_verified_at",
            "last_error",
            "created_at",
            "stack_outputs",
            "stack_name",
            "stack_id",
            "stack_error",
            "stack_read_at",
        )
        read_only_fields: tuple[str, ...] = (
            "id",
            "provider",
            "account_id",
            "status",
            "permissions",
            "last_verified_at",
            "last_error",
            "created_at",
            "stack_id",
            "stack_error",
            "stack_read_at",
        )
        extra_kwargs = {"name": {"required": False}}


class CloudAccountUpdateSerializer(CloudAccountSerializer):
    class Meta(CloudAccountSerializer.Meta):
        read_only_fields = (*CloudAccountSerializer.Meta.read_only_fields, "role_arn")


class EksClusterInfoSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    region = serializers.CharField()
    endpoint = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()


class ClusterSerializer(serializers.ModelSerializer[Cluster]):
    """A cluster as the API shows it: never its kubeconfig, which is write-only on create."""

    cloud_account = serializers.PrimaryKeyRelatedField[CloudAccount](read_only=True)

    class Meta:
        model = Cluster
        fields = (
            "id",
            "name",
            "connection",
            "cloud_account",
            "eks_cluster_name",
            "region",
            "endpoint",
            "labels",
            "mode",
            "status",
            "check_started_at",
            "check_step",
            "health",
            "health_problem",
            "last_checked_at",
            "last_healthy_at",
            "kubernetes_version",
            "node_count",
            "pod_count",
            "capacity",
            "permissions",
            "kubeconfig_context",
            "created_at",
        )
        read_only_fields = fields


class NodeClassSerializer(serializers.ModelSerializer[NodeClass]):
    """What nodes of a nodeless EKS cluster are made of: the node role and instance profile and the
    discovery tag (editable), and what Nodeless found in the account (read-only): subnets, security
    groups, AMIs, the node role's access entry and the launch template versions it owns."""

    launch_templates = serializers.SerializerMethodField()

    class Meta:
        model = NodeClass
        fields = (
            "node_role_arn",
            "instance_profile",
            "discovery_tag",
            "root_volume_gib",
            "kubernetes_version",
            "service_cidr",
            "vpc_id",
            "subnets",
            "security_group_ids",
            "amis",
            "access_entry",
            "launch_templates",
            "problem",
            "drift",
            "notices",
            "refreshed_at",
        )
        read_only_fields = tuple(
            f
            for f in fields
            if f not in ("node_role_arn", "instance_profile", "discovery_tag", "root_volume_gib")
        )

    def get_launch_templates(self, node_class: NodeClass) -> list[dict[str, Any]]:
        return [
            {key: entry.get(key) for key in ("name", "id", "version", "ami", "arch", "variant")}
            for entry in node_class.launch_templates.values()
        ]


class NodeClassUpdateSerializer(serializers.Serializer[Any]):
    node_role_arn = StrictCharField(required=False, allow_blank=True, max_length=300)
    instance_profile = StrictCharField(required=False, allow_blank=True, max_length=128)
    discovery_tag = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="key=value, e.g. karpenter.sh/discovery=prod",
    )
    root_volume_gib = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Root volume of every node in GiB (20 to 16384); null sizes it per instance type.",
    )


class ClusterCreateSerializer(serializers.Serializer[Any]):
    """Either `kubeconfig` (+ optional `context`), or `cloud_account` + `region` + `eks_cluster_name`."""

    name = StrictCharField(required=False, allow_blank=True, max_length=100)
    mode = serializers.ChoiceField(choices=ClusterMode.choices, default=ClusterMode.OBSERVE)
    labels = serializers.DictField(child=StrictCharField(allow_blank=True), required=False)
    kubeconfig = StrictCharField(
        required=False, write_only=True, trim_whitespace=False, style={"base_template": "textarea.html"}
    )
    kubeconfig_context = StrictCharField(
        required=False, allow_blank=True, help_text="Defaults to current-context."
    )
    cloud_account = serializers.UUIDField(required=False)
    region = StrictCharField(required=False)
    eks_cluster_name = StrictCharField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        eks_fields = ("cloud_account", "region", "eks_cluster_name")
        has_eks = any(attrs.get(field) for field in eks_fields)
        if attrs.get("kubeconfig") and has_eks:
            raise serializers.ValidationError(
                "Send either a kubeconfig or an EKS cluster (cloud_account, region, eks_cluster_name), not both."
            )
        if has_eks:
            missing = [field for field in eks_fields if not attrs.get(field)]
            if missing:
                raise serializers.ValidationError(
                    {field: "Required to import an EKS cluster." for field in missing}
                )
            attrs["connection"] = ClusterConnection.EKS
        elif attrs.get("kubeconfig"):
            attrs["connection"] = ClusterConnection.KUBECONFIG
        else:
            raise serializers.ValidationError(
                {
                    "kubeconfig": "Send a kubeconfig, or cloud_account + region + eks_cluster_name to import from EKS."
                }
            )
        return attrs


class ClusterUpdateSerializer(serializers.Serializer[Any]):
    name = StrictCharField(required=False, max_length=100)
    mode = serializers.ChoiceField(choices=ClusterMode.choices, required=False)
    labels = serializers.DictField(child=StrictCharField(allow_blank=True), required=False)
