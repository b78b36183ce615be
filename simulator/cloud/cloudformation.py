"""The simulated CloudFormation: stacks of the simulated accounts, created from a template the way
the service creates them, and served by the gateway in the real API's shapes (query protocol).

- `CreateStack` validates synchronously what the service validates before creating anything (the
  template's format and resource types, parameters, the IAM capability acknowledgement, the stack
  name, an existing stack) and answers the `StackId`; the stack is then `CREATE_IN_PROGRESS` while
  its resources are created one by one, in dependency order, in the background;
- each resource reports `CREATE_IN_PROGRESS` then `CREATE_COMPLETE` (or `CREATE_FAILED` with the
  reason) in `DescribeStackEvents`, newest first;
- a failure rolls the stack back (`OnFailure=ROLLBACK`, the default): `ROLLBACK_IN_PROGRESS`, what
  was created is deleted in reverse order, then `ROLLBACK_COMPLETE`; `DO_NOTHING` leaves it
  `CREATE_FAILED`, `DELETE` deletes it;
- `DescribeStacks` answers the status and, once complete, the `Outputs`; a stack is found by name
  or id in the caller's account and region; a deleted stack only by its id; an unknown one is
  `ValidationError: Stack with id <x> does not exist`;
- `DeleteStack` deletes the resources (`DELETE_IN_PROGRESS` → `DELETE_COMPLETE`), and answers
  success for a stack that does not exist, as AWS does.

`record()` registers a stack whose resources the caller created itself (test fixtures playing a
customer who ran the template elsewhere); `describe()` and `delete()` are the same lookups the
API uses.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from simulator.cloud.cfn_resources import RESOURCE_TYPES, ResourceFailed, Target
from simulator.cloud.cfn_stack import Stack, StackEvent, event_shape, stack_shape
from simulator.cloud.cfn_template import (
    STACK_NAME,
    Context,
    creation_order,
    parse_template,
    required_capabilities,
    resolve_parameters,
    validation_error,
)
from simulator.cloud.cfn_xml import query_response
from simulator.cloud.eks_access import EksAccess
from simulator.cloud.protocol import AwsError, AwsRequest, nested_params

logger = logging.getLogger(__name__)

Reply = tuple[int, dict[str, str], bytes]
TEMPLATE_BODY_LIMIT = 51_200  # bytes, as CreateStack's TemplateBody


class CloudFormation:
    def __init__(
        self,
        *,
        client: Callable[[str, str, str], Any],
        eks_access: EksAccess,
        now: Callable[[], float],
        template_accounts: Callable[[], list[str]] = list,
        own_netloc: Callable[[], str] = str,
    ) -> None:
        self._client = client  # (service, account, region) -> an administrator's boto3 client
        self._eks_access = eks_access
        self._now = now
        self._template_accounts = template_accounts  # where TemplateURL objects may live
        self._own_netloc = own_netloc  # the gateway's host:port, whose path-style S3 URLs are accepted
        self._stacks: list[Stack] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # --- the API ----------------------------------------------------------------------------

    def handle(self, request: AwsRequest, account: str) -> Reply:
        params = request.params
        if request.action == "CreateStack":
            stack = self.create_stack(
                account,
                request.region,
                name=params.get("StackName", ""),
                template_body=params.get("TemplateBody")
                or self.template_at(params.get("TemplateURL", ""), account),
                parameters={
                    str(p.get("ParameterKey")): str(p.get("ParameterValue", ""))
                    for p in nested_members(params, "Parameters")
                },
                capabilities=[str(c) for c in nested_members(params, "Capabilities")],
                on_failure=params.get("OnFailure")
                or ("DO_NOTHING" if params.get("DisableRollback") == "true" else "ROLLBACK"),
            )
            return query_response("CreateStack", {"StackId": stack.stack_id})
        if request.action == "DescribeStacks":
            stacks = self.describe(account, request.region, params.get("StackName", ""))
            return query_response("DescribeStacks", {"Stacks": [stack_shape(s) for s in stacks]})
        if request.action == "DescribeStackEvents":
            (stack,) = self.describe(account, request.region, params.get("StackName", ""))[:1]
            with self._lock:
                events = [event_shape(stack, e) for e in reversed(stack.events)]
            return query_response("DescribeStackEvents", {"StackEvents": events})
        if request.action == "DescribeStackResources":
            (stack,) = self.describe(account, request.region, params.get("StackName", ""))[:1]
            return query_response("DescribeStackResources", {"StackResources": self._resources_shape(stack)})
        if request.action == "DeleteStack":
            self.delete(account, request.region, params.get("StackName", ""))
            return query_response("DeleteStack", {})
        raise AwsError(
            "InvalidAction",
            f"The simulated CloudFormation serves CreateStack, DescribeStacks, DescribeStackEvents, "
            f"DescribeStackResources and DeleteStack, not {request.action}",
        )

    def create_stack(
        self,
        account: str,
        region: str,
        *,
        name: str,
        template_body: str,
        parameters: Mapping[str, str],
        capabilities: list[str],
        on_failure: str = "ROLLBACK",
    ) -> Stack:
        if not STACK_NAME.match(name):
            raise validation_error(
                f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
            )
        if on_failure not in ("ROLLBACK", "DO_NOTHING", "DELETE"):
            raise validation_error(f"OnFailure: {on_failure} is not one of ROLLBACK, DO_NOTHING, DELETE")
        if len(template_body.encode()) > TEMPLATE_BODY_LIMIT:
            raise validation_error(
                f"1 validation error detected: Value at 'templateBody' failed to satisfy constraint: "
                f"Member must have length less than or equal to {TEMPLATE_BODY_LIMIT}"
            )
        template = parse_template(template_body)
        values = resolve_parameters(template, parameters)
        needed = required_capabilities(template)
        accepted = {"CAPABILITY_NAMED_IAM"} | ({"CAPABILITY_IAM"} if needed == ["CAPABILITY_IAM"] else set())
        if needed and not accepted & set(capabilities):
            raise AwsError("InsufficientCapabilitiesException", f"Requires capabilities : [{needed[0]}]", 400)
        order = creation_order(template["Resources"])
        stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"
        with self._lock:
            if any(self._live(s, account, region, name) for s in self._stacks):
                raise AwsError("AlreadyExistsException", f"Stack [{name}] already exists", 400)
            stack = Stack(
                account,
                region,
                name,
                stack_id,
                outputs={},
                parameters={k: ",".join(v) if isinstance(v, list) else v for k, v in values.items()},
                status="CREATE_IN_PROGRESS",
                created=self._timestamp(),
                description=str(template.get("Description", "")),
                capabilities=list(capabilities),
                disable_rollback=on_failure == "DO_NOTHING",
            )
            self._stacks.append(stack)
            self._event(
                stack, name, stack_id, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"
            )
        context = Context(
            parameters=values,
            pseudo={
                "AWS::AccountId": account,
                "AWS::Region": region,
                "AWS::StackName": name,
                "AWS::StackId": stack_id,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NoValue": None,
            },
            conditions=dict(template.get("Conditions") or {}),
        )
        worker = threading.Thread(
            target=self._create_resources,
            args=(stack, template, order, context, on_failure),
            name=f"sim-cfn-{name}",
            daemon=True,
        )
        self._threads.append(worker)
        worker.start()
        return stack

    # --- lookups (also for fixtures) -------------------------------------------------------------

    def record(
        self,
        account_id: str,
        region: str,
        name: str,
        *,
        outputs: Mapping[str, str],
        parameters: Mapping[str, str] | None = None,
    ) -> Stack:
        """A complete stack with these outputs, whose resources were made by the caller (updated in
        place when it exists, as an update-stack would)."""
        with self._lock:
            for stack in self._stacks:
                if self._live(stack, account_id, region, name):
                    stack.outputs, stack.status = dict(outputs), "UPDATE_COMPLETE"
                    stack.parameters = dict(parameters or {})
                    return stack
            stack_id = f"arn:aws:cloudformation:{region}:{account_id}:stack/{name}/{uuid.uuid4()}"
            stack = Stack(account_id, region, name, stack_id, dict(outputs), dict(parameters or {}))
            self._stacks.append(stack)
            return stack

    create = record  # the name another branch's fixtures use

    def describe(self, account_id: str, region: str, name: str) -> list[Stack]:
        with self._lock:
            here = [s for s in self._stacks if (s.account_id, s.region) == (account_id, region)]
        if not name:
            return [s for s in here if s.status != "DELETE_COMPLETE"]
        found = [s for s in here if s.stack_id == name] or [
            s for s in here if s.name == name and s.status != "DELETE_COMPLETE"
        ]
        if not found:
            raise validation_error(f"Stack with id {name} does not exist")
        return found

    def delete(self, account_id: str, region: str, name: str) -> None:
        try:
            (stack,) = self.describe(account_id, region, name)[:1]
        except AwsError:
            return  # DeleteStack of a stack that does not exist succeeds
        with self._lock:
            if stack.status.endswith("_IN_PROGRESS") or stack.status == "DELETE_COMPLETE":
                return
            stack.status = "DELETE_IN_PROGRESS"
            self._event(
                stack,
                stack.name,
                stack.stack_id,
                "AWS::CloudFormation::Stack",
                "DELETE_IN_PROGRESS",
                "User Initiated",
            )
        worker = threading.Thread(
            target=self._delete_stack, args=(stack,), name=f"sim-cfn-delete-{stack.name}", daemon=True
        )
        self._threads.append(worker)
        worker.start()

    def wait(self, timeout: float = 30.0) -> None:
        """Join the creations and deletions in flight (for tests and orderly stops)."""
        for worker in list(self._threads):
            worker.join(timeout)

    # --- creation ----------------------------------------------------------------------------

    def _target(self, stack: Stack) -> Target:
        return Target(
            stack.account_id,
            stack.region,
            stack.name,
            lambda service: self._client(service, stack.account_id, stack.region),
            self._eks_access,
        )

    def _create_resources(
        self, stack: Stack, template: dict[str, Any], order: list[str], context: Context, on_failure: str
    ) -> None:
        target = self._target(stack)
        resources: dict[str, Any] = template["Resources"]
        try:
            for logical_id in order:
                resource = resources[logical_id]
                condition = resource.get("Condition")
                if condition and not context.condition(str(condition)):
                    continue
                kind = str(resource["Type"])
                self._resource_event(stack, logical_id, "", kind, "CREATE_IN_PROGRESS", "")
                try:
                    handlers = RESOURCE_TYPES.get(kind)
                    if handlers is None:
                        raise ResourceFailed(
                            f"Resource type {kind} is not supported by the simulated CloudFormation"
                        )
                    properties = context.evaluate(resource.get("Properties") or {})
                    created = handlers[0](target, logical_id, _without_novalue(properties))
                except (ResourceFailed, AwsError, ClientError, KeyError, ValueError, TypeError) as error:
                    reason = _reason(error)
                    self._resource_event(stack, logical_id, "", kind, "CREATE_FAILED", reason)
                    raise _StackFailed(logical_id) from error
                context.refs[logical_id] = created.ref
                context.attributes[logical_id] = created.attributes
                with self._lock:
                    stack.resources[logical_id] = (kind, created)
                self._resource_event(stack, logical_id, str(created.ref), kind, "CREATE_COMPLETE", "")
            outputs = {}
            for key, output in (template.get("Outputs") or {}).items():
                condition = output.get("Condition")
                if condition and not context.condition(str(condition)):
                    continue
                value = context.evaluate(output.get("Value"))
                outputs[key] = ",".join(value) if isinstance(value, list) else str(value)
        except _StackFailed as failed:
            self._fail(
                stack, f"The following resource(s) failed to create: [{failed.logical_id}]. ", on_failure
            )
            return
        except AwsError as error:  # an output or condition that does not resolve
            self._fail(stack, error.message, on_failure)
            return
        with self._lock:
            stack.outputs = outputs
            stack.status = "CREATE_COMPLETE"
            self._event(
                stack, stack.name, stack.stack_id, "AWS::CloudFormation::Stack", "CREATE_COMPLETE", ""
            )

    def _fail(self, stack: Stack, reason: str, on_failure: str) -> None:
        if on_failure == "DO_NOTHING":
            with self._lock:
                stack.status, stack.status_reason = "CREATE_FAILED", reason
                self._event(
                    stack, stack.name, stack.stack_id, "AWS::CloudFormation::Stack", "CREATE_FAILED", reason
                )
            return
        phase = "ROLLBACK" if on_failure == "ROLLBACK" else "DELETE"
        with self._lock:
            stack.status, stack.status_reason = (
                f"{phase}_IN_PROGRESS",
                reason
                + ("Rollback requested by user." if phase == "ROLLBACK" else "Delete requested by user."),
            )
            self._event(
                stack,
                stack.name,
                stack.stack_id,
                "AWS::CloudFormation::Stack",
                stack.status,
                stack.status_reason,
            )
        failed = self._delete_resources(stack)
        with self._lock:
            if phase == "ROLLBACK":
                stack.status = "ROLLBACK_FAILED" if failed else "ROLLBACK_COMPLETE"
            else:
                stack.status = "DELETE_FAILED" if failed else "DELETE_COMPLETE"
            self._event(stack, stack.name, stack.stack_id, "AWS::CloudFormation::Stack", stack.status, "")

    def _delete_stack(self, stack: Stack) -> None:
        failed = self._delete_resources(stack)
        with self._lock:
            stack.status = "DELETE_FAILED" if failed else "DELETE_COMPLETE"
            self._event(stack, stack.name, stack.stack_id, "AWS::CloudFormation::Stack", stack.status, "")

    def _delete_resources(self, stack: Stack) -> bool:
        """Delete what the stack created, newest first; True when some resource could not be."""
        target = self._target(stack)
        with self._lock:
            created = list(stack.resources.items())
        failed = False
        for logical_id, (kind, resource) in reversed(created):
            self._resource_event(stack, logical_id, str(resource.ref), kind, "DELETE_IN_PROGRESS", "")
            try:
                RESOURCE_TYPES[kind][1](target, resource)
            except (AwsError, ClientError, KeyError) as error:
                failed = True
                self._resource_event(
                    stack, logical_id, str(resource.ref), kind, "DELETE_FAILED", _reason(error)
                )
                continue
            with self._lock:
                stack.resources.pop(logical_id, None)
            self._resource_event(stack, logical_id, str(resource.ref), kind, "DELETE_COMPLETE", "")
        return failed

    # --- events and shapes -----------------------------------------------------------------------

    def _timestamp(self) -> datetime:
        return datetime.fromtimestamp(self._now(), tz=UTC)

    def _event(
        self, stack: Stack, logical_id: str, physical_id: str, kind: str, status: str, reason: str
    ) -> None:
        """Append an event (the caller holds the lock)."""
        stack.events.append(
            StackEvent(str(uuid.uuid4()), logical_id, physical_id, kind, status, reason, self._timestamp())
        )
        if kind != "AWS::CloudFormation::Stack":
            stack.resource_status[logical_id] = (kind, status)

    def _resource_event(
        self, stack: Stack, logical_id: str, physical_id: str, kind: str, status: str, reason: str
    ) -> None:
        with self._lock:
            self._event(stack, logical_id, physical_id, kind, status, reason)

    def _resources_shape(self, stack: Stack) -> list[dict[str, Any]]:
        with self._lock:
            rows = []
            for logical_id, (kind, status) in stack.resource_status.items():
                created = stack.resources.get(logical_id)
                rows.append(
                    {
                        "StackName": stack.name,
                        "StackId": stack.stack_id,
                        "LogicalResourceId": logical_id,
                        "PhysicalResourceId": str(created[1].ref) if created else "",
                        "ResourceType": kind,
                        "Timestamp": stack.created,
                        "ResourceStatus": status,
                    }
                )
            return rows

    @staticmethod
    def _live(stack: Stack, account: str, region: str, name: str) -> bool:
        return (stack.account_id, stack.region, stack.name) == (
            account,
            region,
            name,
        ) and stack.status != "DELETE_COMPLETE"

    def template_at(self, url: str, account: str) -> str:
        """A TemplateURL's body: an object of the simulated S3 (virtual-hosted or path style, or
        the gateway's own path-style URL), readable from the caller's account or published by
        another simulated account."""
        if not url:
            raise validation_error("Either Template URL or Template Body must be specified.")
        parts = urlsplit(url)
        host, path = parts.netloc, parts.path.lstrip("/")
        if (
            host == self._own_netloc()
            or host in ("s3.amazonaws.com",)
            or (host.startswith("s3.") and host.endswith(".amazonaws.com"))
        ):
            bucket, _, key = path.partition("/")
        elif ".s3." in host and host.endswith(".amazonaws.com"):
            bucket, key = host.split(".s3.", 1)[0], path
        else:
            raise validation_error("TemplateURL must be a supported URL.")
        for owner in [account, *self._template_accounts()]:
            try:
                body = (
                    self._client("s3", owner, "us-east-1").get_object(Bucket=bucket, Key=key)["Body"].read()
                )
            except ClientError:
                continue
            return str(body.decode())
        raise validation_error(f"TemplateURL {url} could not be read: S3 error: Access Denied")


def nested_members(params: Mapping[str, str], prefix: str) -> list[Any]:
    """`Parameters.member.1.ParameterKey=...` -> [{"ParameterKey": ...}] (query protocol lists)."""
    tree = nested_params(params, prefix)
    members = tree.get("member") if isinstance(tree, dict) else None
    return list(members) if isinstance(members, list) else []


class _StackFailed(Exception):
    def __init__(self, logical_id: str) -> None:
        super().__init__(logical_id)
        self.logical_id = logical_id


def _without_novalue(value: Any) -> Any:
    """Properties set to `Ref: AWS::NoValue` are removed, as if never written."""
    if isinstance(value, dict):
        return {k: _without_novalue(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_novalue(v) for v in value if v is not None]
    return value


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{detail.get('Message', '')} (Service: {error.operation_name}, Error Code: {detail.get('Code', '')})"
    if isinstance(error, AwsError):
        return error.message
    if isinstance(error, KeyError):
        return f"Properties validation failed: required key [{error.args[0]}] not found"
    return str(error)
