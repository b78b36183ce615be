"""The onboarding CloudFormation stack creates what nodeless mode needs around interruptions: the node
role and instance profile, the queue with a policy EventBridge can deliver through, the four rules,
and the outputs the product reads."""

from __future__ import annotations

import json
from typing import Any

from clusters.onboarding.cloudformation import template, template_yaml
from simulator.cloud.eventbridge import policy_allows_events

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:nodeless-interruptions-nodeless-access"


def _resolve(value: Any) -> Any:
    """The template's references to the queue's ARN, as CloudFormation would resolve them."""
    if value == {"Fn::GetAtt": ["InterruptionQueue", "Arn"]}:
        return QUEUE_ARN
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def test_the_queue_policy_lets_eventbridge_deliver_and_refuses_plain_http() -> None:
    resources = template()["Resources"]
    policy = resources["InterruptionQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "InterruptionQueue"}]
    document = _resolve(policy["PolicyDocument"])
    rule_arn = "arn:aws:events:us-east-1:123456789012:rule/nodeless-spot"
    assert policy_allows_events(json.dumps(document), QUEUE_ARN, rule_arn=rule_arn, account="123456789012")
    (deny,) = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}


def test_rules_send_every_event_that_ends_or_threatens_a_node_to_the_queue() -> None:
    resources = template()["Resources"]
    rules = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Events::Rule"
    }
    patterns = {(p["EventPattern"]["source"][0], p["EventPattern"]["detail-type"][0]) for p in rules.values()}
    assert patterns == {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
        ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
        ("aws.ec2", "EC2 Instance State-change Notification"),
        ("aws.health", "AWS Health Event"),
    }
    for properties in rules.values():
        (target,) = properties["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["InterruptionQueue", "Arn"]}


def test_the_outputs_name_the_queue_node_role_and_instance_profile() -> None:
    document = template()
    outputs = document["Outputs"]
    assert {
        "RoleArn",
        "NodeRoleArn",
        "NodeInstanceProfileName",
        "NodeInstanceProfileArn",
        "InterruptionQueueName",
        "InterruptionQueueUrl",
        "InterruptionQueueArn",
    } <= set(outputs)
    assert outputs["InterruptionQueueUrl"]["Value"] == {"Ref": "InterruptionQueue"}
    assert document["Resources"]["NodeInstanceProfile"]["Properties"]["Roles"] == [{"Ref": "NodeRole"}]
    assert "InterruptionQueuePolicy" in template_yaml()
