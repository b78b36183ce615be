"""``kubectl auth can-i``: SelfSubjectAccessReview and SelfSubjectRulesReview (authorization.k8s.io/v1),
and ``kubectl auth whoami``: SelfSubjectReview (authentication.k8s.io/v1);
answered from the API token's scopes exactly as the endpoint enforces them (``views._token``):
``read`` gets, lists and watches every kind the organization serves; ``write`` creates, updates,
patches and deletes them, but for events, which Nodeless alone writes. Any token may ask about
itself, as any user of kube-apiserver may (``system:basic-user``), so a review needs only ``read``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from policies.kubeapi import errors, protowire
from policies.kubeapi.resources import RELAYED_POD_SUBRESOURCES as RELAYED
from policies.kubeapi.resources import Resource

Json = dict[str, Any]
GROUP = "authorization.k8s.io"
REVIEWS = {
    "selfsubjectaccessreviews": "SelfSubjectAccessReview",
    "selfsubjectrulesreviews": "SelfSubjectRulesReview",
}
READS = ("get", "list", "watch")
# What discovery lists (``resources.VERBS``): a collection is not deleted at once (kubectl deletes
# each object).
WRITES = ("create", "update", "patch", "delete")
PROTOBUF = "application/vnd.kubernetes.protobuf"
# Field numbers of k8s.io/api/authorization/v1's messages (generated.proto).
_RESOURCE_ATTRIBUTES = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}
_NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}
# What the endpoint serves outside its kinds (``views._discovery``): read with the ``read`` scope.
NON_RESOURCE_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version")


# ``kubectl auth whoami``: the token as kube-apiserver's authenticator would describe its user.
WHOAMI_GROUP, WHOAMI = "authentication.k8s.io", "selfsubjectreviews"


class TokenIdentity(Protocol):
    pk: Any
    name: str
    scopes: Any
    organization: Any


def is_review(parts: Sequence[str]) -> bool:
    """Whether the path (split) is one of the reviews: only ``read`` is needed to post it."""
    if len(parts) != 4:
        return False
    return (parts[:3] == ["apis", GROUP, "v1"] and parts[3] in REVIEWS) or parts == [
        "apis",
        WHOAMI_GROUP,
        "v1",
        WHOAMI,
    ]


def whoami(token: TokenIdentity) -> Json:
    """The SelfSubjectReview of a token: a user named for the token, in its organization's group and
    one group per scope."""
    scopes = getattr(token, "granted", token.scopes)
    organization = token.organization
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": f"{WHOAMI_GROUP}/v1",
        "metadata": {"creationTimestamp": None},
        "status": {
            "userInfo": {
                "username": f"nodeless:token:{token.name}",
                "uid": str(token.pk),
                "groups": [
                    f"nodeless:organization:{organization.slug}",
                    *(f"nodeless:scope:{s}" for s in scopes),
                ],
                "extra": {"nodeless.io/organization": [organization.name]},
            }
        },
    }


def from_protobuf(plural: str, body: bytes) -> Json:
    """A review as kubectl sends it (protobuf, as client-go's typed clients send the built-in kinds),
    as its JSON: the spec (field 2), its resourceAttributes (1) or nonResourceAttributes (2), or a
    rules review's namespace (1)."""
    try:
        type_meta, sent = protowire.kube_object(body)
        asked = protowire.message(sent, 2) or b""
        spec: Json = {}
        if plural == "selfsubjectrulesreviews":
            spec = dict(protowire.strings(asked, {1: "namespace"}))
        else:
            resource, path = protowire.message(asked, 1), protowire.message(asked, 2)
            if resource is not None:
                spec["resourceAttributes"] = protowire.strings(resource, _RESOURCE_ATTRIBUTES)
            if path is not None:
                spec["nonResourceAttributes"] = protowire.strings(path, _NON_RESOURCE_ATTRIBUTES)
    except (protowire.WireError, UnicodeDecodeError) as error:
        raise errors.bad_request(f"the protobuf body could not be read: {error}") from error
    return {**type_meta, "spec": spec}


def review(plural: str, body: Any, scopes: Collection[str], served: Sequence[Resource]) -> Json:
    """The review ``body`` asked for, with its status: what a token with ``scopes`` may do."""
    kind = REVIEWS[plural]
    spec = body.get("spec") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        raise errors.invalid(kind, GROUP, "", [("spec", "Required value: the review asks nothing")])
    if plural == "selfsubjectrulesreviews":
        status = _rules(scopes, served)
    elif isinstance(spec.get("resourceAttributes"), dict):
        status = _resource_access(spec["resourceAttributes"], scopes, served)
    elif isinstance(spec.get("nonResourceAttributes"), dict):
        status = _path_access(spec["nonResourceAttributes"], scopes)
    else:
        causes = [("spec.resourceAttributes", "Required value: resourceAttributes or nonResourceAttributes")]
        raise errors.invalid(kind, GROUP, "", causes)
    return {
        "kind": kind,
        "apiVersion": f"{GROUP}/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }


def _needs(verb: str) -> str | None:
    """The scope a verb needs (None: no token is ever granted it)."""
    if verb in READS:
        return "read"
    return "write" if verb in WRITES else None


def _lacks(scope: str, scopes: Collection[str]) -> Json:
    may = ", ".join(sorted(scopes)) or "nothing"
    return {"allowed": False, "reason": f'the API token lacks the "{scope}" scope; it may use {may}'}


def _resource_access(attributes: Json, scopes: Collection[str], served: Sequence[Resource]) -> Json:
    verb, group = str(attributes.get("verb") or ""), str(attributes.get("group") or "")
    plural, subresource = str(attributes.get("resource") or ""), str(attributes.get("subresource") or "")
    if group == GROUP and plural in REVIEWS:
        return {"allowed": verb == "create", "reason": "any API token may ask what it may do"}
    matching = [r for r in served if group in ("*", r.group) and plural in ("*", r.plural)]
    if not matching:
        where = f' in API group "{group}"' if group else ""
        return {"allowed": False, "reason": f'the endpoint serves no resource "{plural}"{where}'}
    if subresource in RELAYED and all(r.kind == "Pod" and not r.group for r in matching):
        # The WebSocket upgrade is a GET; kube-apiserver (1.35) asks for create, as for SPDY's POST.
        if verb not in ("create", "get"):
            return {
                "allowed": False,
                "reason": f'"pods/{subresource}" is only created (a session with the pod)',
            }
        if "write" not in scopes:
            return _lacks("write", scopes)
        return {"allowed": True, "reason": f"the API token's scopes allow {RELAYED[subresource]}"}
    if subresource and not all(subresource in r.subresources for r in matching):
        return {"allowed": False, "reason": f'"{plural}" have no "{subresource}" subresource here'}
    for wanted in (*READS, *WRITES) if verb == "*" else (verb,):
        scope = _needs(wanted)
        if scope is None:
            return {"allowed": False, "reason": f'Nodeless API tokens are never granted "{wanted}"'}
        if scope not in scopes:
            return _lacks(scope, scopes)
        refused = [r for r in matching if r.derived and wanted not in r.verbs]
        if refused:
            verbs, pods = ", ".join(refused[0].verbs), refused[0].kind == "Pod"
            why = "read from the member clusters" if pods else "computed when read"
            return {"allowed": False, "reason": f'"{plural}" are {why}: {verbs} only'}
        if scope == "write" and any(r.read_only for r in matching):
            return {"allowed": False, "reason": f'"{plural}" are written by Nodeless only'}
    return {"allowed": True, "reason": f"the API token's scopes allow {verb} on {plural}"}


def _path_access(attributes: Json, scopes: Collection[str]) -> Json:
    path, verb = str(attributes.get("path") or ""), str(attributes.get("verb") or "")
    served = any(
        path == url or (url.endswith("/*") and path.startswith(url[:-1])) for url in NON_RESOURCE_URLS
    )
    if not served or verb != "get":
        return {"allowed": False, "reason": f"the endpoint serves no {verb} on {path}"}
    return (
        {"allowed": True, "reason": "the API token may read"} if "read" in scopes else _lacks("read", scopes)
    )


def _rules(scopes: Collection[str], served: Sequence[Resource]) -> Json:
    """Every rule the token's scopes grant, one per API group and set of verbs, as RBAC lists them."""
    rules: list[Json] = [{"verbs": ["create"], "apiGroups": [GROUP], "resources": sorted(REVIEWS)}]
    by_group: dict[str, list[Resource]] = {}
    for resource in served:
        by_group.setdefault(resource.group, []).append(resource)
    for group, resources in sorted(by_group.items()):
        if "read" in scopes:
            names = sorted({name for r in resources if not r.derived for name in (r.plural, *_qualified(r))})
            rules.append({"verbs": list(READS), "apiGroups": [group], "resources": names})
            if derived := sorted(name for r in resources if r.derived for name in (r.plural, *_qualified(r))):
                rules.append({"verbs": ["get", "list"], "apiGroups": [group], "resources": derived})
        writable = [r for r in resources if not r.read_only and not r.derived]
        if "write" in scopes and writable:
            names = sorted({name for r in writable for name in (r.plural, *_qualified(r))})
            rules.append({"verbs": list(WRITES), "apiGroups": [group], "resources": names})
        deletable = sorted(r.plural for r in resources if r.derived and "delete" in r.verbs)
        if "write" in scopes and deletable:  # a member's pod, deleted to be replaced
            rules.append({"verbs": ["delete"], "apiGroups": [group], "resources": deletable})
            streamed = sorted(
                f"{plural}/{sub}" for plural in deletable if plural == "pods" for sub in RELAYED
            )
            rules.append({"verbs": ["create", "get"], "apiGroups": [group], "resources": streamed})
    paths = [{"verbs": ["get"], "nonResourceURLs": list(NON_RESOURCE_URLS)}] if "read" in scopes else []
    return {"resourceRules": rules, "nonResourceRules": paths, "incomplete": False}


def _qualified(resource: Resource) -> list[str]:
    return [f"{resource.plural}/{sub}" for sub in sorted(resource.subresources)]
