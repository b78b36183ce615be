"""Provisioning policies: every field validated with an actionable message, versioned, org default +
per-cluster override, and mapped faithfully onto the planner's policy."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clusters.models import Cluster, ClusterConnection
from clusters.pricing.catalogs import list_price_catalog
from engines.planner import CapacityType, Packing
from policies import selectors, services
from policies.models import ProvisioningPolicyRevision
from policies.provisioning_settings import clean_settings, planner_policy
from tenants.actors import Actor
from tests.fixtures.pages import get_page, page_queries

pytestmark = pytest.mark.django_db

BASE = {
    "objective": "cost",
    "capacity_types": ["on_demand", "spot"],
    "packing": "pack",
    "scale_down_delay_seconds": 60,
    "spot_fallback_seconds": 120,
}


def _errors(data: dict) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        clean_settings({**BASE, **data}, list_price_catalog("us-east-1"))
    return raised.value.message_dict


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (
            {"capacity_types": []},
            "capacity_types",
            "at least one capacity type: on_demand, spot or serverless",
        ),
        ({"families_allow": ["m9zz"]}, "families_allow", "not an instance family"),
        ({"families_allow": ["m7g"], "families_deny": ["m7g"]}, "families_deny", "both allowed and denied"),
        ({"architectures": ["sparc"]}, "architectures", "x86_64 and arm64"),
        ({"gpu_models": ["Voodoo2"]}, "gpu_models", "No instance type has GPU model"),
        ({"min_vcpu": 16, "max_vcpu": 4}, "max_vcpu", "below the minimum"),
        ({"spot_max_interruption_bucket": 7}, "spot_max_interruption_bucket", "0 (<5% interruptions) to 4"),
        ({"max_nodes": 0}, "max_nodes", "launches nothing"),
        ({"max_pods_per_node": 0}, "max_pods_per_node", "at least one pod"),
        ({"max_nodes": 2**31}, "max_nodes", "at most 2,147,483,647"),
        ({"families_allow": ["t4g"], "min_vcpu": 64}, "__all__", "No instance type in the catalog"),
        ({"isolate_label_selectors": ["tenant"]}, "isolate_label_selectors", "key=value"),
        ({"exclude_label_selectors": ["autoscaler"]}, "exclude_label_selectors", "key=value"),
        ({"consolidation_min_saving_pct": 150}, "consolidation_min_saving_pct", "between 0 and 100"),
    ],
)
def test_policies_the_planner_cannot_execute_are_refused_with_the_reason(data, field, words) -> None:
    errors = _errors(data)
    assert field in errors and words in " ".join(errors[field])


@pytest.mark.parametrize(("given", "kept"), [(None, 10), ("", 10), (0, 0), ("25", 25)])
def test_the_consolidation_threshold_defaults_to_ten_percent(given, kept) -> None:
    data = {**BASE} if given is None else {**BASE, "consolidation_min_saving_pct": given}
    assert clean_settings(data, list_price_catalog("us-east-1"))["consolidation_min_saving_pct"] == kept


def test_every_mistake_is_reported_at_once_not_one_per_submit() -> None:
    errors = _errors(
        {
            "families_allow": ["zz9"],
            "min_vcpu": 64,
            "max_vcpu": 2,
            "min_memory_gib": "512",
            "max_memory_gib": "1",
            "max_nodes": "many",
            "objective": "fastest",
            "packing": "tight",
        }
    )
    assert set(errors) == {
        "families_allow",
        "max_vcpu",
        "max_memory_gib",
        "max_nodes",
        "objective",
        "packing",
    }
    assert "below the minimum (64)" in errors["max_vcpu"][0]
    assert "whole number" in errors["max_nodes"][0]


def test_serverless_alone_is_a_valid_policy() -> None:
    settings = clean_settings({**BASE, "capacity_types": ["serverless"]}, list_price_catalog("us-east-1"))
    assert planner_policy(settings).capacity_types == {CapacityType.SERVERLESS}


def test_a_valid_policy_maps_onto_the_planner_policy() -> None:
    settings = clean_settings(
        {
            **BASE,
            "capacity_types": ["spot", "serverless"],
            "packing": "isolate",
            "families_allow": "m7g, c7g",
            "architectures": ["arm64"],
            "max_memory_gib": "64",
            "isolate_namespaces": "tenant-a",
            "isolate_label_selectors": ["sandbox=true"],
            "exclude_namespaces": "batch, ml",
            "exclude_label_selectors": ["autoscaler=other"],
            "max_cost_per_hour": "12.5",
            "spot_max_interruption_bucket": 1,
        },
        list_price_catalog("us-east-1"),
    )
    policy = planner_policy(settings)
    # serverless is launched through Fargate profiles: the planner may choose it
    assert policy.capacity_types == {CapacityType.SPOT, CapacityType.SERVERLESS}
    assert policy.packing is Packing.ISOLATE
    assert policy.instance_requirements.families_allow == {"m7g", "c7g"}
    assert policy.instance_requirements.max_memory_mib == 64 * 1024
    assert policy.isolation.namespaces == {"tenant-a"}
    assert policy.isolation.label_selectors[0].matches({"sandbox": "true"})
    assert policy.exclusions.excludes("ml", {}) and policy.exclusions.excludes("web", {"autoscaler": "other"})
    assert not policy.exclusions.excludes("web", {"autoscaler": "nodeless"})
    assert policy.limits.max_cost_per_hour == 12.5 and policy.spot_max_interruption_bucket == 1


def test_saving_versions_the_policy_and_keeps_revisions(cast) -> None:
    actor = Actor(user=cast.alice)
    first = services.provisioning_policy_save(cast.org_a, actor=actor, cluster=None, data=BASE)
    second = services.provisioning_policy_save(
        cast.org_a, actor=actor, cluster=None, data={**BASE, "packing": "isolate"}
    )
    assert (first.pk, first.version + 1) == (second.pk, second.version)
    revisions = ProvisioningPolicyRevision.objects.filter(policy=second).order_by("version")
    assert [r.settings["packing"] for r in revisions] == ["pack", "isolate"]


def test_a_failed_save_changes_nothing(cast) -> None:
    actor = Actor(user=cast.alice)
    services.provisioning_policy_save(cast.org_a, actor=actor, cluster=None, data=BASE)
    with pytest.raises(ValidationError):
        services.provisioning_policy_save(
            cast.org_a, actor=actor, cluster=None, data={**BASE, "capacity_types": []}
        )
    policy = selectors.organization_default_policy(cast.org_a.pk)
    assert policy is not None
    assert policy.version == 1 and policy.capacity_types == ["on_demand", "spot"]


def test_clusters_follow_their_override_then_the_default_then_built_ins(cast) -> None:
    cluster = Cluster.objects.create(
        organization=cast.org_a, name="c1", connection=ClusterConnection.KUBECONFIG
    )
    assert selectors.provisioning_policy_in_force(cluster).source == "built-in"
    services.provisioning_policy_save(cast.org_a, actor=Actor(user=cast.alice), cluster=None, data=BASE)
    assert selectors.provisioning_policy_in_force(cluster).version_label == "organization policy v1"
    services.provisioning_policy_save(
        cast.org_a, actor=Actor(user=cast.alice), cluster=cluster, data={**BASE, "packing": "isolate"}
    )
    in_force = selectors.provisioning_policy_in_force(cluster)
    assert in_force.source == "cluster" and in_force.settings["packing"] == "isolate"
    services.provisioning_policy_reset(cast.org_a, actor=Actor(user=cast.alice), cluster=cluster)
    assert selectors.provisioning_policy_in_force(cluster).source == "organization"


def test_the_form_validates_live_and_saves(cast, owner_client, viewer_client) -> None:
    form = {**BASE, "capacity_types": ["spot"], "families_allow": "m9zz", "scale_down_delay_seconds": "60"}
    response = owner_client.post("/policies/provisioning/validate/", form)
    assert b"not an instance family" in response.content
    response = owner_client.post("/policies/provisioning/", {**form, "families_allow": "m7g"})
    assert response.status_code == 302
    policy = selectors.organization_default_policy(cast.org_a.pk)
    assert policy is not None and policy.families_allow == ["m7g"]
    assert viewer_client.post("/policies/provisioning/", {**form, "families_allow": "m7g"}).status_code == 403
    get_page(viewer_client, "/policies/provisioning/", queries=5)


def test_the_policies_page_runs_as_many_queries_for_twenty_clusters_as_for_one(cast, owner_client) -> None:
    def clusters(first: int, last: int) -> None:
        for index in range(first, last):
            Cluster.objects.create(
                organization=cast.org_a, name=f"c-{index:02d}", connection=ClusterConnection.KUBECONFIG
            )

    clusters(0, 1)
    one = page_queries(owner_client, "/policies/")
    clusters(1, 20)
    assert page_queries(owner_client, "/policies/") == one


def test_burstable_nodes_are_sized_by_their_baseline_unless_the_policy_opts_in_to_unlimited(
    cast, owner_client
) -> None:
    catalog = list_price_catalog("us-east-1")
    assert planner_policy(clean_settings(BASE, catalog)).burstable_unlimited is False
    assert planner_policy(clean_settings({**BASE, "burstable_unlimited": "on"}, catalog)).burstable_unlimited
    # Settings saved before the field existed meant the default.
    saved_before = {k: v for k, v in clean_settings(BASE, catalog).items() if k != "burstable_unlimited"}
    assert planner_policy(saved_before).burstable_unlimited is False

    page = get_page(owner_client, "/policies/provisioning/", queries=9)  # + the clusters to replay on
    assert b'name="burstable_unlimited"' in page.content
    response = owner_client.post("/policies/provisioning/", {**BASE, "burstable_unlimited": "on"})
    assert response.status_code == 302
    policy = selectors.organization_default_policy(cast.org_a.pk)
    assert policy is not None and policy.burstable_unlimited


@pytest.mark.parametrize(
    ("ticked", "node_architectures", "default"),
    [
        ([], frozenset(), frozenset({"amd64"})),
        (["x86_64"], frozenset({"amd64"}), frozenset({"amd64"})),
        (["arm64"], frozenset({"arm64"}), frozenset()),
        (["x86_64", "arm64"], frozenset({"amd64", "arm64"}), frozenset()),
    ],
)
def test_each_architecture_setting_validates_and_reaches_the_planner_in_kubernetes_terms(
    ticked, node_architectures, default
) -> None:
    # The policy names EC2's x86_64; nodes and the catalog say amd64. Ticking x86_64 alone used to
    # match no instance type at all, and the form refused every policy with it.
    policy = planner_policy(
        clean_settings({**BASE, "architectures": ticked}, list_price_catalog("us-east-1"))
    )
    assert policy.instance_requirements.architectures == node_architectures
    assert policy.default_architectures == default
