"""REST API v1 for the organization, its members, invitations, API tokens and audit log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import selectors, services
from tenants.api import schema as _schema  # noqa: F401  (registers the token auth scheme)
from tenants.api.base import OrganizationScopedViewSet
from tenants.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    InvitationCreatedSerializer,
    InvitationSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    OrganizationSerializer,
)
from tenants.models import ApiToken, AuditEvent, Invitation, Organization, OrganizationMember, Role
from tenants.services.members import invitation_url


class OrganizationViewSet(OrganizationScopedViewSet[Organization]):
    """The organization the request acts for (the token's, or the browser session's current one)."""

    serializer_class = OrganizationSerializer
    queryset = Organization.objects.none()
    write_role = Role.OWNER
    permission_phrase = "change the organization"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Organization]:
        return Organization.objects.filter(pk=organization.pk)

    # One object, not a list: "retrieve", so the schema does not describe a paginated list.
    def retrieve(self, request: Request) -> Response:
        return Response(OrganizationSerializer(self.organization).data)

    @extend_schema(request=OrganizationSerializer, responses=OrganizationSerializer)
    def partial_update(self, request: Request) -> Response:
        serializer = OrganizationSerializer(self.organization, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        organization = services.organization_update(
            self.organization,
            actor=self.actor,
            name=serializer.validated_data.get("name", self.organization.name),
        )
        return Response(OrganizationSerializer(organization).data)


class MemberViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[OrganizationMember]
):
    serializer_class = MemberSerializer
    queryset = OrganizationMember.objects.none()
    write_role = Role.OWNER
    permission_phrase = "manage members"

    def scoped_queryset(self, organization: Organization) -> QuerySet[OrganizationMember]:
        return selectors.member_list(organization)

    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        member = self.get_object()
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.member_change_role(
            self.organization, member=member, actor=self.actor, role=serializer.validated_data["role"]
        )
        return Response(MemberSerializer(member).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.member_remove(self.organization, member=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[Invitation]
):
    serializer_class = InvitationSerializer
    queryset = Invitation.objects.none()
    read_role = Role.ADMIN
    write_role = Role.OWNER
    permission_phrase = "invite people"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Invitation]:
        return selectors.invitation_list(organization)

    @extend_schema(request=InvitationSerializer, responses={201: InvitationCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, secret = services.invitation_create(
            self.organization,
            actor=self.actor,
            email=serializer.validated_data["email"],
            role=serializer.validated_data.get("role", Role.MEMBER),
        )
        data: dict[str, Any] = dict(InvitationSerializer(invitation).data)
        data["url"] = invitation_url(secret)
        return Response(data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        invitation = services.invitation_revoke(
            self.organization, invitation=self.get_object(), actor=self.actor
        )
        return Response(InvitationSerializer(invitation).data)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[ApiToken]):
    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()
    write_role = Role.ADMIN
    permission_phrase = "manage API tokens"

    def scoped_queryset(self, organization: Organization) -> QuerySet[ApiToken]:
        return selectors.api_token_list(organization)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(
            self.organization,
            actor=self.actor,
            name=serializer.validated_data["name"],
            scopes=serializer.validated_data["scopes"],
            expires_at=serializer.validated_data.get("expires_at"),
        )
        data: dict[str, Any] = dict(ApiTokenSerializer(token).data)
        data["token"] = plaintext
        # The one response that carries the token: never cached by a browser or a proxy.
        return Response(data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        token = services.api_token_revoke(self.organization, token=self.get_object(), actor=self.actor)
        return Response(ApiTokenSerializer(token).data)


class AuditEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[AuditEvent]
):
    """The audit log, newest first. Filters: `action` (prefix, e.g. `api_token.`), `actor` (substring)."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()
    read_role = Role.ADMIN
    permission_phrase = "read the audit log"

    def scoped_queryset(self, organization: Organization) -> QuerySet[AuditEvent]:
        params = self.request.query_params
        return selectors.audit_event_list(
            organization, action=params.get("action"), actor=params.get("actor")
        )
