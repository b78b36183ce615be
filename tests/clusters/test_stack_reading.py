"""The product reads the onboarding stack's outputs from CloudFormation itself (DescribeStacks under
the customer's role, on the strict simulated cloud) when the account is verified, stores them, and
shows them on the cloud-account page and the cluster page; the node class then uses the node role
and instance profile the stack created, whatever they are called."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from clusters.models import CloudAccount, Cluster
from clusters.services.node_classes import node_class_refresh
from simulator.cloud.eventbridge import allow_eventbridge, queue_arn, route_events_to
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db
PAGE_QUERIES = 30


@pytest.fixture(autouse=True)
def _stacks_go_with_the_test(simulated_cloud) -> Iterator[None]:
    """The simulated cloud outlives a test: the stacks a test's customer created go with it."""
    yield
    stacks = simulated_cloud.gateway.stacks
    for stack in stacks.describe(simulated_cloud.customer_account_id, simulated_cloud.region, ""):
        stacks.delete(stack.account_id, stack.region, stack.name)


def customer_stack(world: Any, role_arn: str, *, name: str = "nodeless-access", region: str = "") -> Any:
    """What the customer's CloudFormation does with the onboarding template: the node role and its
    instance profile (named here as a customer's edited template might), the interruption queue with
    its policy and EventBridge rules, and the stack with the outputs the template declares."""
    cloud = world.aws.cloud
    account, region = cloud.customer_account_id, region or cloud.region
    node_role, profile = cloud.create_node_role(f"CustomNodeRole-{name}")
    sqs = cloud.admin.client("sqs", account, region)
    url = sqs.create_queue(QueueName=f"nodeless-interruptions-{name}")["QueueUrl"]
    allow_eventbridge(sqs, url)
    route_events_to(cloud.admin.client("events", account, region), sqs, url, prefix=name)
    return cloud.gateway.stacks.create(
        account,
        region,
        name,
        outputs={
            "RoleArn": role_arn,
            "NodeRoleArn": node_role,
            "NodeInstanceProfileName": profile,
            "NodeInstanceProfileArn": f"arn:aws:iam::{account}:instance-profile/{profile}",
            "InterruptionQueueName": f"nodeless-interruptions-{name}",
            "InterruptionQueueUrl": url,
            "InterruptionQueueArn": queue_arn(sqs, url),
        },
    )


def _account(world: Any) -> CloudAccount:
    cluster = Cluster.objects.select_related("cloud_account").get(pk=world.cluster.pk)
    assert cluster.cloud_account is not None
    return cluster.cloud_account


def test_verify_reads_the_stack_outputs_and_the_pages_show_them(nodeless, client) -> None:
    account = _account(nodeless)
    # Connected before the stack existed: the account says so, and nothing is guessed.
    assert "no CloudFormation stack nodeless-access in us-east-1" in account.stack_error
    assert account.stack_outputs == {}
    stack = customer_stack(nodeless, account.role_arn)

    client.force_login(nodeless.cast.alice)
    response = client.post(reverse("cloud-account-verify", args=[account.pk]))
    assert response.status_code == 302

    account.refresh_from_db()
    assert account.stack_error == "" and account.stack_id == stack.stack_id
    assert account.stack_outputs["NodeRoleArn"] == stack.outputs["NodeRoleArn"]
    assert account.stack_outputs["InterruptionQueueUrl"] == stack.outputs["InterruptionQueueUrl"]
    page = get_page(client, reverse("settings-cloud-accounts"), queries=PAGE_QUERIES)
    for value in ("NodeRoleArn", "NodeInstanceProfileName", "InterruptionQueueUrl"):
        assert stack.outputs[value].encode() in page.content
    assert b"Stack not read" not in page.content

    # The node class uses the role the stack created: its EC2_LINUX access entry is created for it.
    cluster = Cluster.objects.select_related("cloud_account", "organization").get(pk=nodeless.cluster.pk)
    node_class = node_class_refresh(cluster)
    assert not node_class.problem and node_class.access_entry == "created"
    assert nodeless.aws.cloud.eks_access.node_entry(nodeless.aws.cluster.name, stack.outputs["NodeRoleArn"])
    cluster_page = get_page(
        client, reverse("cluster-detail", args=[nodeless.cluster.pk]), queries=PAGE_QUERIES
    )
    assert stack.outputs["NodeRoleArn"].encode() in cluster_page.content
    assert stack.outputs["NodeInstanceProfileName"].encode() in cluster_page.content


