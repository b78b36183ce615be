"""The interruption queue comes from the onboarding stack's outputs stored on the cloud account: the
stack names it nodeless-interruptions-<stack>, which the older per-cluster lookup never found."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clusters.cloud.interface import NoticeKind
from clusters.models import Cluster
from clusters.services.stack_outputs import cloud_account_stack_outputs_set
from simulator.cloud.eventbridge import allow_eventbridge, deliver, queue_arn, route_events_to
from simulator.cloud.interruptions import SPOT_WARNING, eventbridge_message
from tenants.actors import Actor
from workers.provisioning.context import cloud_provider_for

pytestmark = pytest.mark.django_db


def test_the_loop_reads_the_queue_the_stack_outputs_name(nodeless) -> None:
    cloud = nodeless.aws.cloud
    account_id, region = cloud.customer_account_id, cloud.region
    sqs = cloud.admin.client("sqs", account_id, region)
    events = cloud.admin.client("events", account_id, region)
    # What the customer's stack (named nodeless-access) created, with the names it gives.
    url = sqs.create_queue(QueueName="nodeless-interruptions-nodeless-access")["QueueUrl"]
    allow_eventbridge(sqs, url)
    route_events_to(events, sqs, url, prefix="nodeless-access")
    cluster = Cluster.objects.select_related("cloud_account", "organization").get(pk=nodeless.cluster.pk)
    Cluster.objects.filter(pk=cluster.pk).update(interruption_queue_url="")
    cluster.interruption_queue_url = ""
    assert cluster.cloud_account is not None
    cloud_account_stack_outputs_set(
        nodeless.cast.org_a,
        account=cluster.cloud_account,
        actor=Actor(user=nodeless.cast.alice),
        outputs={
            "InterruptionQueueName": "nodeless-interruptions-nodeless-access",
            "InterruptionQueueUrl": url,
            "InterruptionQueueArn": queue_arn(sqs, url),
        },
    )

    provider = cloud_provider_for(cluster)

    assert Cluster.objects.get(pk=cluster.pk).interruption_queue_url == url
    event = eventbridge_message(SPOT_WARNING, account_id, region, "us-east-1a", "i-0abc0abc0abc0abc0", 0.0)
    assert url in deliver(events, sqs, event).delivered
    notices = provider.read_interruption_notices()
    assert [(n.kind, n.instance_id) for n in notices] == [
        (NoticeKind.SPOT_INTERRUPTION, "i-0abc0abc0abc0abc0")
    ]


def test_outputs_that_are_not_the_stacks_are_refused_with_the_reason(nodeless) -> None:
    cluster = Cluster.objects.select_related("cloud_account").get(pk=nodeless.cluster.pk)
    account, actor = cluster.cloud_account, Actor(user=nodeless.cast.alice)
    assert account is not None
    with pytest.raises(ValidationError, match="Unknown output 'QueueURL'"):
        cloud_account_stack_outputs_set(
            nodeless.cast.org_a, account=account, actor=actor, outputs={"QueueURL": "x"}
        )
    elsewhere = "https://sqs.us-east-1.amazonaws.com/999999999999/nodeless-interruptions-x"
    with pytest.raises(ValidationError, match="not this account"):
        cloud_account_stack_outputs_set(
            nodeless.cast.org_a, account=account, actor=actor, outputs={"InterruptionQueueUrl": elsewhere}
        )


def test_an_admin_stores_the_outputs_through_the_api_and_bad_ones_change_nothing(
    nodeless, owner_client
) -> None:
    account = Cluster.objects.select_related("cloud_account").get(pk=nodeless.cluster.pk).cloud_account
    assert account is not None
    path = f"/api/v1/cloud-accounts/{account.pk}/"
    url = f"https://sqs.us-east-1.amazonaws.com/{account.account_id}/nodeless-interruptions-nodeless-access"
    response = owner_client.patch(
        path, {"stack_outputs": {"InterruptionQueueUrl": url}}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["stack_outputs"] == {"InterruptionQueueUrl": url}
    refused = owner_client.patch(
        path, {"name": "renamed", "stack_outputs": {"Nope": "x"}}, content_type="application/json"
    )
    assert refused.status_code == 400 and "Unknown output" in str(refused.json())
    account.refresh_from_db()
    assert account.name != "renamed" and account.stack_outputs == {"InterruptionQueueUrl": url}
