"""StatefulSet and DaemonSet controllers (apps/v1), as kube-controller-manager runs them.

- StatefulSet: pods named ``<name>-<ordinal>``; ``OrderedReady`` creates ordinal *i* only once
  0..i-1 are Running and Ready and removes the highest ordinal first (``Parallel`` creates and
  removes at once); a changed template rolls out from the highest ordinal down, one pod at a time,
  each replaced once the others are ready. Status: ``replicas``, ``readyReplicas``,
  ``availableReplicas``, ``currentReplicas``, ``updatedReplicas``, ``currentRevision``,
  ``updateRevision`` (``<name>-<template hash>``), ``observedGeneration``.
- DaemonSet: one pod per node whose labels match the template's node selector and whose
  NoSchedule/NoExecute taints the pod tolerates (plus the tolerations the controller adds to every
  daemon pod); each pod is pinned with required node affinity on ``metadata.name`` and bound by the
  scheduler. Status: ``desiredNumberScheduled``, ``currentNumberScheduled``, ``numberReady``,
  ``numberAvailable``, ``updatedNumberScheduled``, ``numberMisscheduled``, ``observedGeneration``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from simulator.api import ClusterApi
from simulator.controllers.scheduling import tolerates
from simulator.controllers.workloads import (
    SyncedInputs,
    owned,
    pod_from_template,
    template_hash,
    update_status_if_changed,
)
from simulator.disruption import is_pod_ready
from simulator.errors import ApiError
from simulator.resources import DAEMONSETS, NODES, PODS, STATEFULSETS
from simulator.store import JsonObject

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
# What the DaemonSet controller adds to every daemon pod (pkg/controller/daemon/util).
DAEMON_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)


def _live(pod: JsonObject) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (
        "Succeeded",
        "Failed",
    )


def _delete(api: ClusterApi, pod: JsonObject) -> None:
    with contextlib.suppress(ApiError):
        api.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])


def _revision(owner: JsonObject) -> str:
    return f"{owner['metadata']['name']}-{template_hash(owner['spec'].get('template') or {})}"


class StatefulSetController:
    name = "statefulset-controller"
    watches = frozenset({STATEFULSETS.key, PODS.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api
        self.synced = SyncedInputs(api.store, STATEFULSETS, PODS)

    def reconcile(self, now: float) -> float | None:
        self.synced.sync_changed(self.api, self._sync)
        return None

    def _sync(self, sts: JsonObject, children: list[JsonObject]) -> None:
        spec, _name = sts["spec"], sts["metadata"]["name"]
        desired = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        revision = _revision(sts)
        pods: dict[int, JsonObject] = {}
        for pod in children:
            suffix = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if suffix.isdigit():
                pods[int(suffix)] = pod
        for ordinal in sorted((o for o in pods if o >= desired), reverse=True):
            if _live(pods[ordinal]):
                _delete(self.api, pods[ordinal])
            if ordered:
                break
        for ordinal in range(desired):
            existing = pods.get(ordinal)
            if existing is None:
                self._create(sts, ordinal, revision)
                if ordered:
                    break
            elif not _live(existing) or (ordered and not is_pod_ready(existing)):
                if (existing.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    _delete(self.api, existing)  # replaced on a later pass, with the same name
                if ordered:
                    break
        kept = [pods[o] for o in range(desired) if o in pods]
        if len(kept) == desired and all(is_pod_ready(p) for p in kept):
            stale = [p for p in kept if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision]
            if stale:  # the rolling update: highest ordinal first, one at a time
                _delete(self.api, stale[-1])
        self._status(sts, [p for p in pods.values() if _live(p)], revision)

    def _create(self, sts: JsonObject, ordinal: int, revision: str) -> None:
        name = f"{sts['metadata']['name']}-{ordinal}"
        pod = pod_from_template(
            sts,
            sts["spec"].get("template") or {},
            {REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)},
        )
        pod["metadata"].pop("generateName", None)
        pod["metadata"]["name"] = name
        pod["spec"].setdefault("hostname", name)
        if sts["spec"].get("serviceName"):
            pod["spec"].setdefault("subdomain", sts["spec"]["serviceName"])
        with contextlib.suppress(ApiError):  # the previous pod of that name is still terminating
            self.api.create(PODS, sts["metadata"]["namespace"], pod)

    def _status(self, sts: JsonObject, pods: list[JsonObject], revision: str) -> None:
        previous = sts.get("status") or {}
        updated = [p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision]
        desired = int(sts["spec"].get("replicas", 1))
        current_revision = previous.get("currentRevision") or revision
        if len(updated) == len(pods) == desired:
            current_revision = revision
        current = [
            p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == current_revision
        ]
        ready = sum(1 for p in pods if is_pod_ready(p))
        update_status_if_changed(
            self.api,
            STATEFULSETS,
            sts,
            {
                "observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "currentReplicas": len(current),
                "updatedReplicas": len(updated),
                "currentRevision": current_revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
        )


def _tolerations(template_spec: JsonObject) -> list[Any]:
    own = list(template_spec.get("tolerations") or [])
    return own + [t for t in DAEMON_TOLERATIONS if not any(o.get("key") == t["key"] for o in own)]


def _should_run(node: JsonObject, template_spec: JsonObject) -> bool:
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (template_spec.get("nodeSelector") or {}).items()):
        return False
    tolerations = _tolerations(template_spec)
    return all(
        tolerates(tolerations, taint)
        for taint in (node.get("spec") or {}).get("taints") or []
        if taint.get("effect") in ("NoSchedule", "NoExecute")
    )


def _target_node(pod: JsonObject) -> str:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return str((pod.get("spec") or {}).get("nodeName") or "")


class DaemonSetController:
    name = "daemonset-controller"
    watches = frozenset({DAEMONSETS.key, PODS.key, NODES.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api

    def reconcile(self, now: float) -> float | None:
        daemonsets = [s.obj for s in self.api.store.list(DAEMONSETS).items]
        if not daemonsets:
            return None
        nodes = [s.obj for s in self.api.store.list(NODES).items]
        for daemonset in daemonsets:
            if not daemonset["metadata"].get("deletionTimestamp"):
                self._sync(daemonset, nodes)
        return None

    def _sync(self, daemonset: JsonObject, nodes: list[JsonObject]) -> None:
        template = daemonset["spec"].get("template") or {}
        template_spec = template.get("spec") or {}
        revision = _revision(daemonset)
        wanted = {n["metadata"]["name"] for n in nodes if _should_run(n, template_spec)}
        by_node: dict[str, list[JsonObject]] = {}
        for pod in owned(self.api, PODS, daemonset):
            if _live(pod):
                by_node.setdefault(_target_node(pod), []).append(pod)
            elif (pod.get("status") or {}).get("phase") == "Failed":
                _delete(self.api, pod)
        misscheduled = 0
        for node_name, pods in list(by_node.items()):
            if node_name not in wanted:
                misscheduled += 1
                for pod in pods:
                    _delete(self.api, pod)
                del by_node[node_name]
            else:
                for extra in pods[1:]:
                    _delete(self.api, extra)
                by_node[node_name] = pods[:1]
        for node_name in sorted(wanted - set(by_node)):
            self._create(daemonset, node_name, revision)
        pods = [pods[0] for pods in by_node.values()]
        updated = [p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision]
        stale = [p for p in pods if p not in updated]
        if stale and all(is_pod_ready(p) for p in pods):  # maxUnavailable 1
            _delete(self.api, stale[0])
        ready = sum(1 for p in pods if is_pod_ready(p))
        update_status_if_changed(
            self.api,
            DAEMONSETS,
            daemonset,
            {
                "observedGeneration": daemonset["metadata"].get("generation", 1),
                "desiredNumberScheduled": len(wanted),
                "currentNumberScheduled": sum(1 for p in pods if (p.get("spec") or {}).get("nodeName")),
                "numberReady": ready,
                "numberAvailable": ready,
                "numberUnavailable": max(0, len(wanted) - ready),
                "updatedNumberScheduled": len(updated),
                "numberMisscheduled": misscheduled,
            },
        )

    def _create(self, daemonset: JsonObject, node_name: str, revision: str) -> None:
        template = daemonset["spec"].get("template") or {}
        pod = pod_from_template(daemonset, template, {REVISION_LABEL: revision})
        spec = pod["spec"]
        spec["tolerations"] = _tolerations(spec)
        affinity = spec.setdefault("affinity", {})
        affinity["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
                ]
            }
        }
        with contextlib.suppress(ApiError):
            self.api.create(PODS, daemonset["metadata"]["namespace"], pod)
