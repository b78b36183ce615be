"""Spot interruptions delivered as AWS delivers them to Karpenter: an "EC2 Spot Instance
Interruption Warning" event routed by the account's EventBridge rules to the SQS queues they target
(only queues whose policy lets EventBridge send: `eventbridge.deliver`), then the instance's
termination two minutes of simulated time later, delivered or not. Rebalance recommendations (no
termination) take the same path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.clock import Clock, format_timestamp
from simulator.cloud.eventbridge import deliver
from simulator.cloud.timers import Timers

SPOT_NOTICE_SECONDS = 120.0
SPOT_WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE_RECOMMENDATION = "EC2 Instance Rebalance Recommendation"


@dataclass(frozen=True)
class InjectedInterruption:
    instance_id: str
    kind: str  # the EventBridge detail-type
    message_id: str
    noticed_at: float
    terminates_at: float | None
    delivered_to: tuple[str, ...] = ()  # the queues EventBridge put the event in
    refused_by: tuple[str, ...] = ()  # targeted queues whose policy does not let EventBridge send


def eventbridge_message(
    detail_type: str, account: str, region: str, zone: str, instance_id: str, at: float
) -> dict[str, Any]:
    detail = {"instance-id": instance_id}
    if detail_type == SPOT_WARNING:
        detail["instance-action"] = "terminate"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ec2",
        "account": account,
        "time": format_timestamp(at),
        "region": region,
        "resources": [f"arn:aws:ec2:{zone}:{account}:instance/{instance_id}"],
        "detail": detail,
    }


class InterruptionInjector:
    def __init__(self, clock: Clock, timers: Timers, on_change: Callable[[], None]) -> None:
        self.clock = clock
        self.timers = timers
        self.on_change = on_change

    def inject(
        self,
        *,
        sqs: Any,
        ec2: Any,
        events: Any,
        account: str,
        region: str,
        instance_id: str,
        detail_type: str = SPOT_WARNING,
        notice_seconds: float = SPOT_NOTICE_SECONDS,
    ) -> InjectedInterruption:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        instance = reservations[0]["Instances"][0]
        if detail_type == SPOT_WARNING and instance.get("InstanceLifecycle") != "spot":
            raise ValueError(
                f"{instance_id} is an on-demand instance: only spot instances get interruption warnings"
            )
        zone = instance["Placement"]["AvailabilityZone"]
        now = self.clock.now()
        message = eventbridge_message(detail_type, account, region, zone, instance_id, now)
        delivery = deliver(events, sqs, message)
        terminates_at = None
        if detail_type == SPOT_WARNING:
            terminates_at = now + notice_seconds

            def terminate() -> None:
                ec2.terminate_instances(InstanceIds=[instance_id])
                self.on_change()

            self.timers.call_at(terminates_at, terminate)
        return InjectedInterruption(
            instance_id, detail_type, message["id"], now, terminates_at, delivery.delivered, delivery.refused
        )
