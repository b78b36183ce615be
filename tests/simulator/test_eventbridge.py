"""The simulated EventBridge: an event reaches an SQS queue only through a rule whose pattern
matches it, and only when the queue's policy lets events.amazonaws.com send to it."""

from __future__ import annotations

import json
import uuid

from simulator.cloud.eventbridge import allow_eventbridge, deliver, policy_allows_events, route_events_to
from simulator.cloud.interruptions import SPOT_WARNING, eventbridge_message

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:q"
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/r"


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(**extra) -> dict:
    return {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE_ARN,
        **extra,
    }


def test_only_a_policy_naming_eventbridge_lets_it_send() -> None:
    allowed = dict(rule_arn=RULE_ARN, account="123456789012")
    assert not policy_allows_events("", QUEUE_ARN, **allowed)
    assert policy_allows_events(_policy(_allow()), QUEUE_ARN, **allowed)
    assert not policy_allows_events(
        _policy({**_allow(), "Principal": {"Service": "sns.amazonaws.com"}}), QUEUE_ARN, **allowed
    )
    assert not policy_allows_events(
        _policy({**_allow(), "Action": "sqs:ReceiveMessage"}), QUEUE_ARN, **allowed
    )
    other_rule = _allow(Condition={"ArnEquals": {"aws:SourceArn": RULE_ARN + "-other"}})
    assert not policy_allows_events(_policy(other_rule), QUEUE_ARN, **allowed)
    this_rule = _allow(Condition={"ArnEquals": {"aws:SourceArn": RULE_ARN}})
    assert policy_allows_events(_policy(this_rule), QUEUE_ARN, **allowed)
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*"}
    assert not policy_allows_events(_policy(_allow(), deny), QUEUE_ARN, **allowed)
    # EventBridge sends over TLS: a deny of plain HTTP does not stop it.
    no_http = {**deny, "Condition": {"Bool": {"aws:SecureTransport": False}}}
    assert policy_allows_events(_policy(_allow(), no_http), QUEUE_ARN, **allowed)


def test_an_interruption_reaches_the_queue_only_once_its_policy_allows_eventbridge(simulated_cloud) -> None:
    account, region = simulated_cloud.customer_account_id, simulated_cloud.region
    sqs = simulated_cloud.admin.client("sqs", account, region)
    events = simulated_cloud.admin.client("events", account, region)
    name = f"q-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    route_events_to(events, sqs, url, prefix=name)
    event = eventbridge_message(SPOT_WARNING, account, region, "us-east-1a", "i-0123456789abcdef0", 0.0)

    refused = deliver(events, sqs, event)
    assert url in refused.refused and url not in refused.delivered
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)

    allow_eventbridge(sqs, url)
    delivered = deliver(events, sqs, event)
    assert url in delivered.delivered
    (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    assert json.loads(message["Body"])["detail-type"] == SPOT_WARNING
    # An event no rule's pattern matches goes nowhere.
    other = {**event, "detail-type": "EC2 AMI State Change"}
    assert url not in deliver(events, sqs, other).delivered
