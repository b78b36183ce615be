"""What works on a node class but not fully, for the cluster page: zones no launch can use (no usable
subnet there), and an interruption queue that hears nothing (none found, or no queue policy letting
EventBridge send to it). Launches go ahead; the notices say what to fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clusters.cloud.aws_node_class import AwsNodeClasses
from clusters.cloud.errors import CloudError
from clusters.models import Cluster, NodeClass
from clusters.selectors import stack_queue_url


def node_class_notices(aws: AwsNodeClasses, cluster: Cluster, node_class: NodeClass) -> list[str]:
    """What works but not fully: zones no launch can use, an interruption queue that hears nothing."""
    notices: list[str] = []
    try:
        zones = aws.zones()
    except CloudError as error:  # a notice never keeps launches from going ahead
        zones, notices = [], [f"The region's zones cannot be listed: {error.message}"]
    unserved = [zone for zone in zones if zone not in node_class.subnets]
    if unserved and node_class.subnets:
        notices.append(
            f"No usable subnet in {', '.join(unserved)}: Nodeless launches nothing there, and pods that must run "
            "there stay pending. Add a subnet of those zones to the cluster, or tag one with the discovery tag."
        )
    account = cluster.cloud_account
    queue = cluster.interruption_queue_url or (
        stack_queue_url(account, region=cluster.region) if account else ""
    )
    if not queue:
        notices.append(
            "No interruption queue: spot interruptions, rebalance recommendations and scheduled events never reach "
            "Nodeless (nodes go without a replacement started early). Create the onboarding stack, then Verify the "
            "cloud account."
        )
        return notices
    try:
        arn, policy = aws.queue_policy(queue)
    except CloudError as error:
        return [*notices, f"The interruption queue cannot be read: {error.message}"]
    if not eventbridge_may_send(policy, arn):
        notices.append(
            f"The interruption queue {arn or queue} has no queue policy letting EventBridge (events.amazonaws.com) "
            "send to it: interruption events are dropped before they reach Nodeless. Update the onboarding stack "
            "(it creates the policy)."
        )
    return notices


def eventbridge_may_send(policy: Mapping[str, Any] | None, queue_arn: str) -> bool:
    """Does the queue policy allow EventBridge's sqs:SendMessage on the queue (no Deny for it)?"""
    allowed = False
    statements = (policy or {}).get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal")
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        to_events = principal == "*" or "events.amazonaws.com" in services
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        sends = any(a in ("*", "sqs:*", "sqs:SendMessage") for a in actions)
        resources = statement.get("Resource", "*")
        resources = [resources] if isinstance(resources, str) else resources
        on_queue = any(r in ("*", queue_arn) for r in resources)
        if to_events and sends and on_queue:
            if statement.get("Effect") == "Deny" and not statement.get("Condition"):
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
