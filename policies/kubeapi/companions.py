"""Which stored objects follow a workload to its members (Karmada's dependencies distributor does
the same for ConfigMaps, Secrets, ServiceAccounts and PVCs a pod template names):

- ConfigMaps, Secrets, the ServiceAccount and PersistentVolumeClaims the pod template references
  (volumes, projected sources, env, envFrom, image pull secrets, ``serviceAccountName``,
  ``persistentVolumeClaim.claimName``);
- Services whose selector selects the workload's pods;
- HorizontalPodAutoscalers whose ``scaleTargetRef`` names the workload (each member scales its own
  copy, between the HPA's bounds);
- Ingresses whose backends (``defaultBackend``, every rule path) are Services that follow;
- RoleBindings that bind the workload's ServiceAccount (``default`` when the pod names none), and
  the Roles those bindings refer to.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from policies.federation.manifests import COMPANION_KINDS
from policies.federation.workload_kinds import pod_template
from policies.kubeapi import store
from policies.models import KubeObject
from tenants.models import Organization

Json = dict[str, Any]
# (group, kind) of each companion kind, as the endpoint stores them.
COMPANION_GROUPS = {
    kind: (version.rsplit("/", 1)[0] if "/" in version else "") for kind, version in COMPANION_KINDS.items()
}


def referenced_names(pod_spec: Mapping[str, Any]) -> dict[str, set[str]]:
    """ConfigMap, Secret, ServiceAccount and PersistentVolumeClaim names a pod spec uses."""
    found: dict[str, set[str]] = {
        "ConfigMap": set(),
        "Secret": set(),
        "ServiceAccount": set(),
        "PersistentVolumeClaim": set(),
    }
    if pod_spec.get("serviceAccountName"):
        found["ServiceAccount"].add(str(pod_spec["serviceAccountName"]))
    for volume in pod_spec.get("volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        if (volume.get("configMap") or {}).get("name"):
            found["ConfigMap"].add(volume["configMap"]["name"])
        if (volume.get("secret") or {}).get("secretName"):
            found["Secret"].add(volume["secret"]["secretName"])
        if (volume.get("persistentVolumeClaim") or {}).get("claimName"):
            found["PersistentVolumeClaim"].add(volume["persistentVolumeClaim"]["claimName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("configMap") or {}).get("name"):
                found["ConfigMap"].add(source["configMap"]["name"])
            if (source.get("secret") or {}).get("name"):
                found["Secret"].add(source["secret"]["name"])
    for secret in pod_spec.get("imagePullSecrets") or []:
        if isinstance(secret, Mapping) and secret.get("name"):
            found["Secret"].add(secret["name"])
    containers = [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]
    for container in containers:
        if not isinstance(container, Mapping):
            continue
        for source in container.get("envFrom") or []:
            if (source.get("configMapRef") or {}).get("name"):
                found["ConfigMap"].add(source["configMapRef"]["name"])
            if (source.get("secretRef") or {}).get("name"):
                found["Secret"].add(source["secretRef"]["name"])
        for env in container.get("env") or []:
            value_from = (env or {}).get("valueFrom") or {}
            if (value_from.get("configMapKeyRef") or {}).get("name"):
                found["ConfigMap"].add(value_from["configMapKeyRef"]["name"])
            if (value_from.get("secretKeyRef") or {}).get("name"):
                found["Secret"].add(value_from["secretKeyRef"]["name"])
    return found


def _selects(service: Json, pod_labels: Mapping[str, Any]) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())


def _scales(hpa: Json, obj: Mapping[str, Any]) -> bool:
    target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    group = (
        str(target.get("apiVersion") or "").rsplit("/", 1)[0] if "/" in str(target.get("apiVersion")) else ""
    )
    own_group = str(obj.get("apiVersion") or "").rsplit("/", 1)[0]
    return (
        target.get("kind") == obj.get("kind")
        and target.get("name") == (obj.get("metadata") or {}).get("name")
        and group == own_group
    )


def _backends(ingress: Json) -> set[str]:
    spec = ingress.get("spec") or {}
    names: set[str] = set()
    backends = [spec.get("defaultBackend") or {}]
    for rule in spec.get("rules") or []:
        backends += [
            path.get("backend") or {} for path in ((rule or {}).get("http") or {}).get("paths") or []
        ]
    for backend in backends:
        service = (backend or {}).get("service") or {}
        if service.get("name"):
            names.add(str(service["name"]))
    return names


def _binds(binding: Json, service_account: str, namespace: str) -> bool:
    return any(
        subject.get("kind") == "ServiceAccount"
        and subject.get("name") == service_account
        and (subject.get("namespace") or namespace) == namespace
        for subject in binding.get("subjects") or []
        if isinstance(subject, Mapping)
    )


def following(objects: Iterable[Json], namespace: str, obj: Mapping[str, Any]) -> list[Json]:
    """Of ``objects`` (rendered companions of the namespace), those the workload ``obj`` uses."""
    template = pod_template(obj)
    pod_spec = template.get("spec") or {}
    names = referenced_names(pod_spec)
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    service_account = str(pod_spec.get("serviceAccountName") or "default")
    by_kind: dict[str, list[Json]] = {}
    for candidate in objects:
        by_kind.setdefault(str(candidate.get("kind")), []).append(candidate)
    found: list[Json] = []
    for kind in ("ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim"):
        found += [o for o in by_kind.get(kind, []) if o["metadata"]["name"] in names[kind]]
    services = [o for o in by_kind.get("Service", []) if _selects(o, pod_labels)]
    found += services
    found += [o for o in by_kind.get("HorizontalPodAutoscaler", []) if _scales(o, obj)]
    service_names = {o["metadata"]["name"] for o in services}
    found += [o for o in by_kind.get("Ingress", []) if _backends(o) & service_names]
    bindings = [o for o in by_kind.get("RoleBinding", []) if _binds(o, service_account, namespace)]
    found += bindings
    roles = {
        str((b.get("roleRef") or {}).get("name"))
        for b in bindings
        if (b.get("roleRef") or {}).get("kind") == "Role"
    }
    found += [o for o in by_kind.get("Role", []) if o["metadata"]["name"] in roles]
    return sorted(found, key=lambda o: (str(o["kind"]), str(o["metadata"]["name"])))


@functools.cache
def _candidates_statement() -> str:
    """The namespace's live objects of the companion kinds, by kind and name: a plain statement
    from the model's table and columns (every workload write reads it; built by the ORM, the same
    read costs several times the CPU)."""

    def column(name: str) -> str:
        return store.column(KubeObject, name)

    kinds = ", ".join(["%s"] * len(COMPANION_GROUPS))
    return (
        f"SELECT * FROM {store.table(KubeObject)} WHERE {column('organization')} = %s "
        f"AND {column('namespace')} = %s AND {column('kind')} IN ({kinds}) "
        f"AND {column('deleted_at')} IS NULL ORDER BY {column('kind')}, {column('name')}"
    )


def companions_for(organization: Organization, namespace: str, obj: Mapping[str, Any]) -> list[Json]:
    """The stored objects of the namespace the workload ``obj`` uses, by kind and name."""
    candidates = KubeObject.objects.raw(
        _candidates_statement(), [store.key(organization), namespace, *COMPANION_GROUPS]
    )
    rendered = [store.render(k) for k in candidates if COMPANION_GROUPS[k.kind] == k.group]
    return following(rendered, namespace, obj)
