"""Small value types and helpers of the API verbs: delete options, pages, continue tokens,
status conditions and `Status` success bodies."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from simulator.clock import format_timestamp
from simulator.errors import bad_request
from simulator.patches import JSON_PATCH
from simulator.store import JsonObject, StoredObject
from simulator.store_keys import ObjectKey


def success_status(code: int = 200, details: JsonObject | None = None) -> JsonObject:
    body: JsonObject = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


@dataclass(frozen=True)
class DeleteOptions:
    propagation_policy: str | None = None  # Orphan, Background, Foreground
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False
    grace_period_seconds: int | None = None  # None: the object's own (a pod's spec) default

    @classmethod
    def from_body(cls, body: JsonObject | None, query: dict[str, str]) -> DeleteOptions:
        body = body or {}
        preconditions = body.get("preconditions") or {}
        orphan = body.get("orphanDependents")
        policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        if policy is None and orphan is not None:
            policy = "Orphan" if orphan else "Background"
        dry_run = bool(body.get("dryRun")) or query.get("dryRun") == "All"
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        if grace is not None:
            try:
                grace = int(grace)
            except (TypeError, ValueError) as error:
                raise bad_request(f"invalid gracePeriodSeconds: {error}") from error
        return cls(policy, preconditions.get("uid"), preconditions.get("resourceVersion"), dry_run, grace)


@dataclass
class PageResult:
    items: list[StoredObject]
    resource_version: int
    continue_token: str = ""
    remaining: int = 0


# A continue token's revision meaning "continue at the latest revision": the token that a 410
# for an expired continue token carries (apiserver's handleCompactedErrorForPaging).
LATEST_REVISION = -1


def encode_continue(key: ObjectKey, rv: int) -> str:
    """The page's last key and the snapshot revision, as apiserver's storage.EncodeContinue
    keeps them (`{"v":"meta.k8s.io/v1","rv":N,"start":...}`, base64)."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_continue(token: str) -> tuple[ObjectKey, int]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, name = payload["start"]
        rv = int(payload["rv"])
    except (ValueError, KeyError, TypeError) as error:
        raise bad_request(f"continue key is not valid: {error}") from error
    if payload.get("v") != "meta.k8s.io/v1" or (rv <= 0 and rv != LATEST_REVISION):
        raise bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        )
    return (str(namespace), str(name)), rv


def spec_part(obj: JsonObject) -> JsonObject:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def set_condition(
    obj: JsonObject, condition_type: str, status: str, *, now: float, reason: str = "", message: str = ""
) -> bool:
    """Set a status condition in place; the transition time changes only when the status does.
    Returns whether anything changed."""
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    timestamp = format_timestamp(now)
    for condition in conditions:
        if condition.get("type") == condition_type:
            changed: bool = (
                condition.get("status") != status
                or condition.get("reason", "") != reason
                or condition.get("message", "") != message
            )
            if condition.get("status") != status:
                condition["lastTransitionTime"] = timestamp
            condition.update({"status": status, "reason": reason, "message": message})
            if not reason:
                condition.pop("reason")
            if not message:
                condition.pop("message")
            return changed
    new_condition: JsonObject = {
        "type": condition_type,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": timestamp,
    }
    if reason:
        new_condition["reason"] = reason
    if message:
        new_condition["message"] = message
    conditions.append(new_condition)
    return True


def patch_resource_version(document: Any, content_type: str) -> str | None:
    """A patch that sets `metadata.resourceVersion` asks for optimistic concurrency."""
    if content_type == JSON_PATCH or not isinstance(document, dict):
        return None
    version = (document.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None
