"""Federation pages: workloads (list, submit, detail with live status, scale, edit, delete) and
federation policies (list, form with live validation and a preview, delete)."""

from __future__ import annotations

from typing import Any

import yaml
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from policies.api.serializers import policy_representation
from policies.federation import selectors, services
from policies.federation.preview import preview as federation_preview
from policies.forms_federation import FederationPolicyForm, ScaleForm, WorkloadForm, policy_initial
from policies.kubeapi import member_objects, propagation
from policies.kubeapi.kubeconfig import endpoint_kubeconfig
from policies.models import FederationPolicy, Workload, WorkloadStatus
from tenants.access import get_for_organization
from tenants.actors import Actor
from tenants.decorators import organization_view
from tenants.http import OrganizationRequest
from tenants.models import Role
from tenants.races import StaleVersion
from tenants.views.forms_util import add_service_errors

RECENT_DECISIONS = 10


# --- workloads -----------------------------------------------------------------------------------


@organization_view()
def workload_list(request: OrganizationRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    workloads = selectors.workload_list(request.organization, {"status": status})
    context = {
        "section": "workloads",
        "workloads": workloads,
        "status": status,
        "statuses": WorkloadStatus.choices,
        "has_policies": FederationPolicy.objects.filter(organization=request.organization).exists(),
    }
    return render(request, "policies/workload_list.html", context)


@organization_view()
def workload_kubeconfig(request: OrganizationRequest) -> HttpResponse:
    """A kubeconfig for the organization's Kubernetes endpoint, with a place for an API token."""
    name = f"nodeless-{request.organization.slug}"
    text = endpoint_kubeconfig(pages_server=request.build_absolute_uri("/k8s"), name=name)
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.kubeconfig"'
    return response


def _workload_form(request: OrganizationRequest, initial: dict[str, Any] | None = None) -> WorkloadForm:
    policies = list(selectors.federation_policy_list(request.organization))
    return WorkloadForm(request.POST or None, request.FILES or None, initial=initial, policies=policies)


def _chosen_policy(request: OrganizationRequest, form: WorkloadForm) -> FederationPolicy | None:
    value = form.cleaned_data.get("policy")
    return get_for_organization(request.organization, FederationPolicy, value) if value else None


@organization_view(write=Role.MEMBER, doing="submit workloads")
def workload_submit(request: OrganizationRequest) -> HttpResponse:
    form = _workload_form(request)
    if request.method == "POST" and form.is_valid():
        try:
            workload = services.workload_submit(
                request.organization,
                actor=Actor.from_request(request),
                manifest=form.manifest_text(),
                policy=_chosen_policy(request, form),
                egress_gb_per_hour=form.cleaned_data.get("egress_gb_per_hour"),
                data_location=form.cleaned_data.get("data_location") or "",
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Submitted {workload}: the federation loop is placing it now.")
            return redirect("workload-detail", workload_id=workload.pk)
    return render(request, "policies/workload_form.html", {"section": "workloads", "form": form})


def _workload_context(request: OrganizationRequest, workload: Workload) -> dict[str, Any]:
    placements = list(selectors.workload_placements(workload))
    problems, _pending = propagation.workload_problems(workload, placements)
    return {
        "section": "workloads",
        "workload": workload,
        "placements": placements,
        "propagation_problems": problems,
        "object_problems": propagation.problems_in_namespace(request.organization, workload.namespace),
        "decisions": list(selectors.workload_decisions(workload)[:RECENT_DECISIONS]),
        "scale_form": ScaleForm(initial={"replicas": workload.desired_replicas}),
    }


@organization_view()
def workload_detail(request: OrganizationRequest, workload_id: str) -> HttpResponse:
    workload = get_for_organization(
        request.organization, Workload.objects.select_related("policy"), workload_id
    )
    context = _workload_context(request, workload)
    if request.htmx and not request.htmx.boosted:
        return render(request, "policies/partials/_workload_status.html", context)
    return render(request, "policies/workload_detail.html", context)


@organization_view()
def workload_pods(request: OrganizationRequest, workload_id: str) -> HttpResponse:
    """The workload's pods, read from its members when the page asks (a panel of its page)."""
    workload = get_for_organization(request.organization, Workload, workload_id)
    pods, warnings = member_objects.workload_pods(workload)
    context = {"workload": workload, "pods": pods, "warnings": warnings}
    return render(request, "policies/partials/_workload_pods.html", context)


@organization_view(write=Role.MEMBER, doing="change workloads")
def workload_edit(request: OrganizationRequest, workload_id: str) -> HttpResponse:
    workload = get_for_organization(
        request.organization, Workload.objects.select_related("policy"), workload_id
    )
    initial = {
        "manifest": yaml.safe_dump(workload.manifest, sort_keys=False),
        "policy": str(workload.policy_id),
        "egress_gb_per_hour": workload.egress_gb_per_hour,
        "data_location": workload.data_location,
        "edited_version": workload.generation,
    }
    form = _workload_form(request, initial)
    if request.method == "POST" and form.is_valid():
        try:
            workload = services.workload_update(
                request.organization,
                workload=workload,
                actor=Actor.from_request(request),
                manifest=form.manifest_text(),
                policy=_chosen_policy(request, form),
                egress_gb_per_hour=form.cleaned_data.get("egress_gb_per_hour"),
                data_location=form.cleaned_data.get("data_location") or "",
                sent_generation=form.cleaned_data.get("edited_version"),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except StaleVersion as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Generation {workload.generation} of {workload.name} is rolling out.")
            return redirect("workload-detail", workload_id=workload.pk)
    context = {"section": "workloads", "form": form, "workload": workload}
    return render(request, "policies/workload_form.html", context)


@organization_view(write=Role.MEMBER, doing="scale workloads")
@require_POST
def workload_scale(request: OrganizationRequest, workload_id: str) -> HttpResponse:
    workload = get_for_organization(request.organization, Workload, workload_id)
    form = ScaleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the number of replicas, from 0 to 10,000.")
        return redirect("workload-detail", workload_id=workload.pk)
    try:
        services.workload_scale(
            request.organization,
            workload=workload,
            actor=Actor.from_request(request),
            replicas=form.cleaned_data["replicas"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Scaling {workload.name} to {form.cleaned_data['replicas']} replicas.")
    return redirect("workload-detail", workload_id=workload.pk)


@organization_view(write=Role.MEMBER, doing="delete workloads")
@require_POST
def workload_delete(request: OrganizationRequest, workload_id: str) -> HttpResponse:
    workload = get_for_organization(request.organization, Workload, workload_id)
    services.workload_delete(request.organization, workload=workload, actor=Actor.from_request(request))
    messages.success(request, f"Removing {workload} from every cluster it runs in.")
    return redirect("workloads")


# --- federation policies -------------------------------------------------------------------------


@organization_view()
def federation_policy_list(request: OrganizationRequest) -> HttpResponse:
    """The organization's federation policies: a page, or the section the policies page loads."""
    names = selectors.cluster_names(request.organization)
    rows = [policy_representation(p, names) for p in selectors.federation_policy_list(request.organization)]
    context = {"section": "policies", "rows": rows, "cluster_count": len(names)}
    if request.htmx and not request.htmx.boosted:
        return render(request, "policies/partials/_federation_policies.html", context)
    return render(request, "policies/federation_policy_list.html", context)


def _policy_form(request: OrganizationRequest, initial: dict[str, Any] | None = None) -> FederationPolicyForm:
    names = sorted(selectors.cluster_names(request.organization).values())
    return FederationPolicyForm(request.POST or None, initial=initial, cluster_names=names)


def _edit_policy(request: OrganizationRequest, policy: FederationPolicy | None) -> HttpResponse:
    names = selectors.cluster_names(request.organization)
    initial = (
        {**policy_initial(policy_representation(policy, names)), "edited_version": policy.version}
        if policy
        else None
    )
    form = _policy_form(request, initial)
    if request.method == "POST" and form.is_valid():
        actor = Actor.from_request(request)
        try:
            if policy is None:
                saved = services.federation_policy_create(
                    request.organization, actor=actor, data=form.api_data()
                )
            else:
                saved = services.federation_policy_update(
                    request.organization,
                    policy=policy,
                    actor=actor,
                    data=form.api_data(),
                    sent_version=form.cleaned_data.get("edited_version"),
                )
        except ValidationError as error:
            form.add_policy_errors(error)
        except StaleVersion as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved {saved.name} (version {saved.version}).")
            return redirect("federation-policies")
    context = {"section": "policies", "form": form, "policy": policy}
    return render(request, "policies/federation_policy_form.html", context)


@organization_view(write=Role.MEMBER, doing="edit federation policies")
def federation_policy_create(request: OrganizationRequest) -> HttpResponse:
    return _edit_policy(request, None)


@organization_view(write=Role.MEMBER, doing="edit federation policies")
def federation_policy_edit(request: OrganizationRequest, policy_id: str) -> HttpResponse:
    return _edit_policy(request, get_for_organization(request.organization, FederationPolicy, policy_id))


@organization_view(write=Role.VIEWER, doing="validate policies")
@require_POST
def federation_policy_validate(request: OrganizationRequest) -> HttpResponse:
    """Live validation while editing: the same checks as saving, and what the policy would select."""
    form = _policy_form(request)
    preview: list[str] = []
    placements: list[Any] = []
    current = None
    if request.POST.get("policy_id"):
        try:
            current = get_for_organization(request.organization, FederationPolicy, request.POST["policy_id"])
        except Http404:
            current = None  # validating a new policy's name then: any taken name is reported
    if form.is_valid():
        try:
            cleaned = services.federation_policy_validate(
                request.organization, data=form.api_data(), current=current
            )
        except ValidationError as error:
            form.add_policy_errors(error)
        else:
            preview = cleaned.preview
            placements = federation_preview(request.organization.pk, current, cleaned.engine)
    return render(
        request,
        "policies/partials/_federation_validation.html",
        {"form": form, "preview": preview, "placements": placements},
    )


@organization_view(write=Role.MEMBER, doing="delete federation policies")
@require_POST
def federation_policy_delete(request: OrganizationRequest, policy_id: str) -> HttpResponse:
    policy = get_for_organization(request.organization, FederationPolicy, policy_id)
    try:
        services.federation_policy_delete(
            request.organization, policy=policy, actor=Actor.from_request(request)
        )
    except services.PolicyInUse as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Deleted {policy.name}.")
    return redirect("federation-policies")
