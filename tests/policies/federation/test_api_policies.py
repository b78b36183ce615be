"""Federation policies through the API: the documented shape, versions, roles, and policies the
engine or the organization's clusters cannot execute refused with the field named."""

from __future__ import annotations

import pytest

from clusters.models import Cluster, ClusterConnection
from engines.federation import SpreadBy, Strategy, WeightMode
from policies.federation.spec import engine_policy
from policies.models import FederationPolicy
from tenants import services as tenant_services
from tenants.actors import Actor
from tests.conftest import token_client
from tests.fixtures.federation import deployment as deployment_manifest
from tests.fixtures.federation import submit

pytestmark = pytest.mark.django_db

URL = "/api/v1/federation-policies/"


@pytest.fixture
def clusters(cast) -> dict[str, Cluster]:
    """Cluster rows of org A: two AWS regions and an on-prem site (policies are checked against them)."""
    labels = {
        "eks-east": {"cloud": "aws", "region": "us-east-1", "env": "prod"},
        "eks-west": {"cloud": "aws", "region": "us-west-2", "env": "prod"},
        "dc-1": {"cloud": "onprem", "region": "dc-east", "env": "staging"},
    }
    return {
        name: Cluster.objects.create(
            organization=cast.org_a, name=name, connection=ClusterConnection.KUBECONFIG, labels=value
        )
        for name, value in labels.items()
    }


def _error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_a_policy_round_trips_through_the_documented_shape(api_a, clusters) -> None:
    body = {
        "name": "web-prod",
        "workload_selector": {"namespaces": ["shop"], "labels": {"tier": "web"}},
        "cluster_selector": "env=prod, cloud in (aws, gcp)",
        "strategy": "spread",
        "spread": {
            "weights": "static",
            "static_weights": [
                {"weight": 2, "selector": "region=us-east-1"},
                {"weight": 1, "clusters": ["eks-west"]},
            ],
            "spread_by": "region",
            "min_groups": 2,
        },
        "on_failure": "sticky",
        "grace_period_seconds": 300,
    }
    created = api_a.post(URL, body, format="json")
    assert created.status_code == 201, created.content
    shown = api_a.get(f"{URL}{created.json()['id']}/").json()

    assert shown["cluster_selector"] == "env=prod, cloud in (aws, gcp)"
    assert shown["spread"]["static_weights"][1] == {"weight": 1, "clusters": ["eks-west"], "selector": ""}
    assert shown["workload_selector"] == body["workload_selector"] and shown["version"] == 1
    assert shown["on_failure"] == "sticky" and shown["summary"].startswith("spread by region")
    stored = FederationPolicy.objects.get(pk=shown["id"])
    engine = engine_policy(stored.spec)
    assert engine.strategy is Strategy.SPREAD and engine.spread.weights is WeightMode.STATIC
    assert engine.spread.spread_by is SpreadBy.REGION
    assert str(clusters["eks-west"].pk) in engine.spread.static_weights[1].cluster_names


@pytest.mark.parametrize(
    ("weights", "summary"),
    [
        ("static", "spread by cluster over any cluster (equal weights)"),
        ("aggregated", "spread by cluster over any cluster (aggregated)"),
    ],
)
def test_spread_weights_without_rules_are_accepted_as_karmadas_defaults(
    api_a, clusters, weights, summary
) -> None:
    # Static weights with no rules weigh every cluster 1 (Karmada's default weight preference);
    # aggregated needs none.
    body = {"name": f"even-{weights}", "strategy": "spread", "spread": {"weights": weights}}
    created = api_a.post(URL, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["summary"] == summary
    engine = engine_policy(FederationPolicy.objects.get(pk=created.json()["id"]).spec)
    assert engine.spread.weights is WeightMode(weights) and engine.spread.static_weights == ()


def test_patch_replaces_fields_and_makes_a_new_version(api_a, clusters) -> None:
    created = api_a.post(URL, {"name": "p", "strategy": "cheapest"}, format="json").json()
    patched = api_a.patch(f"{URL}{created['id']}/", {"strategy": "pinned", "pinned": ["dc-1"]}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["version"] == 2 and patched.json()["pinned"] == ["dc-1"]
    assert api_a.get(URL).json()["count"] == 1


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"strategy": "fastest"}, "strategy", "is not a valid choice"),
        ({"strategy": "pinned"}, "pinned", "at least one cluster"),
        ({"strategy": "pinned", "pinned": ["nowhere"]}, "pinned", "no cluster named 'nowhere'"),
        (
            {"strategy": "pinned", "pinned": ["dc-1"], "cluster_selector": "env=prod"},
            "pinned",
            "does not match the cluster selector",
        ),
        ({"strategy": "fill_then_burst"}, "burst.tiers", "needs at least one tier"),
        (
            {"strategy": "fill_then_burst", "burst": {"tiers": ["cloud=onprem", "cloud=azure"]}},
            "burst.tiers[1]",
            "matches none of the selected clusters",
        ),
        (
            {"strategy": "spread", "spread": {"min_groups": 3, "max_groups": 2}},
            "spread.max_groups",
            "smaller than spread.min_groups",
        ),
        (
            {"strategy": "spread", "spread": {"spread_by": "region", "min_groups": 4}},
            "spread.min_groups",
            "needs 4 regions but the selected clusters span 3",
        ),
        (
            {
                "strategy": "spread",
                "spread": {"weights": "static", "static_weights": [{"weight": 1, "selector": "cloud=azure"}]},
            },
            "spread.static_weights[0]",
            "matches none",
        ),
        ({"strategy": "cheapest", "cluster_selector": "cloud in aws"}, "cluster_selector", "parentheses"),
        ({"strategy": "cheapest", "cluster_selector": "tier>high"}, "cluster_selector", "needs an integer"),
        (
            {"strategy": "cheapest", "cluster_selector": "env=qa"},
            "cluster_selector",
            "matches none of your 3 clusters",
        ),
        ({"strategy": "cheapest", "stickiness": 1.5}, "stickiness", "less than or equal to 0.99"),
        (
            {"strategy": "cheapest", "grace_period_seconds": -1},
            "grace_period_seconds",
            "greater than or equal to 0",
        ),
    ],
)
def test_policies_that_cannot_execute_are_refused_naming_the_field(
    api_a, clusters, body, field, words
) -> None:
    error = _error(api_a.post(URL, {"name": "bad", **body}, format="json"))
    assert field in error["fields"], error
    assert words in " ".join(error["fields"][field]), error
    assert not FederationPolicy.objects.filter(name="bad").exists()


def test_names_are_unique_per_organization(api_a, api_b, clusters) -> None:
    assert api_a.post(URL, {"name": "same", "strategy": "cheapest"}, format="json").status_code == 201
    assert (
        "already exists"
        in _error(api_a.post(URL, {"name": "same", "strategy": "cheapest"}, format="json"))["fields"]["name"][
            0
        ]
    )
    assert api_b.post(URL, {"name": "same", "strategy": "cheapest"}, format="json").status_code == 201


def test_viewers_and_read_only_tokens_read_but_cannot_write(cast, viewer_client, clusters) -> None:
    assert viewer_client.get(URL).status_code == 200
    body = {"name": "v", "strategy": "cheapest"}
    assert (
        _error(viewer_client.post(URL, body, content_type="application/json"), 403)["code"]
        == "permission_denied"
    )
    _, plaintext = tenant_services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="ro", scopes=["read"]
    )
    reader = token_client(plaintext)
    assert reader.get(URL).status_code == 200
    assert "'write' scope" in _error(reader.post(URL, body, format="json"), 403)["message"]


def test_a_policy_in_use_cannot_be_deleted(cast, api_a, clusters) -> None:
    created = api_a.post(URL, {"name": "used", "strategy": "cheapest"}, format="json").json()
    policy = FederationPolicy.objects.get(pk=created["id"])
    submit(cast, deployment_manifest(), policy)
    error = _error(api_a.delete(f"{URL}{policy.pk}/"), 409)
    assert error["code"] == "conflict" and "used by 1 workload" in error["message"]
    unused = api_a.post(URL, {"name": "unused", "strategy": "cheapest"}, format="json").json()
    assert api_a.delete(f"{URL}{unused['id']}/").status_code == 204


def test_the_openapi_schema_documents_federation(client) -> None:
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert {"/api/v1/federation-policies/", "/api/v1/workloads/", "/api/v1/workloads/{id}/decisions/"} <= set(
        paths
    )
