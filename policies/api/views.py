"""REST API v1 for federation policies and federated workloads.

Members (and tokens with the ``write`` scope) submit, change and delete; viewers read. Changes are
carried out by the federation loop: responses show the state when they were made, and a workload's
``status``, ``placements`` and ``decisions`` tell how it goes from there.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from policies.api.serializers import (
    DecisionSerializer,
    FederationPolicySerializer,
    WorkloadDetailSerializer,
    WorkloadSerializer,
    WorkloadSubmitSerializer,
    WorkloadUpdateSerializer,
    policy_representation,
)
from policies.federation import selectors, services
from policies.models import FederationPolicy, Workload
from tenants.access import get_for_organization
from tenants.api.base import OrganizationScopedViewSet, with_version
from tenants.api.errors import Conflict
from tenants.api.fields import check_uuid_parameters
from tenants.models import Organization

RECENT_DECISIONS = 10
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description='The ETag you read (e.g. "7"): the change applies only if nobody changed the object '
    "since, otherwise 412 Precondition Failed. Without it the change applies to the current object.",
)


class FederationPolicyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[FederationPolicy]
):
    """Federation policies: which clusters run a workload, how replicas are divided, what happens
    on failure. PATCH replaces the top-level fields it sends (a new version)."""

    serializer_class = FederationPolicySerializer
    queryset = FederationPolicy.objects.none()
    permission_phrase = "edit federation policies"

    def scoped_queryset(self, organization: Organization) -> QuerySet[FederationPolicy]:
        return selectors.federation_policy_list(organization)

    def _names(self) -> dict[str, str]:
        return selectors.cluster_names(self.organization)

    def _show(self, policy: FederationPolicy) -> dict[str, Any]:
        return dict(FederationPolicySerializer(policy_representation(policy, self._names())).data)

    def list(self, request: Request) -> Response:
        names = self._names()
        page = self.paginate_queryset(self.get_queryset())
        rows = [FederationPolicySerializer(policy_representation(p, names)).data for p in page or []]
        return self.get_paginated_response(rows)

    @extend_schema(responses=FederationPolicySerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        policy = self.get_object()
        return with_version(Response(self._show(policy)), policy.version)

    @extend_schema(request=FederationPolicySerializer, responses={201: FederationPolicySerializer})
    def create(self, request: Request) -> Response:
        serializer = FederationPolicySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = services.federation_policy_create(
            self.organization, actor=self.actor, data=serializer.validated_data
        )
        return with_version(Response(self._show(policy), status=status.HTTP_201_CREATED), policy.version)

    @extend_schema(
        request=FederationPolicySerializer,
        parameters=[IF_MATCH],
        responses={200: FederationPolicySerializer, 409: None, 412: None},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        policy = self.get_object()
        if not isinstance(request.data, dict):
            raise ValidationError("Send an object with the fields to change.")
        changes, names = dict(request.data), self._names()

        def merged(current: FederationPolicy) -> dict[str, Any]:
            serializer = FederationPolicySerializer(data={**policy_representation(current, names), **changes})
            serializer.is_valid(raise_exception=True)
            return dict(serializer.validated_data)

        policy = services.federation_policy_patch(
            self.organization, policy=policy, actor=self.actor, merge=merged, sent_version=self.sent_version()
        )
        return with_version(Response(self._show(policy)), policy.version)

    @extend_schema(responses={204: None, 409: None})
    def destroy(self, request: Request, pk: str) -> Response:
        try:
            services.federation_policy_delete(self.organization, policy=self.get_object(), actor=self.actor)
        except services.PolicyInUse as error:
            raise Conflict(str(error))
        return Response(status=status.HTTP_204_NO_CONTENT)


_WORKLOAD_FILTERS = [
    OpenApiParameter("status", str, description="pending, placed, running, degraded, completed, failed, ..."),
    OpenApiParameter("namespace", str),
    OpenApiParameter("kind", str, description="Deployment or Job"),
    OpenApiParameter("policy", OpenApiTypes.UUID, description="Federation policy id"),
]


class WorkloadViewSet(mixins.ListModelMixin, OrganizationScopedViewSet[Workload]):
    """Federated workloads: submit a manifest with a policy; read placement, status and decisions;
    PATCH to scale or to roll out a new manifest; DELETE removes it from every member cluster."""

    serializer_class = WorkloadSerializer
    queryset = Workload.objects.none()
    permission_phrase = "submit or change workloads"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Workload]:
        return selectors.workload_list(organization, self.request.query_params)

    def _policy(self, value: str | None) -> FederationPolicy | None:
        if value in (None, ""):
            return None
        try:
            uuid.UUID(str(value))
        except ValueError:
            found = FederationPolicy.objects.filter(organization=self.organization, name=value).first()
            if found is None:
                raise ValidationError(
                    {"policy": f"No federation policy named {value!r} in this organization."}
                )
            return found
        return get_for_organization(self.organization, FederationPolicy, value)

    def _detail(self, workload: Workload, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=workload.pk)
        decisions = list(selectors.workload_decisions(fresh)[:RECENT_DECISIONS])
        data = WorkloadDetailSerializer(fresh, context={"decisions": decisions}).data
        return with_version(Response(data, status=status_code), fresh.generation)

    def _submitted(self, workload: Workload) -> Response:
        shown = selectors.workload_as_submitted(workload)
        data = WorkloadDetailSerializer(shown, context={"decisions": []}).data
        return with_version(Response(data, status=status.HTTP_201_CREATED), shown.generation)

    @extend_schema(parameters=_WORKLOAD_FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_uuid_parameters(request.query_params, "policy")
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=WorkloadDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._detail(self.get_object())

    @extend_schema(request=WorkloadSubmitSerializer, responses={201: WorkloadDetailSerializer})
    def create(self, request: Request) -> Response:
        serializer = WorkloadSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        workload = services.workload_submit(
            self.organization,
            actor=self.actor,
            manifest=data["manifest"],
            policy=self._policy(data.get("policy")),
            egress_gb_per_hour=data.get("egress_gb_per_hour"),
            data_location=data.get("data_location", ""),
        )
        return self._submitted(workload)

    @extend_schema(
        request=WorkloadUpdateSerializer,
        parameters=[IF_MATCH],
        responses={200: WorkloadDetailSerializer, 409: None, 412: None},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        workload = self.get_object()
        serializer = WorkloadUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options: dict[str, Any] = {
            key: data[key] for key in ("egress_gb_per_hour", "data_location") if key in data
        }
        if "policy" in data:
            options["policy"] = self._policy(data["policy"])
        workload = services.workload_update(
            self.organization,
            workload=workload,
            actor=self.actor,
            manifest=data.get("manifest"),
            replicas=data.get("replicas"),
            sent_generation=self.sent_version(),
            **options,
        )
        return self._detail(workload)

    @extend_schema(request=None, responses={202: WorkloadDetailSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        """Removal happens in the background: the workload shows ``deleting`` until every member
        cluster has dropped it, then it is gone."""
        workload = services.workload_delete(self.organization, workload=self.get_object(), actor=self.actor)
        return self._detail(workload, status.HTTP_202_ACCEPTED)

    @extend_schema(responses=DecisionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def decisions(self, request: Request, pk: str) -> Response:
        """Every placement and failover decision for the workload, newest first, with the chosen
        clusters, the runner-ups and their prices."""
        page = self.paginate_queryset(selectors.workload_decisions(self.get_object()))
        return self.get_paginated_response(DecisionSerializer(page, many=True).data)
