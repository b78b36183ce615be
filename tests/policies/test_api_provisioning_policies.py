"""Provisioning policies as code through the API: the organization default and per-cluster overrides,
PUT replaces and PATCH merges, the form's validation word for word, versions with revisions, ETag and
If-Match, audit, roles."""

from __future__ import annotations

import pytest

from clusters.models import Cluster, ClusterConnection
from policies.models import ProvisioningPolicy
from policies.selectors import provisioning_policy_in_force
from tenants import services as tenant_services
from tenants.actors import Actor
from tenants.models import AuditEvent
from tests.conftest import token_client
from tests.fixtures.races import other_request

URL = "/api/v1/provisioning-policies/"


@pytest.fixture
def cluster(cast) -> Cluster:
    return Cluster.objects.create(
        organization=cast.org_a, name="eks-1", connection=ClusterConnection.KUBECONFIG, region="us-east-1"
    )


def _created(api, body: dict) -> dict:
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response["ETag"] == f'"{response.json()["version"]}"'
    return response.json()


def _error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


@pytest.mark.django_db
def test_the_default_and_a_cluster_override_are_created_listed_and_applied(api_a, cluster) -> None:
    default = _created(api_a, {"capacity_types": ["on_demand"], "max_nodes": 40})
    override = _created(api_a, {"cluster": str(cluster.pk), "packing": "isolate"})

    assert (default["cluster"], default["max_nodes"], default["version"]) == (None, 40, 1)
    assert (override["cluster_name"], override["packing"]) == ("eks-1", "isolate")
    listed = api_a.get(URL).json()
    assert [row["id"] for row in listed["results"]] == [default["id"], override["id"]]
    in_force = provisioning_policy_in_force(cluster)
    assert in_force.source == "cluster" and in_force.settings["packing"] == "isolate"

    again = _error(api_a.post(URL, {"max_nodes": 5}, format="json"), 409)
    assert "already exists" in again["message"] and default["id"] in again["message"]


@pytest.mark.django_db
def test_put_replaces_every_setting_and_patch_changes_only_what_it_sends(api_a, cluster) -> None:
    created = _created(api_a, {"cluster": str(cluster.pk), "max_nodes": 40, "architectures": ["arm64"]})
    url = f"{URL}{created['id']}/"

    patched = api_a.patch(url, {"max_cost_per_hour": "12.5"}, format="json").json()
    assert (patched["max_nodes"], patched["architectures"], patched["max_cost_per_hour"]) == (
        40,
        ["arm64"],
        "12.5000",
    )
    replaced = api_a.put(url, {"max_nodes": 10}, format="json").json()
    assert (replaced["max_nodes"], replaced["architectures"], replaced["max_cost_per_hour"]) == (10, [], None)
    assert [row["version"] for row in api_a.get(f"{url}revisions/").json()["results"]] == [3, 2, 1]
    actions = AuditEvent.objects.filter(target_id=str(created["id"])).values_list("action", flat=True)
    assert sorted(actions) == [
        "provisioning_policy.create",
        "provisioning_policy.update",
        "provisioning_policy.update",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"families_allow": ["zz9"]}, "families_allow", "'zz9' is not an instance family in us-east-1"),
        ({"min_vcpu": 64, "max_vcpu": 2}, "max_vcpu", "below the minimum (64)"),
        ({"max_nodes": 2**40}, "max_nodes", "less than or equal to"),
        ({"capacity_types": ["reserved"]}, "capacity_types", "not a valid choice"),
        ({"max_cost_per_hour": "NaN"}, "max_cost_per_hour", ""),
        ({"consolidation_min_saving_pct": 150}, "consolidation_min_saving_pct", "less than or equal to"),
    ],
)
def test_settings_the_form_refuses_are_refused_naming_the_field(api_a, cluster, body, field, words) -> None:
    error = _error(api_a.post(URL, {"cluster": str(cluster.pk), **body}, format="json"))
    assert field in error["fields"], error
    assert words.lower() in " ".join(error["fields"][field]).lower()
    assert not ProvisioningPolicy.objects.filter(cluster=cluster).exists()


@pytest.mark.django_db
def test_a_serverless_only_policy_is_valid(api_a, cluster) -> None:
    """Serverless is launched (through Fargate profiles): a policy of serverless alone is accepted."""
    created = _created(api_a, {"cluster": str(cluster.pk), "capacity_types": ["serverless"]})
    assert created["capacity_types"] == ["serverless"]


