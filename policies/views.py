"""Policy pages: the organization's provisioning default, per-cluster overrides, validation as you type."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clusters import selectors as cluster_selectors
from clusters.models import Cluster, ClusterMode
from clusters.pricing.catalogs import list_price_catalog
from policies import selectors, services
from policies.forms import ProvisioningPolicyForm
from policies.plan_quality import latest_plan_certificate
from policies.provisioning_preview import preview
from policies.provisioning_settings import clean_settings, policy_settings
from tenants.access import get_for_organization
from tenants.actors import Actor
from tenants.decorators import organization_view
from tenants.http import OrganizationRequest
from tenants.models import Role
from tenants.views.forms_util import add_service_errors


@organization_view()
def policy_list(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    clusters = list(Cluster.objects.filter(organization=organization).order_by("name"))
    in_force = selectors.provisioning_policies_in_force(organization.pk, clusters)
    rows = [{"cluster": cluster, "in_force": in_force[cluster.pk]} for cluster in clusters]
    context = {
        "section": "policies",
        "default": selectors.organization_default_policy(organization.pk),
        "rows": rows,
        "nodeless_count": sum(1 for c in clusters if c.mode == ClusterMode.NODELESS),
    }
    return render(request, "policies/policy_list.html", context)


def _edit(request: OrganizationRequest, cluster: Cluster | None) -> HttpResponse:
    organization = request.organization
    if cluster is None:
        policy = selectors.organization_default_policy(organization.pk)
        initial = policy_settings(policy) if policy else None
    else:
        in_force = selectors.provisioning_policy_in_force(cluster)
        policy = in_force.policy if in_force.source == "cluster" else None
        initial = in_force.settings
    if initial is None:
        initial = selectors.built_in_settings()
    form = ProvisioningPolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.provisioning_policy_save(
                organization, actor=Actor.from_request(request), cluster=cluster, data=form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Saved as version {saved.version}.")
            return (
                redirect("cluster-policy", cluster_id=cluster.pk) if cluster else redirect("policy-default")
            )
    context: dict[str, Any] = {
        "section": "policies",
        "form": form,
        "cluster": cluster,
        "policy": policy,
        # The clusters whose recorded period the draft can be replayed over (billing's replay); read
        # only when the page offers the replay (to members who may write).
        "replay_clusters": [cluster]
        if cluster is not None
        else Cluster.objects.filter(organization=organization).order_by("name"),
    }
    return render(request, "policies/provisioning_form.html", context)


@organization_view(write=Role.MEMBER, doing="edit provisioning policies")
def policy_default(request: OrganizationRequest) -> HttpResponse:
    return _edit(request, None)


@organization_view(write=Role.MEMBER, doing="edit provisioning policies")
def cluster_policy(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    return _edit(request, get_for_organization(request.organization, Cluster, cluster_id))


@organization_view(write=Role.MEMBER, doing="edit provisioning policies")
@require_POST
def cluster_policy_reset(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    cluster = get_for_organization(request.organization, Cluster, cluster_id)
    services.provisioning_policy_reset(
        request.organization, actor=Actor.from_request(request), cluster=cluster
    )
    messages.success(request, f"{cluster.name} follows the organization's default policy again.")
    return redirect("policies")


@organization_view(write=Role.VIEWER, doing="validate policies")
@require_POST
def policy_validate(request: OrganizationRequest) -> HttpResponse:
    """Live validation and preview while editing: the same checks as saving, and what the draft would
    do to the cluster(s) it applies to next to what the saved policy does. Nothing is stored."""
    organization = request.organization
    form = ProvisioningPolicyForm(request.POST)
    cluster_id = request.POST.get("cluster") or None
    cluster = get_for_organization(organization, Cluster, cluster_id) if cluster_id else None
    previews = []
    if form.is_valid():
        try:
            draft = clean_settings(
                form.cleaned_data, list_price_catalog(cluster.region if cluster else "us-east-1")
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            for target in _preview_targets(organization, cluster):
                saved = selectors.provisioning_policy_in_force(target).settings
                observation = cluster_selectors.cluster_observation(organization, target)
                previews.append(preview(target, observation, saved, draft))
    return render(request, "policies/partials/_validation.html", {"form": form, "previews": previews})


def _preview_targets(organization: Any, cluster: Cluster | None) -> list[Cluster]:
    """The cluster being edited, or the nodeless clusters that follow the organization default."""
    if cluster is not None:
        return [cluster] if cluster.mode == ClusterMode.NODELESS else []
    candidates = Cluster.objects.filter(organization=organization, mode=ClusterMode.NODELESS).select_related(
        "cloud_account", "organization"
    )
    return [c for c in candidates if selectors.provisioning_policy_in_force(c).source != "cluster"][:3]


# The cluster page polls this panel every 5 s; the full record is on the placement page.
CLUSTER_DECISION_ROWS = 25


@organization_view()
def cluster_decisions(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    """The cluster page's decisions panel: the policy in force and the latest decisions under it."""
    organization = request.organization
    cluster = get_for_organization(organization, Cluster, cluster_id)
    decisions = selectors.cluster_recent_decisions(organization, cluster, limit=CLUSTER_DECISION_ROWS)
    context = {
        "cluster": cluster,
        "policy": selectors.provisioning_policy_in_force(cluster),
        "decisions": decisions,
        "decision_count": selectors.cluster_decision_count(organization, cluster),
        "certificate": latest_plan_certificate(decisions),
    }
    return render(request, "policies/partials/_cluster_decisions.html", context)
