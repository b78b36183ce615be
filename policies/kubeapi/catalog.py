"""What an organization's endpoint serves: the built-in kinds (``resources``) and the custom
resources its CustomResourceDefinitions define. Custom resources are stored and served like any
namespaced or cluster-scoped object (GitOps tools apply them alongside workloads); a namespaced
one naming a policy goes to that policy's members that serve its kind (``standalone``). The CRDs
themselves stay on the endpoint.
"""

from __future__ import annotations

import re
from typing import Any

from policies.kubeapi import errors
from policies.kubeapi.resources import BUILTIN_GROUPS, RESOURCES, Resource
from policies.models import KubeObject
from tenants.models import Organization

Json = dict[str, Any]
CRD_KIND = "CustomResourceDefinition"
_GROUP = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_PLURAL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_VERSION = re.compile(r"^v[0-9]+((alpha|beta)[0-9]+)?$")


def defined(spec: Any) -> list[Resource]:
    """The resources a CRD's spec defines, one per served version."""
    if not isinstance(spec, dict):
        return []
    names = spec.get("names") or {}
    return [
        Resource(
            group=str(spec.get("group")),
            version=str(version.get("name")),
            kind=str(names.get("kind")),
            plural=str(names.get("plural")),
            namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            status="status" in (version.get("subresources") or {}),
        )
        for version in spec.get("versions") or []
        if isinstance(version, dict) and version.get("served", True)
    ]


def served(organization: Organization) -> tuple[Resource, ...]:
    definitions = KubeObject.objects.filter(
        organization=organization, kind=CRD_KIND, deleted_at__isnull=True
    ).values_list("body", flat=True)
    custom = [resource for body in definitions for resource in defined(body.get("spec"))]
    return (*RESOURCES, *custom)


def find(organization: Organization, group: str, version: str, plural: str) -> Resource | None:
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    if group in BUILTIN_GROUPS or not group:
        return None
    for resource in served(organization)[len(RESOURCES) :]:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    return None


def not_served(
    organization: Organization, group: str, version: str, plural: str, path: str
) -> errors.KubeError:
    """The 404 for a path naming no served resource; when another version of it is served, saying
    which (an old chart's autoscaling/v2beta2 HorizontalPodAutoscaler, say)."""
    others = sorted(
        r.group_version
        for r in served(organization)
        if (r.group, r.plural) == (group, plural) and r.version != version
    )
    if not others:
        return errors.not_found(plural, group, path)
    asked = f"{group}/{version}" if group else version
    message = (
        f"{plural} are served here as {', '.join(others)} only, not {asked}: send the object as {others[-1]}"
    )
    return errors.KubeError(404, "NotFound", message)


def check_definition(obj: Json) -> None:
    """A CRD as the API server checks it: 422 with a cause per problem."""
    name = str((obj.get("metadata") or {}).get("name"))
    found_spec = obj.get("spec")
    found_names = found_spec.get("names") if isinstance(found_spec, dict) else None
    spec: Json = found_spec if isinstance(found_spec, dict) else {}
    names: Json = found_names if isinstance(found_names, dict) else {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    problems: list[tuple[str, str]] = []
    if not isinstance(group, str) or not _GROUP.match(group):
        problems.append(("spec.group", "Invalid value: should be a domain with at least one dot"))
    elif group in BUILTIN_GROUPS:
        problems.append(("spec.group", f"Invalid value: {group!r}: the group of a built-in API"))
    if not isinstance(plural, str) or not _PLURAL.match(plural):
        problems.append(("spec.names.plural", "Required value: a lowercase plural name"))
    if not isinstance(kind, str) or not _KIND.match(kind):
        problems.append(("spec.names.kind", "Required value: a CamelCase kind"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(("spec.scope", 'Unsupported value: must be "Namespaced" or "Cluster"'))
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        problems.append(("spec.versions", "Required value: at least one version"))
    else:
        for index, version in enumerate(versions):
            if not isinstance(version, dict) or not _VERSION.match(str(version.get("name"))):
                problems.append(
                    (f"spec.versions[{index}].name", "Invalid value: a version such as v1 or v1alpha1")
                )
    if not problems and name != f"{plural}.{group}":
        problems.append(
            ("metadata.name", f'Invalid value: {name!r}: must be spec.names.plural+"."+spec.group')
        )
    if problems:
        raise errors.invalid(CRD_KIND, "apiextensions.k8s.io", name, problems)


def definition_status(obj: Json) -> Json:
    names = (obj.get("spec") or {}).get("names") or {}
    return {
        "acceptedNames": names,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": [
            v.get("name") for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")
        ],
    }
