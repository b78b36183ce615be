"""EventBridge delivering the account's EC2 and Health events to SQS, as AWS does: an event goes to
the targets of every rule in its account and region whose event pattern matches it, and an SQS
target receives it only when the queue's resource policy lets `events.amazonaws.com` call
`sqs:SendMessage` on it (the EventBridge user guide, "Permissions for Amazon SQS"). A queue without
such a policy gets nothing, and nothing tells the sender: the rule's invocation simply fails.

Patterns are matched on their top-level fields (`source`, `detail-type`, `account`, `region`) with
exact values, plus `detail` one level down: what the rules for EC2 and Health events use. The policy
check knows `Allow`/`Deny`, service principals, `sqs:SendMessage`/`sqs:*`/`*`, queue ARN or `*`
resources, `aws:SourceArn`/`aws:SourceAccount` conditions, and `aws:SecureTransport` (EventBridge
always sends over TLS).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EVENTS_PRINCIPAL = "events.amazonaws.com"


@dataclass(frozen=True)
class Delivery:
    """Where an event went: the queues that took it, and the SQS targets whose policy refused it."""

    delivered: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    rules: tuple[str, ...] = field(default=())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    for key, wanted in pattern.items():
        value = event.get(key)
        if isinstance(wanted, dict):
            if not isinstance(value, Mapping) or not pattern_matches(wanted, value):
                return False
        elif value not in _as_list(wanted):
            return False
    return True


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            actual = context.get(key)
            values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)]
            if operator in ("StringEquals", "ArnEquals", "Bool"):
                ok = (
                    str(actual).lower() in [v.lower() for v in values]
                    if operator == "Bool"
                    else actual in values
                )
            elif operator in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(str(actual), v) for v in values)
            else:
                return False  # an operator this simulation does not know never holds
            if not ok:
                return False
    return True


def _applies(statement: Mapping[str, Any], queue_arn: str, context: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal != "*":
        services = _as_list(principal.get("Service", [])) if isinstance(principal, Mapping) else []
        if EVENTS_PRINCIPAL not in services:
            return False
    actions = _as_list(statement.get("Action", []))
    if not any(fnmatch.fnmatchcase("sqs:SendMessage", a) or a == "*" for a in actions):
        return False
    resources = _as_list(statement.get("Resource", "*"))
    if not any(fnmatch.fnmatchcase(queue_arn, r) for r in resources):
        return False
    return _condition_holds(statement.get("Condition") or {}, context)


def policy_allows_events(policy_text: str, queue_arn: str, *, rule_arn: str, account: str) -> bool:
    """Whether a queue policy lets EventBridge send this rule's events (an explicit deny wins)."""
    if not policy_text:
        return False
    policy = json.loads(policy_text)
    context = {"aws:SourceArn": rule_arn, "aws:SourceAccount": account, "aws:SecureTransport": "true"}
    statements = _as_list(policy.get("Statement", []))
    if any(s.get("Effect") == "Deny" and _applies(s, queue_arn, context) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _applies(s, queue_arn, context) for s in statements)


def _paged(call: Any, key: str, **arguments: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = call(**arguments)
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items
        arguments["NextToken"] = token


def deliver(events: Any, sqs: Any, event: Mapping[str, Any]) -> Delivery:
    """Route `event` through the rules of `events`' account and region to their SQS targets (with
    `sqs`, a client of the same account and region acting as the EventBridge service)."""
    delivered: list[str] = []
    refused: list[str] = []
    matched: list[str] = []
    account = str(event.get("account", ""))
    for rule in _paged(events.list_rules, "Rules"):
        if rule.get("State", "ENABLED") != "ENABLED" or not rule.get("EventPattern"):
            continue
        if not pattern_matches(json.loads(rule["EventPattern"]), event):
            continue
        matched.append(rule["Name"])
        for target in _paged(events.list_targets_by_rule, "Targets", Rule=rule["Name"]):
            arn = str(target.get("Arn", ""))
            if not arn.startswith("arn:aws:sqs:"):
                continue
            queue_name, owner = arn.rsplit(":", 1)[-1], arn.split(":")[4]
            url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=owner)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get(
                "Attributes", {}
            )
            if not policy_allows_events(
                attributes.get("Policy", ""), arn, rule_arn=rule["Arn"], account=account
            ):
                refused.append(url)
                continue
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
            delivered.append(url)
    return Delivery(tuple(delivered), tuple(refused), tuple(matched))


# What the customer's onboarding stack sets up around its interruption queue (the product's
# CloudFormation template; repeated here because the simulator imports nothing of the product).
STACK_RULES = {
    "nodeless-spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "nodeless-rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "nodeless-instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "nodeless-scheduled-change": ("aws.health", "AWS Health Event"),
}


def queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def allow_eventbridge(sqs: Any, queue_url: str) -> None:
    """The stack's queue policy: EventBridge and SQS may send; nothing without TLS."""
    arn = queue_arn(sqs, queue_url)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": [EVENTS_PRINCIPAL, "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": arn,
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": arn,
                "Condition": {"Bool": {"aws:SecureTransport": False}},
            },
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def route_events_to(events: Any, sqs: Any, queue_url: str, *, prefix: str) -> None:
    """The stack's EventBridge rules, each targeting the queue."""
    arn = queue_arn(sqs, queue_url)
    for name, (source, detail_type) in STACK_RULES.items():
        rule = f"{prefix}-{name}"[:64]
        events.put_rule(
            Name=rule, EventPattern=json.dumps({"source": [source], "detail-type": [detail_type]})
        )
        events.put_targets(Rule=rule, Targets=[{"Id": "NodelessInterruptionQueue", "Arn": arn}])
