from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tenants.api.fields import STRICT_FIELD_MAPPING
from tenants.models import ApiToken, AuditEvent, Invitation, Organization, OrganizationMember, Role
from tenants.models.security import TokenScope


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    serializer_field_mapping = STRICT_FIELD_MAPPING

    class Meta:
        model = Organization
        fields = ("id", "name", "slug", "external_id", "created_at")
        read_only_fields = ("id", "slug", "external_id", "created_at")


class MemberSerializer(serializers.ModelSerializer[OrganizationMember]):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = OrganizationMember
        fields = ("id", "email", "full_name", "role", "created_at")
        read_only_fields = ("id", "email", "full_name", "created_at")


class MemberRoleSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    serializer_field_mapping = STRICT_FIELD_MAPPING
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)
    state = serializers.CharField(read_only=True)

    class Meta:
        model = Invitation
        fields: tuple[str, ...] = (
            "id",
            "email",
            "role",
            "state",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
        )
        read_only_fields = ("id", "state", "invited_by", "created_at", "expires_at", "accepted_at")


class InvitationCreatedSerializer(InvitationSerializer):
    url = serializers.CharField(read_only=True, help_text="The invitation link; returned only once.")

    class Meta(InvitationSerializer.Meta):
        fields = (*InvitationSerializer.Meta.fields, "url")


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    serializer_field_mapping = STRICT_FIELD_MAPPING
    masked = serializers.CharField(read_only=True)
    state = serializers.CharField(read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenScope.choices), allow_empty=False, min_length=1
    )

    class Meta:
        model = ApiToken
        fields: tuple[str, ...] = (
            "id",
            "name",
            "masked",
            "scopes",
            "state",
            "created_by",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        )
        read_only_fields = ("id", "masked", "state", "created_by", "created_at", "last_used_at", "revoked_at")


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself; returned only once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = (*ApiTokenSerializer.Meta.fields, "token")


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "created_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "ip_address",
            "metadata",
        )
        read_only_fields = fields
