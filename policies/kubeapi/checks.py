"""An object sent to the endpoint, checked as the Kubernetes API server checks it before a write:
kind and apiVersion against the URL's resource, the name (sent, on the URL, or made from
``generateName``), the namespace, and the labels and annotations; and the federation's refusal
of an object, turned into the API server's 422 with a cause per problem."""

from __future__ import annotations

import copy
import re
from typing import Any

from django.core.exceptions import ValidationError

from policies.federation.manifest_checks import DNS_LABEL, DNS_SUBDOMAIN
from policies.kubeapi import errors
from policies.kubeapi.resources import Resource
from policies.models import KubeObject

Json = dict[str, Any]
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def checked(resource: Resource, namespace: str, obj: Any, *, url_name: str | None) -> Json:
    """A checked copy of ``obj`` for ``resource`` in ``namespace`` ("" when cluster-scoped), its
    namespace filled in; ``url_name`` is the name on the URL (None for a create)."""
    check_type(resource, obj)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise errors.invalid(
            resource.kind, resource.group, "", [("metadata.name", "Required value: name is required")]
        )
    obj = copy.deepcopy(obj)
    metadata = obj["metadata"]
    if not metadata.get("name") and metadata.get("generateName") and url_name is None:
        metadata["name"] = f"{metadata['generateName']}{KubeObject().pk.hex[:5]}"
    name = metadata.get("name")
    if url_name is not None and name != url_name:
        raise errors.bad_request(
            f"the name of the object ({name}) does not match the name on the URL ({url_name})"
        )
    sent_namespace = metadata.get("namespace")
    if resource.namespaced:
        if sent_namespace not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        metadata["namespace"] = namespace
    _check_name(resource, name)
    problems = _metadata_problems(metadata)
    if problems:
        raise errors.invalid(resource.kind, resource.group, str(name), problems)
    result: Json = obj
    return result


def check_type(resource: Resource, obj: Any) -> None:
    """A 400 unless ``obj`` is an object of ``resource``'s kind and version."""
    if not isinstance(obj, dict):
        raise errors.bad_request("the request body must be a JSON or YAML object")
    if obj.get("kind") != resource.kind or obj.get("apiVersion") != resource.group_version:
        raise errors.bad_request(
            f"the API version in the data ({obj.get('apiVersion')}) and kind ({obj.get('kind')}) do not "
            f"match the endpoint's {resource.group_version}, Kind={resource.kind}"
        )


def _check_name(resource: Resource, name: Any) -> None:
    rule, limit = (DNS_LABEL, 63) if resource.kind in ("Namespace", "Service") else (DNS_SUBDOMAIN, 253)
    if not isinstance(name, str) or not name:
        raise errors.invalid(
            resource.kind,
            resource.group,
            "",
            [("metadata.name", "Required value: name or generateName is required")],
        )
    if len(name) > limit or not rule.match(name):
        raise errors.invalid(
            resource.kind,
            resource.group,
            name,
            [
                (
                    "metadata.name",
                    f"Invalid value: {name!r}: a lowercase RFC 1123 name of at most {limit} "
                    "characters ('a-z', '0-9', '-' and '.'), starting and ending with an alphanumeric character",
                )
            ],
        )


def _metadata_problems(metadata: Json) -> list[tuple[str, str]]:
    problems = []
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            problems.append((f"metadata.{field}", "Invalid value: must be a map of strings"))
        elif field == "labels":
            problems += [
                (
                    "metadata.labels",
                    f"Invalid value: {v!r}: a label value is at most 63 alphanumerics, '-', '_' or '.'",
                )
                for v in values.values()
                if len(v) > 63 or not _LABEL_VALUE.match(v)
            ]
    return problems


def federation_error(resource: Resource, name: str, error: ValidationError) -> errors.KubeError:
    """The federation's refusal of an object as a 422: a cause per message, its field taken from
    a ``field: problem`` message or else from the form field it came from."""
    causes: list[tuple[str, str]] = []
    messages = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
    for key, values in messages.items():
        for message in values:
            field, sep, rest = message.partition(": ")
            if sep and " " not in field.strip():
                causes.append((field, rest))
            else:
                causes.append(("" if key in ("manifest", "__all__", "") else key, message))
    return errors.invalid(resource.kind, resource.group, name, causes)
