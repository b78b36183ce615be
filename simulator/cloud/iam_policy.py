"""A simplified IAM evaluation, good enough for "this role cannot ec2:CreateFleet".

Identity policies: an explicit Deny wins, otherwise some Allow must match the action. Actions
match case-insensitively with `*`/`?` wildcards (`ec2:Describe*`); `NotAction` is honoured.
Resources and conditions of identity policies are NOT evaluated (every statement applies to
every resource), which the simulator documents as its main IAM simplification.

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
    for operator, clauses in conditions.items():
        for key, expected in (clauses or {}).items():
            actual = context.get(key.lower())
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