@pytest.mark.django_db
def test_the_consolidation_threshold_is_a_setting_with_a_default(api_a, cluster) -> None:
    created = _created(api_a, {"cluster": str(cluster.pk)})
    assert created["consolidation_min_saving_pct"] == 10
    url = f"{URL}{created['id']}/"
    patched = api_a.patch(url, {"consolidation_min_saving_pct": 25}, format="json").json()
    assert patched["consolidation_min_saving_pct"] == 25
    assert api_a.put(url, {}, format="json").json()["consolidation_min_saving_pct"] == 10


@pytest.mark.django_db
def test_the_api_and_the_form_give_the_same_message(api_a, owner_client, cluster) -> None:
    api_message = _error(api_a.post(URL, {"families_allow": ["zz9"]}, format="json"))["fields"][
        "families_allow"
    ]
    form = {
        "objective": "cost",
        "packing": "pack",
        "capacity_types": ["on_demand"],
        "families_allow": "zz9",
        "scale_down_delay_seconds": "60",
        "spot_fallback_seconds": "120",
    }
    page = owner_client.post("/policies/provisioning/validate/", form)
    assert api_message[0] in page.content.decode().replace("&#x27;", "'")


@pytest.mark.django_db
def test_if_match_makes_a_save_conditional(api_a, cluster) -> None:
    created = _created(api_a, {"cluster": str(cluster.pk)})
    url = f"{URL}{created['id']}/"
    etag = api_a.get(url)["ETag"]
    assert api_a.patch(url, {"max_nodes": 3}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    stale = api_a.put(url, {"max_nodes": 9}, format="json", HTTP_IF_MATCH=etag)
    assert _error(stale, 412)["code"] == "precondition_failed"
    assert ProvisioningPolicy.objects.get(pk=created["id"]).max_nodes == 3


@pytest.mark.django_db(transaction=True)
def test_two_patches_of_different_settings_both_land(api_a, cluster) -> None:
    created = _created(api_a, {"cluster": str(cluster.pk)})
    url = f"{URL}{created['id']}/"
    other = other_request(lambda: api_a.patch(url, {"max_nodes": 7}, format="json"))
    response = api_a.patch(url, {"packing": "isolate"}, format="json")
    other.join(70)
    assert response.status_code == 200, response.content
    stored = ProvisioningPolicy.objects.get(pk=created["id"])
    assert (stored.max_nodes, stored.packing, stored.version) == (7, "isolate", 3)


@pytest.mark.django_db
def test_deleting_an_override_falls_back_to_the_default_which_cannot_be_deleted(api_a, cluster) -> None:
    default = _created(api_a, {"max_nodes": 40})
    override = _created(api_a, {"cluster": str(cluster.pk), "max_nodes": 4})
    assert api_a.delete(f"{URL}{override['id']}/").status_code == 204
    assert provisioning_policy_in_force(cluster).source == "organization"
    assert "cannot be deleted" in _error(api_a.delete(f"{URL}{default['id']}/"), 409)["message"]


@pytest.mark.django_db
def test_viewers_read_outsiders_see_nothing(cast, api_a, api_b, viewer_client, cluster) -> None:
    created = _created(api_a, {"cluster": str(cluster.pk)})
    url = f"{URL}{created['id']}/"
    assert viewer_client.get(url).status_code == 200
    assert _error(viewer_client.patch(url, {"max_nodes": 1}, content_type="application/json"), 403)
    _, plaintext = tenant_services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="ro", scopes=["read"]
    )
    assert _error(token_client(plaintext).put(url, {}, format="json"), 403)
    for request in (api_b.get(url), api_b.patch(url, {"max_nodes": 1}, format="json"), api_b.delete(url)):
        assert request.status_code == 404
    assert api_b.get(URL).json()["count"] == 0
    assert _error(api_b.post(URL, {"cluster": str(cluster.pk)}, format="json"), 404)


@pytest.mark.django_db
def test_unlimited_burstable_nodes_are_opted_in_through_the_api(api_a, cluster) -> None:
    created = _created(api_a, {"cluster": str(cluster.pk)})
    assert created["burstable_unlimited"] is False

    patched = api_a.patch(f"{URL}{created['id']}/", {"burstable_unlimited": True}, format="json").json()

    assert patched["burstable_unlimited"] is True
    assert provisioning_policy_in_force(cluster).settings["burstable_unlimited"] is True
