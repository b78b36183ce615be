"""REST API v1 for replaying a draft provisioning policy over a cluster's recorded period.

POST ``/api/v1/replays/`` with ``cluster``, ``window`` (``24h`` or ``7d``) and ``policy`` (the
provisioning policy API's settings; what it leaves out takes the built-in default, as with PUT)
answers ``202`` with the run; GET ``/api/v1/replays/<id>/`` reads its progress and, once done, its
result: what happened and what the draft would have done, side by side, and the LP bound. Money is
in decimal strings (USD to the cent)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import ReplayRun
from billing.replay_view import ReplayView, replay_view
from billing.services.replay import WINDOWS, ReplayInputError, replay_start
from clusters.models import Cluster
from engines.metering.money import usd
from policies.api.provisioning import ProvisioningSettingsSerializer
from tenants.access import get_for_organization
from tenants.api.base import OrganizationScopedViewSet
from tenants.models import Organization


class ReplayStartSerializer(serializers.Serializer[Any]):
    cluster = serializers.UUIDField(help_text="The cluster whose recorded period to replay.")
    window = serializers.ChoiceField(choices=list(WINDOWS), help_text="The recorded period: 24h or 7d.")
    policy = ProvisioningSettingsSerializer(help_text="The draft provisioning policy's settings.")


def _result(view: ReplayView) -> dict[str, Any] | None:
    if view.state != "done":
        return None
    figures: dict[str, Any] = {}
    for side in ("actual", "replayed"):
        figures[side] = {}
        for row in view.rows:
            value = row.actual if side == "actual" else row.replayed
            key = row.label.lower().replace(" ", "_").replace("-", "_")
            figures[side][key] = usd(value) if row.unit == "usd" else round(value, 3)
    return {
        "pods": view.pods,
        **figures,
        "replayed_effective_spend": usd(view.replayed_effective),
        "lower_bound_effective_spend": usd(view.lower_bound),
        "above_lower_bound_pct": None if view.above_bound_pct is None else round(view.above_bound_pct, 2),
        "unplaced_pods": view.unplaced_pods,
        "unplaced_reasons": list(view.unplaced_reasons),
        "notes": list(view.notes),
    }


class ReplayRunSerializer(serializers.ModelSerializer[ReplayRun]):
    progress = serializers.FloatField(read_only=True)
    result = serializers.SerializerMethodField()

    class Meta:
        model = ReplayRun
        fields = (
            "id",
            "cluster",
            "window",
            "period_start",
            "period_end",
            "state",
            "progress",
            "steps_done",
            "steps_total",
            "error",
            "created_at",
            "finished_at",
            "draft",
            "result",
        )
        read_only_fields = fields

    def get_result(self, run: ReplayRun) -> dict[str, Any] | None:
        return _result(replay_view(run))


class ReplayViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[ReplayRun]):
    """Replays of draft provisioning policies over a cluster's recorded last 24 hours or 7 days,
    newest first. POST starts one (202); GET follows its progress and reads its result."""

    serializer_class = ReplayRunSerializer
    queryset = ReplayRun.objects.none()
    permission_phrase = "replay draft policies"

    def scoped_queryset(self, organization: Organization) -> QuerySet[ReplayRun]:
        return ReplayRun.objects.filter(organization=organization).order_by("-created_at")

    @extend_schema(request=ReplayStartSerializer, responses={202: ReplayRunSerializer})
    def create(self, request: Request) -> Response:
        body = ReplayStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cluster = get_for_organization(self.organization, Cluster, body.validated_data["cluster"])
        try:
            run = replay_start(
                self.organization,
                actor=self.actor,
                cluster=cluster,
                window=body.validated_data["window"],
                data=dict(body.validated_data["policy"]),
            )
        except ReplayInputError as error:
            field_errors = {f"policy.{k}" if k != "window" else k: v for k, v in error.errors.items()}
            raise ValidationError(field_errors) from None
        return Response(ReplayRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
