"""``kubectl get`` asks for a Table (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``): the
columns it prints for each kind, as the API server's printers give them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]
# The member a pod served by the endpoint runs in (``member_objects.CLUSTER_ANNOTATION``).
POD_CLUSTER_ANNOTATION = "nodeless.io/cluster"


def age(created: str, now: datetime | None = None) -> str:
    try:
        moment = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


# Where a federated workload's per-cluster breakdown is served (JSON, ``store.render``): kept with its
# status, but a status field the kind's Go type lacks makes kubectl edit's strategic merge patch fail
# ("unable to find api field in struct DeploymentStatus"), and any object may carry an annotation.
# Never stored from what a client sends (``store.strip_served``).
CLUSTERS_ANNOTATION = "nodeless.io/clusters"


def clusters_served(obj: Json) -> list[Json]:
    """A served object's per-cluster breakdown, [] when it has none."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(CLUSTERS_ANNOTATION)
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return []
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _clusters(obj: Json) -> tuple[str, Any]:
    return ("Clusters", ",".join(str(c.get("name")) for c in clusters_served(obj)) or "<none>")


def _columns(kind: str, obj: Json) -> list[tuple[str, Any]]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Deployment":
        return [
            ("Ready", f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"),
            ("Up-to-date", status.get("updatedReplicas", 0)),
            ("Available", status.get("availableReplicas", 0)),
            _clusters(obj),
        ]
    if kind == "ReplicaSet":
        return [
            ("Desired", spec.get("replicas", 1)),
            ("Current", status.get("replicas", 0)),
            ("Ready", status.get("readyReplicas", 0)),
        ]
    if kind == "StatefulSet":
        return [("Ready", f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"), _clusters(obj)]
    if kind == "DaemonSet":
        return [
            ("Desired", status.get("desiredNumberScheduled", 0)),
            ("Ready", status.get("numberReady", 0)),
            ("Up-to-date", status.get("updatedNumberScheduled", 0)),
            _clusters(obj),
        ]
    if kind == "CronJob":
        return [
            ("Schedule", spec.get("schedule", "")),
            ("Suspend", bool(spec.get("suspend"))),
            ("Active", len(status.get("active") or [])),
            ("Last Schedule", status.get("lastScheduleTime") or "<none>"),
            _clusters(obj),
        ]
    if kind == "Job":
        done = next(
            (c["type"] for c in status.get("conditions") or [] if c["type"] in ("Complete", "Failed")),
            "Running",
        )
        return [
            ("Status", done),
            ("Completions", f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}"),
        ]
    if kind == "Service":
        ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
        return [
            ("Type", spec.get("type", "ClusterIP")),
            ("Cluster-IP", spec.get("clusterIP") or "<none>"),  # the endpoint's (``service_ips``)
            ("External-IP", _external_ip(spec, status)),
            ("Port(s)", ports or "<none>"),
        ]
    if kind in ("ConfigMap", "Secret"):
        return [
            ("Data", len(obj.get("data") or {}) + len(obj.get("binaryData") or obj.get("stringData") or {}))
        ]
    if kind == "Namespace":
        return [("Status", status.get("phase", "Active"))]
    if kind == "Event":  # kubectl's event columns (Last Seen is the row's age here)
        involved = obj.get("involvedObject") or {}
        return [
            ("Type", obj.get("type", "")),
            ("Reason", obj.get("reason", "")),
            ("Object", f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"),
            ("Count", obj.get("count", 1)),
            ("Message", obj.get("message", "")),
        ]
    if kind == "FederationPolicy":
        return [("Strategy", spec.get("strategy", "")), ("Workloads", status.get("workloads", 0))]
    if kind == "HorizontalPodAutoscaler":
        target = spec.get("scaleTargetRef") or {}
        return [
            ("Reference", f"{target.get('kind', '')}/{target.get('name', '')}"),
            ("Targets", _hpa_targets(spec.get("metrics") or [], status.get("currentMetrics") or [])),
            ("MinPods", spec.get("minReplicas", 1)),
            ("MaxPods", spec.get("maxReplicas", 0)),
            ("Replicas", status.get("currentReplicas", 0)),
        ]
    if kind == "Ingress":
        hosts = [str(rule["host"]) for rule in spec.get("rules") or [] if rule.get("host")]
        balancers = (status.get("loadBalancer") or {}).get("ingress") or []
        return [
            ("Class", spec.get("ingressClassName") or "<none>"),
            ("Hosts", ",".join(hosts) or "*"),
            ("Address", ",".join(str(b.get("ip") or b.get("hostname") or "") for b in balancers)),
            ("Ports", "80, 443" if spec.get("tls") else "80"),
        ]
    if kind == "PersistentVolumeClaim":
        modes = (_ACCESS_MODES.get(mode, mode) for mode in spec.get("accessModes") or [])
        return [
            ("Status", status.get("phase", "Pending")),
            ("Volume", spec.get("volumeName", "")),
            ("Capacity", (status.get("capacity") or {}).get("storage", "")),
            ("Access Modes", ",".join(modes)),
            ("StorageClass", spec.get("storageClassName") or "<unset>"),
        ]
    if kind == "ServiceAccount":
        return [("Secrets", len(obj.get("secrets") or []))]
    if kind == "Node":  # a member's (``member_objects``): kubectl's columns, and the member
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        roles = sorted(key.rpartition("/")[2] for key in labels if key.startswith("node-role.kubernetes.io/"))
        condition: Json = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        shown = "Ready" if condition.get("status") == "True" else "NotReady"
        if spec.get("unschedulable"):
            shown += ",SchedulingDisabled"
        return [
            ("Status", shown),
            ("Roles", ",".join(roles) or "<none>"),
            ("Version", (status.get("nodeInfo") or {}).get("kubeletVersion", "")),
            ("Cluster", annotations.get(POD_CLUSTER_ANNOTATION, "")),
        ]
    if kind == "Pod":  # a member's (``member_objects``): kubectl's columns, and the member it runs in
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        ready, shown, restarts = pod_summary(obj)
        return [
            ("Ready", ready),
            ("Status", shown),
            ("Restarts", restarts),
            ("Cluster", annotations.get(POD_CLUSTER_ANNOTATION, "")),
        ]
    if kind == "RoleBinding":
        role = obj.get("roleRef") or {}
        return [("Role", f"{role.get('kind', '')}/{role.get('name', '')}")]
    return []


def pod_summary(pod: Json) -> tuple[str, str, int]:
    """kubectl's READY (ready containers / containers), STATUS and RESTARTS of a pod."""
    containers = (pod.get("status") or {}).get("containerStatuses") or []
    ready = f"{sum(1 for c in containers if c.get('ready'))}/{len((pod.get('spec') or {}).get('containers') or [])}"
    return ready, _pod_status(pod), sum(int(c.get("restartCount") or 0) for c in containers)


def _pod_status(pod: Json) -> str:
    """kubectl's STATUS of a pod: a container's waiting or termination reason where there is one
    (ContainerCreating, CrashLoopBackOff, Completed, OOMKilled), else the phase; Terminating once
    it is being deleted."""
    status = pod.get("status") or {}
    shown = str(status.get("reason") or status.get("phase") or "Unknown")
    for container in reversed(status.get("containerStatuses") or []):
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated")
        if waiting.get("reason"):
            shown = str(waiting["reason"])
        elif terminated is not None:
            if terminated.get("reason"):
                shown = str(terminated["reason"])
            elif terminated.get("signal"):
                shown = f"Signal:{terminated['signal']}"
            else:
                shown = f"ExitCode:{terminated.get('exitCode', 0)}"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        shown = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return shown


def _external_ip(spec: Json, status: Json) -> str:
    """kubectl's EXTERNAL-IP: a load balancer's addresses (``<pending>`` before any), else the
    Service's external IPs (an ExternalName Service's name)."""
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    addresses = [
        str(b.get("ip") or b.get("hostname") or "")
        for b in (status.get("loadBalancer") or {}).get("ingress") or []
    ]
    addresses += [str(ip) for ip in spec.get("externalIPs") or []]
    if kind == "LoadBalancer":
        return ",".join(addresses) or "<pending>"
    return ",".join(addresses) or "<none>"


_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _hpa_targets(metrics: list[Json], current: list[Json]) -> str:
    """kubectl's Targets column: each metric's current value (from the status, when it says) over
    its target, e.g. "cpu: <unknown>/70%"."""
    shown = []
    for index, metric in enumerate(metrics):
        kind = str(metric.get("type", ""))
        field = kind[:1].lower() + kind[1:]  # a Resource metric's source is under "resource"
        source = metric.get(field) or {}
        target = source.get("target") or {}
        reported = current[index] if index < len(current) else {}
        now = (reported.get(field) or {}).get("current") or {}
        if "averageUtilization" in target:
            wanted = f"{target['averageUtilization']}%"
            value = f"{now['averageUtilization']}%" if "averageUtilization" in now else None
        else:
            wanted = str(target.get("averageValue") or target.get("value") or "")
            value = now.get("averageValue") or now.get("value")
        name = source.get("name") or (source.get("metric") or {}).get("name") or kind.lower()
        shown.append(f"{name}: {value or '<unknown>'}/{wanted}")
    return ", ".join(shown) or "<none>"


_POD_TEMPLATE = {
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def _selector(selector: Json) -> str:
    """A label selector as kubectl writes it (``app=web,tier in (a,b)``)."""
    parts = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), str(expression.get("operator", ""))
        values = ",".join(str(v) for v in expression.get("values") or [])
        if operator in ("In", "NotIn"):
            parts.append(f"{key} {'in' if operator == 'In' else 'notin'} ({values})")
        else:
            parts.append(key if operator == "Exists" else f"!{key}")
    return ",".join(parts) or "<none>"


def _wide(kind: str, obj: Json) -> list[tuple[str, Any]]:
    """The columns ``kubectl get -o wide`` adds (priority 1), after Age as kubectl prints them."""
    if kind == "Pod":
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return [("IP", status.get("podIP") or "<none>"), ("Node", spec.get("nodeName") or "<none>")]
    if kind == "Service":
        found = (obj.get("spec") or {}).get("selector") or {}
        return [("Selector", ",".join(f"{k}={v}" for k, v in found.items()) or "<none>")]
    path = _POD_TEMPLATE.get(kind)
    if path is None:
        return []
    template: Any = obj
    for step in path:
        template = (template or {}).get(step) or {}
    containers = (template.get("spec") or {}).get("containers") or []
    wide = [
        ("Containers", ",".join(str(c.get("name", "")) for c in containers)),
        ("Images", ",".join(str(c.get("image", "")) for c in containers)),
    ]
    if kind != "StatefulSet":
        spec = obj.get("spec") or {}
        selector = spec.get("selector") or {}
        if kind == "CronJob":
            selector = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("selector") or {}
        wide.append(("Selector", _selector(selector)))
    return wide


def _definition(name: str, priority: int = 0, form: str = "") -> Json:
    return {"name": name, "type": "string", "format": form, "description": name, "priority": priority}


def table(kind: str, items: list[Json], *, version: str = "", include: str | None = None) -> Json:
    """The items as a Table. Each row carries its object as ``include`` (the request's
    ``includeObject``) says: ``Metadata`` (the default) its metadata, ``Object`` all of it (kubectl's
    ``--sort-by`` and custom columns read it), ``None`` nothing."""
    sample = items[0] if items else {}
    definitions = [_definition("Name", form="name")]
    definitions += [_definition(name) for name, _ in _columns(kind, sample)]
    definitions.append(_definition("Age"))
    definitions += [_definition(name, priority=1) for name, _ in _wide(kind, sample)]
    rows = []
    for obj in items:
        metadata = obj.get("metadata") or {}
        cells = [
            metadata.get("name"),
            *(value for _, value in _columns(kind, obj)),
            age(metadata.get("creationTimestamp", "")),
            *(value for _, value in _wide(kind, obj)),
        ]
        row: Json = {"cells": cells}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": version},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    first = accept.split(",")[0]
    return "as=Table" in first
