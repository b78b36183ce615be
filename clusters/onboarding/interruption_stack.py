"""The onboarding stack's interruption plumbing and its outputs, as Karpenter's getting-started
stack builds them (`website/.../getting-started-with-karpenter/cloudformation.yaml`):

- an SQS queue (300 s retention, SSE) whose queue policy lets EventBridge (`events.amazonaws.com`)
  and SQS itself send messages, and refuses any access without TLS: without the policy, EventBridge
  rules deliver nothing (the target's resource policy must allow the service);
- EventBridge rules for the events that end or threaten a node: spot interruption warnings,
  rebalance recommendations, instance state changes, and AWS Health scheduled changes;
- outputs the product reads back: the queue's name, URL and ARN, the node role and its instance
  profile (what launch templates name).
"""

from __future__ import annotations

from typing import Any

INTERRUPTION_QUEUE = "nodeless-interruptions"

# Logical id -> (source, detail-type) of each rule feeding the queue.
EVENT_RULES: dict[str, tuple[str, str]] = {
    "SpotInterruptionRule": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "RebalanceRule": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "InstanceStateChangeRule": ("aws.ec2", "EC2 Instance State-change Notification"),
    "ScheduledChangeRule": ("aws.health", "AWS Health Event"),
}
QUEUE_ARN = {"Fn::GetAtt": ["InterruptionQueue", "Arn"]}


def queue_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Id": "NodelessInterruptionQueue",
        "Statement": [
            {
                "Sid": "EventBridgeAndSqsMaySend",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": QUEUE_ARN,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": QUEUE_ARN,
                "Condition": {"Bool": {"aws:SecureTransport": False}},
                "Principal": "*",
            },
        ],
    }


def interruption_resources() -> dict[str, Any]:
    resources: dict[str, Any] = {
        "InterruptionQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": f"{INTERRUPTION_QUEUE}-${{AWS::StackName}}"},
                "MessageRetentionPeriod": 300,
                "SqsManagedSseEnabled": True,
            },
        },
        "InterruptionQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {"Queues": [{"Ref": "InterruptionQueue"}], "PolicyDocument": queue_policy()},
        },
    }
    for logical_id, (source, detail_type) in EVENT_RULES.items():
        resources[logical_id] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": [source], "detail-type": [detail_type]},
                "Targets": [{"Id": "NodelessInterruptionQueue", "Arn": QUEUE_ARN}],
            },
        }
    return resources


def stack_outputs() -> dict[str, Any]:
    """What the product reads from the stack (stored on the cloud account once read)."""
    return {
        "RoleArn": {"Value": {"Fn::GetAtt": ["NodelessRole", "Arn"]}},
        "NodeRoleArn": {"Value": {"Fn::GetAtt": ["NodeRole", "Arn"]}},
        "NodeInstanceProfileName": {"Value": {"Ref": "NodeInstanceProfile"}},
        "NodeInstanceProfileArn": {"Value": {"Fn::GetAtt": ["NodeInstanceProfile", "Arn"]}},
        "InterruptionQueueName": {"Value": {"Fn::GetAtt": ["InterruptionQueue", "QueueName"]}},
        "InterruptionQueueUrl": {"Value": {"Ref": "InterruptionQueue"}},
        "InterruptionQueueArn": {"Value": QUEUE_ARN},
    }
