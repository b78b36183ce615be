"""Connecting an AWS account: role verification with the organization's external ID, permission
dry runs, EKS discovery and import, all against the simulated cloud through boto3."""

from __future__ import annotations

import pytest

from clusters.models import CloudAccount, Cluster, ClusterStatus
from clusters.onboarding.cloudformation import required_iam_actions
from tenants import services as tenant_services
from tenants.actors import Actor
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


def _connect(client, role_arn: str, **extra):
    return client.post(
        "/api/v1/cloud-accounts/",
        {"role_arn": role_arn, "regions": ["us-east-1"], **extra},
        content_type="application/json",
    )


def test_a_verified_role_is_stored_and_every_assume_role_sends_the_orgs_external_id(
    cast, aws_world, owner_client
) -> None:
    role_arn = aws_world.role(cast.org_a.external_id)
    response = _connect(owner_client, role_arn, name="prod", spot_discount_pct="12.5")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "verified" and body["account_id"] == role_arn.split(":")[4]
    assert all(body["permissions"].values()) and "ec2:CreateFleet" in body["permissions"]
    records = [r for r in aws_world.cloud.assume_role_records() if r.role_arn == role_arn]
    assert records and {r.external_id for r in records} == {cast.org_a.external_id}


def test_a_role_trusting_another_external_id_is_refused_and_nothing_is_stored(
    cast, aws_world, owner_client
) -> None:
    role_arn = aws_world.role(cast.org_b.external_id)  # org B's role, registered under org A
    response = _connect(owner_client, role_arn)
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["role_arn"][0]
    assert "sts:ExternalId" in message and cast.org_a.external_id in message
    assert not CloudAccount.objects.exists()


def test_each_missing_permission_is_named(cast, aws_world, owner_client) -> None:
    actions = [a for a in required_iam_actions() if a not in ("ec2:CreateFleet", "ec2:TerminateInstances")]
    response = _connect(owner_client, aws_world.role(cast.org_a.external_id, actions=actions))
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["role_arn"][0]
    assert (
        "ec2:CreateFleet" in message
        and "ec2:TerminateInstances" in message
        and "ec2:RunInstances" not in message
    )
    assert not CloudAccount.objects.exists()


def test_malformed_arns_and_regions_are_explained(cast, owner_client) -> None:
    response = _connect(owner_client, "arn:aws:iam::12:user/bob")
    assert "not an IAM role ARN" in response.json()["error"]["fields"]["role_arn"][0]
    response = owner_client.post(
        "/api/v1/cloud-accounts/",
        {"role_arn": "arn:aws:iam::123456789012:role/x", "regions": ["mars-1"]},
        content_type="application/json",
    )
    assert response.status_code == 400 and "regions" in response.json()["error"]["fields"]


def test_discover_and_import_an_eks_cluster_through_the_role(
    cast, aws_world, owner_client, viewer_client, worker
) -> None:
    account = _connect(owner_client, aws_world.role(cast.org_a.external_id)).json()
    discover = f"/api/v1/cloud-accounts/{account['id']}/eks-clusters/"
    # Discovery makes AWS calls with the organization's role: not for viewers, nor for a token
    # without the admin scope (the import page is reserved to admins the same way).
    _, read_only = tenant_services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="dashboards", scopes=["read"]
    )
    for refused in (viewer_client.get(discover), token_client(read_only).get(discover)):
        assert refused.status_code == 403 and "manage cloud accounts" in refused.json()["error"]["message"]
    found = owner_client.get(discover).json()
    assert {c["name"] for c in found} >= {aws_world.cluster.name}
    with worker.committing():
        response = owner_client.post(
            "/api/v1/clusters/",
            {
                "cloud_account": account["id"],
                "region": "us-east-1",
                "eks_cluster_name": aws_world.cluster.name,
                "labels": {"env": "prod"},
            },
            content_type="application/json",
        )
    assert response.status_code == 202, response.json()
    assert worker.run() == ["workers.tasks.cluster_check"]
    cluster = owner_client.get(response["Location"]).json()
    assert cluster["status"] == "connected"
    assert cluster["health"] == "healthy" and cluster["kubernetes_version"].startswith("v1.")
    assert cluster["labels"] == {"cloud": "aws", "region": "us-east-1", "env": "prod"}
    assert cluster["endpoint"] == aws_world.cluster.url  # reached through the endpoint override


def test_a_role_without_an_access_entry_gets_the_exact_explanation(
    cast, aws_world, owner_client, worker
) -> None:
    role_arn = aws_world.role(cast.org_a.external_id, grant_cluster=False)
    account = _connect(owner_client, role_arn).json()
    with worker.committing():
        response = owner_client.post(
            "/api/v1/clusters/",
            {
                "cloud_account": account["id"],
                "region": "us-east-1",
                "eks_cluster_name": aws_world.cluster.name,
            },
            content_type="application/json",
        )
    assert response.status_code == 202
    worker.run()
    cluster = Cluster.objects.get()
    assert cluster.status == ClusterStatus.FAILED
    assert "token rejected" in cluster.health_problem
    assert f"no access entry for role {role_arn}" in cluster.health_problem


def test_reverification_records_a_role_that_lost_permissions(cast, aws_world, owner_client) -> None:
    role_arn = aws_world.role(cast.org_a.external_id)
    account = _connect(owner_client, role_arn).json()
    iam = aws_world.cloud.admin.client("iam", aws_world.cloud.customer_account_id)
    name = role_arn.rsplit("/", 1)[1]
    iam.delete_role_policy(RoleName=name, PolicyName=f"{name}Policy")
    aws_world.cloud.gateway.enforcer.invalidate()
    verified = owner_client.post(f"/api/v1/cloud-accounts/{account['id']}/verify/").json()
    assert verified["status"] == "failed" and "ec2:CreateFleet" in verified["last_error"]


def test_an_account_with_clusters_cannot_be_removed(cast, aws_world, owner_client) -> None:
    account = _connect(owner_client, aws_world.role(cast.org_a.external_id)).json()
    owner_client.post(
        "/api/v1/clusters/",
        {"cloud_account": account["id"], "region": "us-east-1", "eks_cluster_name": aws_world.cluster.name},
        content_type="application/json",
    )
    response = owner_client.delete(f"/api/v1/cloud-accounts/{account['id']}/")
    assert response.status_code == 400 and aws_world.cluster.name in response.json()["error"]["message"]


def test_a_refused_import_comes_back_in_its_row_with_what_was_typed_and_every_error(
    cast, aws_world, owner_client, worker
) -> None:
    from tests.billing.ledger_builders import make_cluster

    make_cluster(cast.org_a, "taken")
    account = _connect(owner_client, aws_world.role(cast.org_a.external_id)).json()
    with worker.committing():
        page = owner_client.post(
            f"/cloud-accounts/{account['id']}/import/",
            {
                "region": "us-east-1",
                "eks_cluster_name": aws_world.cluster.name,
                "name": "taken",
                "mode": "nodeless",
                "labels": "env=prod, team",
            },
        )
    html = page.content.decode()
    assert page.status_code == 400
    assert "A cluster named taken already exists" in html and "needs a value: write key=value." in html
    assert 'value="env=prod, team"' in html  # the labels typed, in the row they were typed in
    assert html.count("Not connected:") == 1
    assert not Cluster.objects.filter(eks_cluster_name=aws_world.cluster.name).exists() and worker.sent == []
