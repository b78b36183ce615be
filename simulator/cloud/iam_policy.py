"""A simplified IAM evaluation, good enough for "this role cannot ec2:CreateFleet".

Identity policies: an explicit Deny wins, otherwise some Allow must match the action. Actions
match case-insensitively with `*`/`?` wildcards (`ec2:Describe*`); `NotAction` is honoured.
Resources and conditions of identity policies are NOT evaluated for most calls (every statement
applies to every resource), which the simulator documents as its main IAM simplification. The
exception is creating resources (`is_creation_allowed`): as EC2 does for RunInstances/CreateFleet,
each resource type the call creates (fleet, instance, volume, network-interface) is authorized on
its own, with the statements whose `Resource` names that type and whose `aws:RequestTag/<key>`
conditions hold for the tags the request puts on that type
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html).

Trust policies (AssumeRole): the statement must allow `sts:AssumeRole` for the caller's
principal, and its `StringEquals`/`StringLike` conditions on `sts:ExternalId` must hold.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

PolicyDocument = Mapping[str, Any]


def load_document(document: str | PolicyDocument) -> PolicyDocument:
    """Policy documents arrive as dicts (boto3) or as JSON strings, sometimes URL-encoded."""
    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        loaded: PolicyDocument = json.loads(text)
        return loaded
    return document


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _statements(document: PolicyDocument) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _statement_covers_action(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(action_matches(p, action) for p in _as_list(statement["NotAction"]))
    return any(action_matches(p, action) for p in _as_list(statement.get("Action")))


def is_action_allowed(documents: Iterable[PolicyDocument], action: str) -> bool:
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if not _statement_covers_action(statement, action):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
    return allowed


def _resource_covers(statement: Mapping[str, Any], resource_type: str) -> bool:
    for pattern in _as_list(statement.get("Resource", "*")):
        if not isinstance(pattern, str):
            continue
        tail = pattern.rsplit(":", 1)[-1]
        if pattern == "*" or tail == "*" or fnmatch.fnmatchcase(f"{resource_type}/x", tail):
            return True
    return False


def is_creation_allowed(
    documents: Iterable[PolicyDocument],
    action: str,
    resource_type: str,
    request_tags: Mapping[str, str],
    create_action: str,
) -> bool:
    """May `action` create a resource of `resource_type` carrying `request_tags`?"""
    context = {f"aws:requesttag/{k}".lower(): v for k, v in request_tags.items()}
    context["ec2:createaction"] = create_action
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if not _statement_covers_action(statement, action) or not _resource_covers(
                statement, resource_type
            ):
                continue
            if not _conditions_hold(statement.get("Condition") or {}, context):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
    return allowed


_ROOT = re.compile(r"^arn:aws:iam::(\d{12}):root$")


def principal_matches(principal: Any, caller_arn: str, caller_account: str) -> bool:
    """Does a trust policy `Principal` name the caller? `{"AWS": "arn:...:root"}` or the bare
    account id trust every principal of that account; a role ARN trusts that role's sessions."""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry == "*" or entry in (caller_account, caller_arn):
            return True
        root = _ROOT.match(entry)
        if root is not None and root.group(1) == caller_account:
            return True
    return False


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for qualified, clauses in conditions.items():
        operator = qualified.removesuffix("IfExists")
        for key, expected in (clauses or {}).items():
            actual = context.get(key.lower())
            if actual is None and operator != qualified:
                continue  # ...IfExists: a missing key satisfies the condition
            values = [str(v) for v in _as_list(expected)]
            if operator == "StringEquals":
                if actual is None or actual not in values:
                    return False
            elif operator == "StringLike":
                if actual is None or not any(fnmatch.fnmatchcase(actual, v) for v in values):
                    return False
            elif operator == "StringNotEquals":
                if actual is not None and actual in values:
                    return False
            elif operator == "Null":
                wants_missing = values[0].lower() == "true"
                if (actual is None) != wants_missing:
                    return False
            else:
                return False  # an operator we cannot evaluate never grants access
    return True


def is_assume_role_allowed(
    trust_policy: PolicyDocument, caller_arn: str, caller_account: str, external_id: str | None
) -> bool:
    context = {"sts:externalid": external_id} if external_id is not None else {}
    allowed = False
    for statement in _statements(trust_policy):
        if not _statement_covers_action(statement, "sts:AssumeRole"):
            continue
        if not principal_matches(statement.get("Principal"), caller_arn, caller_account):
            continue
        if not _conditions_hold(statement.get("Condition") or {}, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed
