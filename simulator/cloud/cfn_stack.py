"""A simulated CloudFormation stack and its events, and their shapes in the real API's answers
(`DescribeStacks`, `DescribeStackEvents`) and the simulated console."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.cloud.cfn_resources import Created


@dataclass
class StackEvent:
    event_id: str
    logical_id: str
    physical_id: str
    resource_type: str
    status: str
    reason: str
    timestamp: datetime


@dataclass
class Stack:
    account_id: str
    region: str
    name: str
    stack_id: str
    outputs: dict[str, str]
    parameters: dict[str, str] = field(default_factory=dict)
    status: str = "CREATE_COMPLETE"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_reason: str = ""
    description: str = ""
    capabilities: list[str] = field(default_factory=list)
    disable_rollback: bool = False
    events: list[StackEvent] = field(default_factory=list)
    resources: dict[str, tuple[str, Created]] = field(default_factory=dict)  # logical id -> (type, created)
    resource_status: dict[str, tuple[str, str]] = field(default_factory=dict)  # logical id -> (type, status)


def stack_shape(stack: Stack) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "StackId": stack.stack_id,
        "StackName": stack.name,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()],
        "CreationTime": stack.created,
        "StackStatus": stack.status,
        "DisableRollback": stack.disable_rollback,
        "Capabilities": stack.capabilities,
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in stack.outputs.items()],
        "Tags": [],
    }
    if stack.description:
        shape["Description"] = stack.description
    if stack.status_reason:
        shape["StackStatusReason"] = stack.status_reason
    return shape


def event_shape(stack: Stack, event: StackEvent) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "StackId": stack.stack_id,
        "EventId": event.event_id,
        "StackName": stack.name,
        "LogicalResourceId": event.logical_id,
        "PhysicalResourceId": event.physical_id,
        "ResourceType": event.resource_type,
        "Timestamp": event.timestamp,
        "ResourceStatus": event.status,
    }
    if event.reason:
        shape["ResourceStatusReason"] = event.reason
    return shape


def event_rows(stack: Stack) -> list[dict[str, Any]]:
    """The stack's events, newest first (for the simulated console)."""
    return [event_shape(stack, e) for e in reversed(stack.events)]


def outputs_json(stack: Stack) -> str:
    return json.dumps(stack.outputs, indent=2)
