"""CloudFormation stacks of the simulated accounts, as `DescribeStacks` reports them.

The customer creates a stack in their own account (the test fixtures and the demo play the
customer: they create the resources, then record the stack with the outputs its template declares).
The gateway serves `cloudformation:DescribeStacks` from here, as strictly as AWS:

- a stack is looked up by name or by stack id (ARN), in the caller's account and the request's region;
- an unknown stack (or one in another region or account) is `ValidationError: Stack with id <x> does
  not exist` (HTTP 400), as AWS answers;
- a stack deleted (`DELETE_COMPLETE`) is found only by its id, never by name;
- `DescribeStacks` without a name lists the account's live stacks in the region.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree import ElementTree

from simulator.cloud.protocol import AwsError

XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


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


class CloudFormationStacks:
    def __init__(self) -> None:
        self._stacks: list[Stack] = []
        self._lock = threading.Lock()

    def create(
        self,
        account_id: str,
        region: str,
        name: str,
        *,
        outputs: Mapping[str, str],
        parameters: Mapping[str, str] | None = None,
    ) -> Stack:
        """Record the customer's stack `name` (created or updated in place, like an update-stack)."""
        with self._lock:
            for stack in self._stacks:
                live = stack.status != "DELETE_COMPLETE"
                if live and (stack.account_id, stack.region, stack.name) == (account_id, region, name):
                    stack.outputs, stack.status = dict(outputs), "UPDATE_COMPLETE"
                    stack.parameters = dict(parameters or {})
                    return stack
            stack_id = f"arn:aws:cloudformation:{region}:{account_id}:stack/{name}/{uuid.uuid4()}"
            stack = Stack(account_id, region, name, stack_id, dict(outputs), dict(parameters or {}))
            self._stacks.append(stack)
            return stack

    def delete(self, account_id: str, region: str, name: str) -> None:
        with self._lock:
            for stack in self._stacks:
                if (stack.account_id, stack.region, stack.name) == (account_id, region, name):
                    stack.status = "DELETE_COMPLETE"

    def describe(self, account_id: str, region: str, name: str) -> list[Stack]:
        with self._lock:
            here = [s for s in self._stacks if (s.account_id, s.region) == (account_id, region)]
        if not name:
            return [s for s in here if s.status != "DELETE_COMPLETE"]
        by_id = [s for s in here if s.stack_id == name]
        by_name = [s for s in here if s.name == name and s.status != "DELETE_COMPLETE"]
        found = by_id or by_name
        if not found:
            raise AwsError("ValidationError", f"Stack with id {name} does not exist", 400)
        return found


def describe_stacks_xml(stacks: list[Stack]) -> bytes:
    root = ElementTree.Element("DescribeStacksResponse", xmlns=XMLNS)
    members = ElementTree.SubElement(ElementTree.SubElement(root, "DescribeStacksResult"), "Stacks")
    for stack in stacks:
        member = ElementTree.SubElement(members, "member")
        for tag, text in (
            ("StackName", stack.name),
            ("StackId", stack.stack_id),
            ("CreationTime", stack.created.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
            ("StackStatus", stack.status),
        ):
            ElementTree.SubElement(member, tag).text = text
        parameters = ElementTree.SubElement(member, "Parameters")
        for key, value in stack.parameters.items():
            item = ElementTree.SubElement(parameters, "member")
            ElementTree.SubElement(item, "ParameterKey").text = key
            ElementTree.SubElement(item, "ParameterValue").text = value
        outputs = ElementTree.SubElement(member, "Outputs")
        for key, value in stack.outputs.items():
            item = ElementTree.SubElement(outputs, "member")
            ElementTree.SubElement(item, "OutputKey").text = key
            ElementTree.SubElement(item, "OutputValue").text = value
    metadata = ElementTree.SubElement(root, "ResponseMetadata")
    ElementTree.SubElement(metadata, "RequestId").text = str(uuid.uuid4())
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)
