"""Workload and federation-policy pages: list, submit (paste or upload), detail with its htmx
status partial, scale, edit, delete; the policy form with live validation and a preview; roles."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clusters.models import Cluster, ClusterConnection
from policies.models import Decision, DecisionKind, FederationPolicy, Workload, WorkloadStatus
from tests.fixtures.federation import deployment, submit
from tests.fixtures.pages import get_page, page_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def clusters(cast) -> list[Cluster]:
    return [
        Cluster.objects.create(
            organization=cast.org_a,
            name=name,
            connection=ClusterConnection.KUBECONFIG,
            labels={"cloud": cloud, "region": region, "env": "prod"},
        )
        for name, cloud, region in (("dc-1", "onprem", "dc-east"), ("eks-east", "aws", "us-east-1"))
    ]


@pytest.fixture
def cheap(cast, policy, clusters) -> FederationPolicy:
    return policy("cheap", strategy="cheapest")


POLICY_FORM = {
    "name": "tiered",
    "description": "on-prem first",
    "workload_namespaces": "shop, web",
    "workload_labels": "tier=web",
    "cluster_selector": "env=prod",
    "strategy": "fill_then_burst",
    "spread_weights": "capacity",
    "static_weights": "",
    "spread_by": "cluster",
    "burst_tiers": "cloud=onprem\ncloud=aws",
    "return_headroom": "0.1",
    "return_after_seconds": "300",
    "egress_weight": "1",
    "stickiness": "0.1",
    "on_failure": "reschedule",
    "grace_period_seconds": "120",
}


def test_the_workloads_page_lists_status_and_placement(cast, owner_client, cheap) -> None:
    empty = get_page(owner_client, reverse("workloads"), queries=9)
    assert empty.status_code == 200 and b"No workloads yet" in empty.content
    submit(cast, deployment(), cheap)
    page = get_page(owner_client, reverse("workloads"), queries=7).content.decode()
    assert "shop/web" in page and "Pending placement" in page and "not placed yet" in page


def test_submitting_a_pasted_manifest_opens_its_page(cast, owner_client, cheap) -> None:
    get_page(owner_client, reverse("workload-submit"), queries=8)
    response = owner_client.post(
        reverse("workload-submit"), {"manifest": deployment(), "policy": str(cheap.pk)}
    )
    workload = Workload.objects.get(organization=cast.org_a)
    assert response.status_code == 302 and response["Location"] == reverse(
        "workload-detail", args=[workload.pk]
    )
    assert workload.policy == cheap


def test_an_uploaded_manifest_works_and_errors_show_on_the_form(cast, owner_client, cheap) -> None:
    upload = SimpleUploadedFile(
        "web.yaml", deployment(name="uploaded").encode(), content_type="application/x-yaml"
    )
    assert owner_client.post(reverse("workload-submit"), {"manifest_file": upload}).status_code == 302
    bad = owner_client.post(reverse("workload-submit"), {"manifest": deployment(cpu="2 cores")})
    assert bad.status_code == 200 and "is not a Kubernetes quantity" in bad.content.decode()


def test_the_detail_page_polls_a_status_partial(cast, owner_client, cheap) -> None:
    workload = submit(cast, deployment(), cheap)
    # 11: the page lists the objects of its namespace a member refused (one query, propagation).
    page = get_page(owner_client, reverse("workload-detail", args=[workload.pk]), queries=11).content.decode()
    assert 'hx-trigger="every 5s"' in page and "Edit manifest" in page
    partial = owner_client.get(reverse("workload-detail", args=[workload.pk]), HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode() and "Placement" in partial.content.decode()


def test_scale_edit_and_delete_from_the_page(cast, owner_client, cheap) -> None:
    workload = submit(cast, deployment(replicas=2), cheap)
    owner_client.post(reverse("workload-scale", args=[workload.pk]), {"replicas": 4})
    assert Workload.objects.get(pk=workload.pk).desired_replicas == 4
    edit = get_page(owner_client, reverse("workload-edit", args=[workload.pk]), queries=6).content.decode()
    assert "image: nginx:1.27" in edit
    owner_client.post(reverse("workload-edit", args=[workload.pk]), {"manifest": deployment(replicas=6)})
    assert Workload.objects.get(pk=workload.pk).generation == 3
    owner_client.post(reverse("workload-delete", args=[workload.pk]))
    assert Workload.objects.get(pk=workload.pk).status == WorkloadStatus.DELETING


def test_viewers_see_pages_but_cannot_change_workloads(cast, viewer_client, cheap) -> None:
    workload = submit(cast, deployment(), cheap)
    get_page(viewer_client, reverse("workload-detail", args=[workload.pk]), queries=11)
    assert (
        b"Edit manifest"
        not in get_page(viewer_client, reverse("workload-detail", args=[workload.pk]), queries=8).content
    )
    assert (
        viewer_client.post(reverse("workload-submit"), {"manifest": deployment(name="v")}).status_code == 403
    )
    assert (
        viewer_client.post(reverse("workload-scale", args=[workload.pk]), {"replicas": 9}).status_code == 403
    )
    assert viewer_client.post(reverse("federation-policy-create"), POLICY_FORM).status_code == 403


def test_the_policy_form_creates_a_policy_from_readable_fields(cast, owner_client, clusters) -> None:
    get_page(owner_client, reverse("federation-policy-create"), queries=9)
    response = owner_client.post(reverse("federation-policy-create"), POLICY_FORM)
    assert response.status_code == 302, response.content.decode()
    policy = FederationPolicy.objects.get(organization=cast.org_a, name="tiered")
    assert policy.workload_namespaces == ["shop", "web"] and policy.workload_labels == {"tier": "web"}
    assert len(policy.spec["burst"]["tiers"]) == 2
    listed = owner_client.get(reverse("federation-policies"), HTTP_HX_REQUEST="true").content.decode()
    assert "tiered" in listed and "fill then burst over 2 tiers" in listed


def test_static_weight_lines_name_clusters_or_select_them(cast, owner_client, clusters) -> None:
    form = {
        **POLICY_FORM,
        "strategy": "spread",
        "spread_weights": "static",
        "static_weights": "2: cloud=aws\n1: clusters dc-1",
    }
    assert owner_client.post(reverse("federation-policy-create"), form).status_code == 302
    rules = FederationPolicy.objects.get(name="tiered").spec["spread"]["static_weights"]
    assert rules[0]["weight"] == 2 and rules[0]["selector"][0]["key"] == "cloud"
    assert rules[1]["clusters"] == [str(clusters[0].pk)]


def test_live_validation_names_the_problem_or_previews_the_selection(cast, owner_client, clusters) -> None:
    url = reverse("federation-policy-validate")
    bad = owner_client.post(
        url, {**POLICY_FORM, "burst_tiers": "cloud=onprem\ncloud=azure"}, HTTP_HX_REQUEST="true"
    )
    # the summary names the field by its label, not its code name
    assert (
        "<strong>Tiers</strong>: tier 2: cloud=azure matches none of the selected clusters"
        in bad.content.decode()
    )
    good = owner_client.post(url, POLICY_FORM, HTTP_HX_REQUEST="true").content.decode()
    assert "Valid: Nodeless can execute this policy." in good
    assert "Tier 1: dc-1." in good and "Tier 2: eks-east." in good
    assert not FederationPolicy.objects.exists()


def test_the_policies_page_loads_the_federation_section(owner_client, clusters) -> None:
    page = get_page(owner_client, reverse("policies"), queries=11).content.decode()
    assert f'hx-get="{reverse("federation-policies")}"' in page
    get_page(owner_client, reverse("federation-policies"), queries=6)


def test_a_policy_in_use_is_not_deleted_from_the_page(cast, owner_client, cheap) -> None:
    submit(cast, deployment(), cheap)
    owner_client.post(reverse("federation-policy-delete", args=[cheap.pk]))
    assert FederationPolicy.objects.filter(pk=cheap.pk).exists()


def test_secret_data_is_never_shown_in_pages(cast, owner_client, cheap) -> None:
    secret = "hunter2-very-secret"
    manifest = (
        deployment()
        + "---\n"
        + "\n".join(
            [
                "apiVersion: v1",
                "kind: Secret",
                "metadata: {name: creds, namespace: shop}",
                f"stringData: {{password: {secret}}}",
            ]
        )
    )
    workload = submit(cast, manifest, cheap)
    for name, queries in (("workload-detail", 11), ("workload-edit", 6)):
        page = get_page(owner_client, reverse(name, args=[workload.pk]), queries=queries).content.decode()
        assert secret not in page
    assert (
        "Secret/creds"
        in get_page(owner_client, reverse("workload-detail", args=[workload.pk]), queries=8).content.decode()
    )


@pytest.mark.parametrize("url", ["/workloads/", "/policies/federation/"])
def test_the_workload_and_federation_policy_lists_run_as_many_queries_for_twenty_rows_as_for_one(
    cast, owner_client, policy, clusters, url
) -> None:
    def rows(first: int, last: int) -> None:
        for index in range(first, last):
            submit(cast, deployment(f"web-{index}"), policy(f"policy-{index}", cluster_selector="env=prod"))

    rows(0, 1)
    one = page_queries(owner_client, url)
    rows(1, 20)
    assert page_queries(owner_client, url) == one


class _FormDefaults(HTMLParser):
    """What a browser submits for a form left at its defaults: each input's value, each select's
    selected (else first) option, each textarea's text; unchecked boxes send nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        name = attributes.get("name") or ""
        if tag == "input" and name and attributes.get("type") not in ("checkbox", "radio", "submit"):
            self.values[name] = attributes.get("value") or ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            if self._select not in self.values or "selected" in attributes:
                self.values[self._select] = attributes.get("value") or ""
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data.lstrip("\n")


@pytest.mark.parametrize("weights", ["", "static", "capacity", "aggregated"])
def test_a_spread_policy_left_at_the_forms_defaults_saves(cast, owner_client, clusters, weights) -> None:
    # The issue: "a spread policy with the default static weights cannot be saved". Static weights
    # without rules weigh every cluster 1, as Karmada's default weight preference does.
    page = owner_client.get(reverse("federation-policy-create")).content.decode()
    parser = _FormDefaults()
    parser.feed(page)
    form = {**parser.values, "name": "spread-defaults", "strategy": "spread"}
    if weights:
        form["spread_weights"] = weights
    response = owner_client.post(reverse("federation-policy-create"), form)
    assert response.status_code == 302, response.content.decode()
    spread = FederationPolicy.objects.get(name="spread-defaults").spec["spread"]
    assert spread["weights"] == (weights or "capacity") and spread["static_weights"] == []


def test_decision_tables_show_rooms_and_capacity_weights_as_whole_numbers(cast, owner_client, cheap) -> None:
    # Issue 16: scores showed as 1048576.0000; a room or a capacity weight is a count of replicas.
    from engines.federation import PlacementPolicy, SpreadSettings, Strategy, WeightMode, schedule
    from tests.engines.federation.federation_builders import nodeless_cluster, observe_cluster
    from tests.engines.federation.federation_builders import workload as engine_workload

    workload = submit(cast, deployment(), cheap)
    unlimited = 1 << 40  # what a provisioning policy without limits leaves a nodeless cluster
    clusters = [
        nodeless_cluster("nodeless", cores=unlimited / 1000, memory_gib=unlimited / 1024),
        observe_cluster("onprem", cores=12, memory_gib=64),
    ]
    policy = PlacementPolicy(Strategy.SPREAD, spread=SpreadSettings(weights=WeightMode.CAPACITY))
    decision = schedule(engine_workload(6), policy, clusters).decision.as_dict()
    Decision.objects.create(
        organization=cast.org_a,
        workload=workload,
        kind=DecisionKind.PLACEMENT,
        reason=str(decision["reason"]),
        chosen={"clusters": decision["chosen"]},
        runner_ups=decision["runner_ups"],
    )
    partial = owner_client.get(reverse("workload-detail", args=[workload.pk]), HTTP_HX_REQUEST="true")
    cells = partial.content.decode()
    # cluster, replicas, room, $/hour, egress, score: the nodeless cluster's room is the 6 replicas
    # the workload asks for (it launches nodes for them), its capacity weight the same 6.
    assert (
        '<td><strong>nodeless</strong></td><td class="num">2</td><td class="num">6</td>'
        '<td class="num"><span class="money" title="$0.096000/h">$0.10/h</span></td>'
        '<td class="num">$0.00/h</td><td class="num">6</td>'
    ) in cells
    assert '<td><strong>onprem</strong></td><td class="num">4</td><td class="num">12</td>' in cells
