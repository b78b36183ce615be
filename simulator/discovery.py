"""Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`) and `/version`."""

from __future__ import annotations

from typing import Any

from simulator.resources import ResourceRegistry, ResourceType

KUBERNETES_VERSION = "v1.31.4"

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "31",
    "gitVersion": KUBERNETES_VERSION + "-nodeless-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.10",
    "compiler": "gc",
    "platform": "linux/amd64",
}

# Kinds of subresources that are not the parent kind.
_SUBRESOURCE_KINDS = {
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "scale": ("autoscaling", "v1", "Scale"),
    "log": ("", "v1", "Pod"),
    "exec": ("", "v1", "PodExecOptions"),
}
_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "binding": ["create"],
    "eviction": ["create"],
    "log": ["get"],
    "exec": ["create", "get"],
    "finalize": ["update"],
}


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    """A group and its versions, the preferred first."""
    listed = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": listed,
        "preferredVersion": listed[0],
    }


def api_group_list(registry: ResourceRegistry) -> dict[str, Any]:
    by_group: dict[str, list[str]] = {}
    for group, version in registry.group_versions():
        by_group.setdefault(group, []).append(version)
    groups = [api_group(g, versions) for g, versions in by_group.items()]
    for entry in groups:
        del entry["kind"], entry["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_entries(resource: ResourceType) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    entries = [entry]
    for sub in resource.subresources:
        group, version, kind = _SUBRESOURCE_KINDS.get(sub, (resource.group, resource.version, resource.kind))
        sub_entry: dict[str, Any] = {
            "name": f"{resource.plural}/{sub}",
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": kind,
            "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
        }
        if (group, version) != (resource.group, resource.version):
            sub_entry["group"] = group
            sub_entry["version"] = version
        entries.append(sub_entry)
    return entries


def api_resource_list(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    group_version = f"{group}/{version}" if group else version
    resources = [e for r in registry.in_group_version(group, version) for e in _resource_entries(r)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