def test_a_stack_named_by_arn_is_read_in_its_region_and_one_of_another_account_is_refused(
    nodeless, owner_client
) -> None:
    account = _account(nodeless)
    stack = customer_stack(nodeless, account.role_arn, name="team-nodeless", region="us-east-1")
    path = f"/api/v1/cloud-accounts/{account.pk}/"
    foreign = "arn:aws:cloudformation:us-east-1:999999999999:stack/team-nodeless/0f0f"
    refused = owner_client.patch(path, {"stack_name": foreign}, content_type="application/json")
    assert refused.status_code == 400 and "not this account" in str(refused.json())
    bad = owner_client.patch(path, {"stack_name": "not a stack!"}, content_type="application/json")
    assert bad.status_code == 400 and "stack name" in str(bad.json())

    saved = owner_client.patch(path, {"stack_name": stack.stack_id}, content_type="application/json")
    assert saved.status_code == 200
    verified = owner_client.post(f"{path}verify/")
    assert verified.status_code == 200
    body = verified.json()
    assert body["stack_error"] == "" and body["stack_id"] == stack.stack_id
    assert body["stack_outputs"]["InterruptionQueueName"] == "nodeless-interruptions-team-nodeless"


def test_a_role_that_may_not_read_the_stack_is_told_which_permission_is_missing(nodeless) -> None:
    """An older stack's role (no cloudformation:DescribeStacks): verification says what to grant and
    keeps the outputs last read."""
    from clusters.services.accounts import cloud_account_verify
    from tenants.actors import Actor

    account = _account(nodeless)
    customer_stack(nodeless, account.role_arn)
    cloud_account_verify(nodeless.cast.org_a, account=account, actor=Actor(user=nodeless.cast.alice))
    assert account.stack_outputs and not account.stack_error
    cloud = nodeless.aws.cloud
    iam = cloud.admin.client("iam", cloud.customer_account_id)
    iam.put_role_policy(
        RoleName=account.role_arn.rsplit("/", 1)[-1],
        PolicyName="NoStacks",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": '
        '"cloudformation:DescribeStacks", "Resource": "*"}]}',
    )
    cloud.gateway.enforcer.invalidate()
    cloud_account_verify(nodeless.cast.org_a, account=account, actor=Actor(user=nodeless.cast.alice))
    account.refresh_from_db()
    assert "cloudformation:DescribeStacks" in account.stack_error
    assert account.stack_outputs["NodeRoleArn"].startswith("arn:aws:iam::")


def test_the_simulated_cloudformation_answers_as_aws_does(nodeless) -> None:
    """DescribeStacks of an unknown stack is a ValidationError (HTTP 400); a deleted stack is found
    by its id only; another region holds none of this region's stacks."""
    from botocore.exceptions import ClientError

    from clusters.cloud.aws_session import client as aws_client
    from clusters.onboarding.aws import assume_role, endpoints

    cloud = nodeless.aws.cloud
    account = cloud.customer_account_id
    stack = cloud.gateway.stacks.create(account, cloud.region, "s1", outputs={"A": "1"})

    def cloudformation(region: str) -> Any:
        role = _account(nodeless).role_arn
        session = assume_role(role_arn=role, external_id=nodeless.cast.org_a.external_id, region=region)
        return aws_client(session, "cloudformation", endpoints())

    here = cloudformation(cloud.region)
    (found,) = here.describe_stacks(StackName="s1")["Stacks"]
    assert found["StackId"] == stack.stack_id and found["Outputs"] == [{"OutputKey": "A", "OutputValue": "1"}]
    elsewhere = cloudformation("eu-west-1")
    with pytest.raises(ClientError) as missing:
        elsewhere.describe_stacks(StackName="s1")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    cloud.gateway.stacks.delete(account, cloud.region, "s1")
    with pytest.raises(ClientError):
        here.describe_stacks(StackName="s1")
    (deleted,) = here.describe_stacks(StackName=stack.stack_id)["Stacks"]
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
