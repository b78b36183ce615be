"""REST API v1 for provisioning policies: policies as code (Terraform, GitOps).

One resource per scope: the organization's default (``cluster: null``) and each cluster's own
override. Ids are stable for the life of the scope, so a Terraform resource can hold one. PUT
replaces every setting (what it leaves out takes the built-in default, exactly as an empty form
field does); PATCH changes only what it sends. Validation is the form's (one implementation:
``policies.provisioning_settings.clean_settings``). Every save is a new version with a revision
kept; the version is the ETag and ``If-Match`` makes a save conditional.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clusters.models import Cluster
from policies import selectors, services
from policies.api.views import IF_MATCH
from policies.models import (
    CapacityTypeChoice,
    ObjectiveChoice,
    PackingChoice,
    ProvisioningPolicy,
    ProvisioningPolicyRevision,
)
from policies.models.provisioning import MAX_INTEGER_COLUMN
from policies.provisioning_settings import ARCHITECTURES, policy_settings
from tenants.access import get_for_organization
from tenants.api.base import OrganizationScopedViewSet, with_version
from tenants.api.errors import Conflict
from tenants.api.fields import StrictCharField
from tenants.models import Organization


def _whole() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0, max_value=MAX_INTEGER_COLUMN, allow_null=True, required=False
    )


def _names(**options: Any) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=200), max_length=200, required=False, **options
    )


class ProvisioningSettingsSerializer(serializers.Serializer[Any]):
    """The settings of a provisioning policy. The types are checked here; what they mean together
    (ranges, families and GPU models that exist in the cluster's region, at least one instance type
    left) is checked by the same validation as the policy form."""

    objective = serializers.ChoiceField(choices=ObjectiveChoice.choices, required=False)
    capacity_types = serializers.ListField(
        child=serializers.ChoiceField(choices=CapacityTypeChoice.choices), max_length=3, required=False
    )
    families_allow = _names(help_text="Instance families to choose from (empty: all), e.g. m7g, c7i.")
    families_deny = _names(help_text="Instance families never to launch.")
    architectures = serializers.ListField(
        child=serializers.ChoiceField(choices=ARCHITECTURES),
        max_length=2,
        required=False,
        help_text="Empty: x86_64, and arm64 for pods whose node affinity on kubernetes.io/arch allows it. "
        "Listing arm64 opts every pod in to it.",
    )
    current_generation_only = serializers.BooleanField(required=False)
    min_vcpu = _whole()
    max_vcpu = _whole()
    min_memory_gib = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, allow_null=True, required=False
    )
    max_memory_gib = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, allow_null=True, required=False
    )
    gpu_models = _names(help_text="GPU models allowed (empty: any), e.g. a10g.")
    packing = serializers.ChoiceField(choices=PackingChoice.choices, required=False)
    isolate_namespaces = _names(help_text="Pods of these namespaces get a node of their own.")
    isolate_label_selectors = _names(help_text="Pods matching any key=value here get a node of their own.")
    exclude_namespaces = _names(help_text="Nodeless never plans for nor touches pods of these namespaces.")
    exclude_label_selectors = _names(
        help_text="Nodeless never plans for nor touches pods matching any key=value."
    )
    isolate_cpu_millicores = _whole()
    isolate_memory_mib = _whole()
    isolate_gpu_pods = serializers.BooleanField(required=False)
    gpu_sharing = serializers.BooleanField(required=False)
    burstable_unlimited = serializers.BooleanField(
        required=False,
        help_text="Burstable nodes take pods at full CPU, priced with unlimited mode's surplus credits "
        "(default: sized by their baseline CPU).",
    )
    max_pods_per_node = _whole()
    scale_down_delay_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_INTEGER_COLUMN, required=False
    )
    consolidation_min_saving_pct = serializers.IntegerField(
        min_value=0,
        max_value=100,
        allow_null=True,
        required=False,
        help_text="Consolidate only moves saving at least this % of what the nodes removed cost (null: 10).",
    )
    max_vcpu_total = _whole()
    max_nodes = _whole()
    max_cost_per_hour = serializers.DecimalField(
        max_digits=10, decimal_places=4, min_value=0, allow_null=True, required=False
    )
    spot_max_interruption_bucket = serializers.IntegerField(
        min_value=0, max_value=4, allow_null=True, required=False
    )
    spot_fallback_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_INTEGER_COLUMN,
        required=False,
        help_text="Seconds a node planned on spot asks for spot only when EC2 has no spot capacity, before "
        "its on-demand offerings are tried too (0: at once).",
    )


class ProvisioningPolicySerializer(ProvisioningSettingsSerializer):
    id = serializers.UUIDField(read_only=True)
    cluster = serializers.UUIDField(
        allow_null=True,
        required=False,
        help_text="The cluster this policy is for; null: the organization default.",
    )
    cluster_name = serializers.CharField(read_only=True, allow_null=True)
    version = serializers.IntegerField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    updated_by = serializers.CharField(read_only=True, allow_null=True)


class RevisionSerializer(serializers.ModelSerializer[ProvisioningPolicyRevision]):
    created_by = serializers.CharField(source="created_by.email", allow_null=True, default=None)

    class Meta:
        model = ProvisioningPolicyRevision
        fields = ("version", "settings", "created_at", "created_by")


def _shown(policy: ProvisioningPolicy) -> dict[str, Any]:
    return {
        "id": policy.pk,
        "cluster": policy.cluster_id,
        "cluster_name": policy.cluster.name if policy.cluster else None,
        "version": policy.version,
        "updated_at": policy.updated_at,
        "updated_by": policy.updated_by.email if policy.updated_by else None,
        **policy_settings(policy),
    }


class ProvisioningPolicyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[ProvisioningPolicy]
):
    """Provisioning policies: what Nodeless may launch for nodeless clusters and how it packs.
    POST creates the organization default (``cluster`` null or left out) or a cluster's override;
    PUT replaces, PATCH changes some settings; DELETE drops a cluster's override (it follows the
    default again). Each save is a new version; ``revisions`` lists them."""

    serializer_class = ProvisioningPolicySerializer
    queryset = ProvisioningPolicy.objects.none()
    permission_phrase = "edit provisioning policies"

    def scoped_queryset(self, organization: Organization) -> QuerySet[ProvisioningPolicy]:
        return selectors.provisioning_policy_list(organization)

    def _respond(self, policy: ProvisioningPolicy, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=policy.pk)
        data = ProvisioningPolicySerializer(_shown(fresh)).data
        return with_version(Response(data, status=status_code), fresh.version)

    def _settings(self, request: Request, *, partial: bool) -> dict[str, Any]:
        serializer = ProvisioningSettingsSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([ProvisioningPolicySerializer(_shown(p)).data for p in page or []])

    @extend_schema(responses=ProvisioningPolicySerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._respond(self.get_object())

    @extend_schema(
        request=ProvisioningPolicySerializer, responses={201: ProvisioningPolicySerializer, 409: None}
    )
    def create(self, request: Request) -> Response:
        scope = ProvisioningPolicySerializer(data=request.data, partial=True)
        scope.is_valid(raise_exception=True)
        cluster_id = scope.validated_data.get("cluster")
        cluster = get_for_organization(self.organization, Cluster, cluster_id) if cluster_id else None
        try:
            policy = services.provisioning_policy_save(
                self.organization,
                actor=self.actor,
                cluster=cluster,
                data=self._settings(request, partial=False),
                create_only=True,
            )
        except services.PolicyExists as error:
            raise Conflict(str(error))
        return self._respond(policy, status.HTTP_201_CREATED)

    def _save(self, request: Request, *, partial: bool) -> Response:
        policy = self.get_object()
        saved = services.provisioning_policy_save(
            self.organization,
            actor=self.actor,
            cluster=policy.cluster,
            data=self._settings(request, partial=partial),
            keep_unsent=partial,
            sent_version=self.sent_version(),
        )
        return self._respond(saved)

    @extend_schema(
        request=ProvisioningSettingsSerializer,
        parameters=[IF_MATCH],
        responses={200: ProvisioningPolicySerializer, 412: None},
    )
    def update(self, request: Request, pk: str) -> Response:
        """Replace every setting: what the body leaves out takes the built-in default."""
        return self._save(request, partial=False)

    @extend_schema(
        request=ProvisioningSettingsSerializer,
        parameters=[IF_MATCH],
        responses={200: ProvisioningPolicySerializer, 412: None},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change the settings the body holds; the others keep their current values."""
        return self._save(request, partial=True)

    @extend_schema(responses={204: None, 409: None})
    def destroy(self, request: Request, pk: str) -> Response:
        policy = self.get_object()
        if policy.cluster is None:
            raise Conflict(
                "The organization default cannot be deleted: change it with PUT or PATCH "
                "(clusters without a policy of their own follow it)."
            )
        services.provisioning_policy_reset(self.organization, actor=self.actor, cluster=policy.cluster)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=RevisionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def revisions(self, request: Request, pk: str) -> Response:
        """Every version of the policy, newest first, with the settings it had and who saved it."""
        page = self.paginate_queryset(selectors.provisioning_policy_revisions(self.get_object()))
        return self.get_paginated_response(RevisionSerializer(page, many=True).data)
