"""Replaying a draft policy from the policy editor: start a run, watch its progress, read its result.

The editor posts its form here (with the window to replay); the answer is a panel whose progress
bar polls `policy_replay_progress` (a small JSON document) and swaps in the finished panel. The run
has a page of its own too, which the panel links."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from billing.models import ReplayRun
from billing.replay_view import replay_view
from billing.selectors.replay import replay_run
from billing.services.replay import WINDOWS, ReplayInputError, replay_start
from clusters.models import Cluster
from policies.forms import ProvisioningPolicyForm
from tenants.access import get_for_organization
from tenants.actors import Actor
from tenants.decorators import organization_view
from tenants.http import OrganizationRequest
from tenants.models import Role

PANEL = "billing/partials/_replay_run.html"


def _panel(
    request: OrganizationRequest, run: ReplayRun | None, *, errors: list[str], status: int
) -> HttpResponse:
    context: dict[str, Any] = {"run": run, "view": replay_view(run) if run else None, "errors": errors}
    return render(request, PANEL, context, status=status)


@organization_view(write=Role.MEMBER, doing="replay draft policies")
@require_POST
def policy_replay_start(request: OrganizationRequest) -> HttpResponse:
    """Start a replay of the posted draft over the chosen window of the chosen cluster."""
    organization = request.organization
    cluster_id = request.POST.get("replay_cluster") or request.POST.get("cluster") or ""
    if not cluster_id:
        return _panel(
            request, None, errors=["Choose the cluster whose recorded period to replay."], status=400
        )
    cluster = get_for_organization(organization, Cluster, cluster_id)
    form = ProvisioningPolicyForm(request.POST)
    if not form.is_valid():
        errors = [
            f"{form.fields[name].label if name in form.fields else name}: {' '.join(str(text) for text in texts)}"
            for name, texts in form.errors.items()
        ]
        return _panel(request, None, errors=errors, status=400)
    try:
        run = replay_start(
            organization,
            actor=Actor.from_request(request),
            cluster=cluster,
            window=request.POST.get("replay_window") or "",
            data=form.cleaned_data,
        )
    except ReplayInputError as error:
        return _panel(
            request,
            None,
            errors=[f"{field}: {' '.join(texts)}" for field, texts in error.errors.items()],
            status=400,
        )
    return _panel(request, run, errors=[], status=201)


@organization_view()
@require_safe
def policy_replay_panel(request: OrganizationRequest, run_id: str) -> HttpResponse:
    return _panel(request, replay_run(request.organization, run_id), errors=[], status=200)


@organization_view()
@require_safe
def policy_replay(request: OrganizationRequest, run_id: str) -> HttpResponse:
    run = replay_run(request.organization, run_id)
    context = {"section": "policies", "run": run, "view": replay_view(run), "errors": [], "windows": WINDOWS}
    return render(request, "billing/replay_run.html", context)


@organization_view()
@require_safe
def policy_replay_progress(request: OrganizationRequest, run_id: str) -> JsonResponse:
    """What the progress bar polls: a few fields, no figures."""
    run = replay_run(request.organization, run_id)
    return JsonResponse(
        {
            "id": str(run.pk),
            "state": run.state,
            "progress": round(run.progress, 3),
            "steps_done": run.steps_done,
            "steps_total": run.steps_total,
            "finished": run.finished,
            "panel": reverse("policy-replay-panel", args=[run.pk]),
        }
    )
