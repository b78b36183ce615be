"""Fault injection and IAM enforcement for calls made with sessions issued by the gateway.

`PolicyEnforcer` reads the caller role's attached and inline policies from moto IAM (cached for a
second, dropped whenever an IAM write passes the gateway) and refuses actions no policy allows,
with each protocol's error code: `UnauthorizedOperation` for EC2, `AccessDenied` for STS/IAM/SQS,
`AccessDeniedException` for the JSON and REST services. Calls with keys not issued by the
gateway (the control plane's own account, the simulator) are not restricted.

`ThrottleFaults` makes the next N calls of an action fail with the service's throttling error.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from simulator.cloud.admin import AdminClients
from simulator.cloud.iam_policy import PolicyDocument, is_action_allowed, is_creation_allowed, load_document
from simulator.cloud.protocol import AwsError, AwsRequest
from simulator.cloud.sts_gate import StsGate, role_account

POLICY_CACHE_SECONDS = 1.0
THROTTLE_CODES = {
    "ec2": "RequestLimitExceeded",
    "sts": "Throttling",
    "iam": "Throttling",
    "sqs": "RequestThrottled",
}


class PolicyEnforcer:
    def __init__(self, admin: AdminClients, sts: StsGate) -> None:
        self.admin = admin
        self.sts = sts
        self._cache: dict[str, tuple[float, list[PolicyDocument]]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def _policies(self, role_arn: str) -> list[PolicyDocument]:
        with self._lock:
            cached = self._cache.get(role_arn)
        if cached is not None and time.monotonic() - cached[0] < POLICY_CACHE_SECONDS:
            return cached[1]
        iam = self.admin.client("iam", role_account(role_arn))
        role_name = role_arn.rsplit("/", 1)[-1]
        documents: list[PolicyDocument] = []
        try:
            for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
                policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
                version = iam.get_policy_version(
                    PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
                )
                documents.append(load_document(version["PolicyVersion"]["Document"]))
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
                documents.append(
                    load_document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
                )
        except ClientError:
            documents = []  # the role was deleted: nothing is allowed any more
        with self._lock:
            self._cache[role_arn] = (time.monotonic(), documents)
        return documents

    def authorize(self, request: AwsRequest, action: str) -> None:
        session = self.sts.session(request.access_key_id)
        if session is None:
            return
        if is_action_allowed(self._policies(session.role_arn), action):
            return
        raise _denied(request, session.assumed_role_arn, action)

    def authorize_creation(
        self, request: AwsRequest, action: str, tags_by_type: dict[str, dict[str, str]]
    ) -> None:
        """Each resource type a launch creates is authorized with the tags the request gives it."""
        session = self.sts.session(request.access_key_id)
        if session is None:
            return
        documents = self._policies(session.role_arn)
        for resource_type, tags in tags_by_type.items():
            if not is_creation_allowed(documents, action, resource_type, tags, request.action):
                raise _denied(
                    request,
                    session.assumed_role_arn,
                    action,
                    resource=f"arn:aws:ec2:{request.region}:{role_account(session.role_arn)}:{resource_type}/*",
                )


def _denied(request: AwsRequest, who: str, action: str, resource: str = "") -> AwsError:
    if resource:
        return AwsError(
            "UnauthorizedOperation",
            f"You are not authorized to perform this operation. User: {who} is not authorized to perform: "
            f"{action} on resource: {resource} because no identity-based policy allows the {action} action.",
            403,
        )
    if request.service == "ec2":
        return AwsError(
            "UnauthorizedOperation",
            f"You are not authorized to perform this operation. User: {who} is not authorized to perform: "
            f"{action} because no identity-based policy allows the {action} action.",
            403,
        )
    code = (
        "AccessDenied"
        if request.service in ("sts", "iam", "sqs", "cloudformation")
        else "AccessDeniedException"
    )
    return AwsError(
        code,
        f"User: {who} is not authorized to perform: {action} because no identity-based policy allows the {action} action",
        403,
    )


class ThrottleFaults:
    def __init__(self) -> None:
        self._remaining: dict[str, int] = {}
        self._lock = threading.Lock()

    def throttle(self, action: str, times: int = 1) -> None:
        """Throttle the next `times` calls of `action` (`ec2:CreateFleet`, or `*` for any call)."""
        with self._lock:
            self._remaining[action] = self._remaining.get(action, 0) + times

    def clear(self) -> None:
        with self._lock:
            self._remaining.clear()

    def check(self, request: AwsRequest, action: str) -> None:
        with self._lock:
            key = (
                action
                if self._remaining.get(action, 0) > 0
                else ("*" if self._remaining.get("*", 0) > 0 else "")
            )
            if not key:
                return
            self._remaining[key] -= 1
        code = THROTTLE_CODES.get(request.service, "ThrottlingException")
        raise AwsError(
            code,
            "Request limit exceeded." if request.service == "ec2" else "Rate exceeded",
            503 if request.service == "ec2" else 400,
        )


def dry_run_answer(request: AwsRequest, enforcer: PolicyEnforcer, action: str) -> AwsError:
    """EC2 DryRun: `DryRunOperation` when the caller may do it, `UnauthorizedOperation` if not."""
    enforcer.authorize(request, action)
    return AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def is_dry_run(params: dict[str, Any] | Any) -> bool:
    return str(params.get("DryRun", "")).lower() == "true"
