"""Cluster pages: list, connect wizard (AWS role → EKS clusters; kubeconfig), detail, settings."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from clusters import selectors, services
from clusters.forms import CloudAccountForm, ClusterSettingsForm, EksImportForm, KubeconfigForm, NodeClassForm
from clusters.labels import format_label_text
from clusters.models import CloudAccount, Cluster, ClusterConnection
from clusters.onboarding.cloudformation import quick_create_url, role_name_for, template_yaml
from clusters.services.node_classes import default_node_role
from tenants.access import get_for_organization
from tenants.actors import Actor
from tenants.decorators import organization_view
from tenants.http import OrganizationRequest
from tenants.models import Role
from tenants.views.forms_util import add_service_errors

# The cluster page polls these lists every 5 s: a busy cluster runs hundreds of nodes and pods, and the
# page grew to 20,000 px. The full record is on the placement and report pages.
ACTIVITY_NODE_ROWS = 25
ACTIVITY_POD_ROWS = 30


@organization_view()
def cluster_list(request: OrganizationRequest) -> HttpResponse:
    context = {
        "section": "clusters",
        "clusters": selectors.cluster_list(request.organization),
        "accounts": selectors.cloud_account_list(request.organization),
    }
    return render(request, "clusters/cluster_list.html", context)


@organization_view(read=Role.ADMIN, write=Role.ADMIN, doing="connect cloud accounts")
def connect_aws(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    form = CloudAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = services.cloud_account_connect(
                organization,
                actor=Actor.from_request(request),
                name=data["name"],
                role_arn=data["role_arn"],
                regions=data["regions"],
                discounts={
                    key: data.get(key)
                    for key in ("on_demand_discount_pct", "spot_discount_pct", "serverless_discount_pct")
                },
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, f"Verified {account.role_arn}: every permission Nodeless needs is in place."
            )
            return redirect("cloud-account-discover", account_id=account.pk)
    regions = request.GET.getlist("regions") or request.POST.getlist("regions") or ["us-east-1"]
    context = {
        "section": "clusters",
        "form": form,
        "principal": settings.NODELESS_AWS_PRINCIPAL_ARN,
        "quick_create_url": quick_create_url(
            template_url=settings.NODELESS_CFN_TEMPLATE_URL,
            external_id=organization.external_id,
            principal=settings.NODELESS_AWS_PRINCIPAL_ARN,
            regions=regions,
            role_name=role_name_for(organization.slug),
            console_url=settings.NODELESS_AWS_CONSOLE_URL,
        ),
    }
    return render(request, "clusters/connect_aws.html", context)


@organization_view(read=Role.ADMIN)
def cloudformation_template(request: OrganizationRequest) -> HttpResponse:
    text = template_yaml()
    # Pre-fill this organization's external ID and our principal as parameter defaults.
    text = text.replace(
        "    Description: Your organization's external ID",
        f"    Default: {request.organization.external_id}\n    Description: Your organization's external ID",
    ).replace(
        "    Description: The Nodeless principal",
        f"    Default: {settings.NODELESS_AWS_PRINCIPAL_ARN}\n    Description: The Nodeless principal",
    )
    response = HttpResponse(text, content_type="application/x-yaml")
    response["Content-Disposition"] = 'attachment; filename="nodeless-role.yaml"'
    return response


@organization_view(read=Role.ADMIN, write=Role.ADMIN, doing="import clusters")
def cloud_account_discover(request: OrganizationRequest, account_id: str) -> HttpResponse:
    account = get_for_organization(request.organization, CloudAccount, account_id)
    return _discover_page(request, account)


def _discover_page(
    request: OrganizationRequest, account: CloudAccount, refused: EksImportForm | None = None
) -> HttpResponse:
    """The account's EKS clusters, each with its import form; ``refused`` is the form an import came
    back with, shown in its row with what was typed and every error."""
    discovered, error = [], None
    try:
        discovered = services.eks_clusters_discover(request.organization, account=account)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    connected = {(c.region, c.eks_cluster_name) for c in account.clusters.all()}
    asked = (refused.data.get("region"), refused.data.get("eks_cluster_name")) if refused else None
    rows = []
    for index, info in enumerate(discovered):
        form = EksImportForm(
            initial={"region": info.region, "eks_cluster_name": info.name, "name": info.name},
            auto_id=f"id_%s_{index}",  # one form per row: keep ids (and label targets) unique
        )
        if refused is not None and asked == (info.region, info.name):
            form = refused
            form.auto_id = f"id_%s_{index}"
        rows.append({"info": info, "connected": (info.region, info.name) in connected, "form": form})
    context = {"section": "clusters", "account": account, "rows": rows, "error": error}
    return render(request, "clusters/discover.html", context, status=200 if refused is None else 400)


@organization_view(write=Role.ADMIN, doing="import clusters")
@require_POST
def cloud_account_import(request: OrganizationRequest, account_id: str) -> HttpResponse:
    organization = request.organization
    account = get_for_organization(organization, CloudAccount, account_id)
    form = EksImportForm(request.POST)
    if form.is_valid():
        try:
            cluster = services.cluster_import_eks(
                organization,
                actor=Actor.from_request(request),
                account=account,
                region=form.cleaned_data["region"],
                eks_cluster_name=form.cleaned_data["eks_cluster_name"],
                name=form.cleaned_data["name"],
                mode=form.cleaned_data["mode"],
                labels=form.cleaned_data["labels"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect(
                "cluster-detail", cluster_id=cluster.pk
            )  # its page shows the connection's progress
    # The row comes back with what was typed (name, mode, labels) and every problem at once.
    return _discover_page(request, account, refused=form)


@organization_view(read=Role.ADMIN, write=Role.ADMIN, doing="connect clusters")
def connect_kubeconfig(request: OrganizationRequest) -> HttpResponse:
    form = KubeconfigForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            cluster = services.cluster_connect_kubeconfig(
                request.organization,
                actor=Actor.from_request(request),
                name=form.cleaned_data["name"],
                kubeconfig=form.kubeconfig_text(),
                context=form.cleaned_data["context"],
                mode=form.cleaned_data["mode"],
                labels=form.cleaned_data["labels"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect(
                "cluster-detail", cluster_id=cluster.pk
            )  # its page shows the connection's progress
    response = render(request, "clusters/connect_kubeconfig.html", {"section": "clusters", "form": form})
    # A form sent back with its errors holds the pasted kubeconfig, credentials and all: no cache keeps it.
    add_never_cache_headers(response)
    return response


@organization_view(write=Role.ADMIN, doing="change cluster settings")
def cluster_detail(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    organization = request.organization
    cluster = get_for_organization(organization, Cluster.objects.select_related("cloud_account"), cluster_id)
    form = ClusterSettingsForm(
        request.POST or None,
        initial={"name": cluster.name, "mode": cluster.mode, "labels": format_label_text(cluster.labels)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.cluster_update(
                organization,
                cluster=cluster,
                actor=Actor.from_request(request),
                name=form.cleaned_data["name"],
                mode=form.cleaned_data["mode"],
                labels=form.cleaned_data["labels"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
            cluster.refresh_from_db()
        else:
            messages.success(request, "Cluster settings saved.")
            return redirect("cluster-detail", cluster_id=cluster.pk)
    return render(request, "clusters/cluster_detail.html", _detail_context(cluster, form))


def _detail_context(
    cluster: Cluster, form: ClusterSettingsForm, node_class_form: NodeClassForm | None = None
) -> dict[str, object]:
    context: dict[str, object] = {
        "section": "clusters",
        "cluster": cluster,
        "form": form,
        **_health_context(cluster),
    }
    if cluster.is_nodeless and cluster.connection == ClusterConnection.EKS:
        node_class = selectors.cluster_node_class(cluster)
        role_arn, profile = default_node_role(cluster)
        context |= {
            "node_class": node_class,
            "node_role_arn": node_class.node_role_arn or role_arn,
            "instance_profile": node_class.instance_profile or profile,
            "node_class_form": node_class_form
            or NodeClassForm(
                initial={
                    "node_role_arn": node_class.node_role_arn,
                    "instance_profile": node_class.instance_profile,
                    "discovery_tag": node_class.discovery_tag,
                    "root_volume_gib": node_class.root_volume_gib or "",
                }
            ),
        }
    return context


@organization_view(write=Role.ADMIN, doing="change what the cluster's nodes are made of")
@require_POST
def cluster_node_class(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    """The node class form of the cluster page: the same checks as the API's PATCH; on a refusal the
    page comes back with every error and what was typed."""
    organization = request.organization
    cluster = get_for_organization(organization, Cluster.objects.select_related("cloud_account"), cluster_id)
    if not (cluster.is_nodeless and cluster.connection == ClusterConnection.EKS):
        messages.error(request, "Only a nodeless EKS cluster has a node class.")
        return redirect("cluster-detail", cluster_id=cluster.pk)
    form = NodeClassForm(request.POST)
    if form.is_valid():
        try:
            services.node_class_update(
                organization, cluster=cluster, actor=Actor.from_request(request), **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Node class saved; Nodeless looks at the account again now.")
            return redirect("cluster-detail", cluster_id=cluster.pk)
    settings_form = ClusterSettingsForm(
        initial={"name": cluster.name, "mode": cluster.mode, "labels": format_label_text(cluster.labels)}
    )
    return render(
        request, "clusters/cluster_detail.html", _detail_context(cluster, settings_form, form), status=400
    )


def _health_context(cluster: Cluster) -> dict[str, object]:
    required, for_kubectl = selectors.cluster_permissions(cluster)
    return {
        "cluster": cluster,
        "progress": selectors.cluster_check_progress(cluster),
        "permissions": required,
        "kubectl_permissions": for_kubectl,
        "kubectl_denied": sum(not permission.allowed for permission in for_kubectl),
    }


@organization_view()
def cluster_status(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    """The health panel, polled by the cluster page (every 2 s while a check runs)."""
    cluster = get_for_organization(request.organization, Cluster, cluster_id)
    return render(request, "clusters/partials/_health.html", _health_context(cluster))


@organization_view()
def cluster_activity(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    """Nodes Nodeless manages and the cluster's pods as last observed (polled by the cluster page;
    its decisions panel is the policies app's `cluster_decisions`)."""
    organization = request.organization
    cluster = get_for_organization(organization, Cluster.objects.select_related("cloud_account"), cluster_id)
    nodes = selectors.managed_node_list(organization, cluster)
    context = {
        "cluster": cluster,
        "managed_nodes": list(nodes[:ACTIVITY_NODE_ROWS]),
        "managed_node_count": nodes.count(),
        "pods": selectors.cluster_pods(organization, cluster, limit=ACTIVITY_POD_ROWS),
    }
    return render(request, "clusters/partials/_activity.html", context)


@organization_view(write=Role.ADMIN, doing="check cluster health")
@require_POST
def cluster_check(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    cluster = get_for_organization(request.organization, Cluster, cluster_id)
    cluster = services.cluster_check_request(request.organization, cluster=cluster)
    if request.htmx:
        return render(request, "clusters/partials/_health.html", _health_context(cluster))
    return redirect("cluster-detail", cluster_id=cluster.pk)


@organization_view(write=Role.ADMIN, doing="remove clusters")
@require_POST
def cluster_delete(request: OrganizationRequest, cluster_id: str) -> HttpResponse:
    cluster = get_for_organization(request.organization, Cluster, cluster_id)
    services.cluster_delete(request.organization, cluster=cluster, actor=Actor.from_request(request))
    messages.success(
        request,
        f"Removed {cluster.name} from Nodeless. Nothing in the cluster or your cloud account was changed.",
    )
    return redirect("clusters")


@organization_view(read=Role.VIEWER, write=Role.ADMIN, doing="manage cloud accounts")
def cloud_account_list(request: OrganizationRequest) -> HttpResponse:
    context = {"section": "cloud", "accounts": selectors.cloud_account_list(request.organization)}
    return render(request, "clusters/settings_cloud_accounts.html", context)


@organization_view(write=Role.ADMIN, doing="verify cloud accounts")
@require_POST
def cloud_account_verify(request: OrganizationRequest, account_id: str) -> HttpResponse:
    account = get_for_organization(request.organization, CloudAccount, account_id)
    account = services.cloud_account_verify(
        request.organization, account=account, actor=Actor.from_request(request)
    )
    if account.status == "verified":
        messages.success(request, f"{account.name} verified.")
    else:
        messages.error(request, f"{account.name}: {account.last_error}")
    return redirect("settings-cloud-accounts")


@organization_view(write=Role.ADMIN, doing="remove cloud accounts")
@require_POST
def cloud_account_delete(request: OrganizationRequest, account_id: str) -> HttpResponse:
    account = get_for_organization(request.organization, CloudAccount, account_id)
    try:
        services.cloud_account_delete(
            request.organization, account=account, actor=Actor.from_request(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Removed {account.name}. The role in your account is untouched; delete the stack to remove it.",
        )
    return redirect("settings-cloud-accounts")
