"""Where the built-in kinds the product uses live in the Kubernetes API (custom ones are found
through discovery: ``mapper``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API."""

    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        group = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{group}{scope}/{self.plural}" + (f"/{name}" if name else "")


KINDS = {
    "Pod": Kind("v1", "pods"),
    "Event": Kind("v1", "events"),
    "Node": Kind("v1", "nodes", namespaced=False),
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "ConfigMap": Kind("v1", "configmaps"),
    "Secret": Kind("v1", "secrets"),
    "Service": Kind("v1", "services"),
    "ServiceAccount": Kind("v1", "serviceaccounts"),
    "Deployment": Kind("apps/v1", "deployments"),
    "Job": Kind("batch/v1", "jobs"),
    "StatefulSet": Kind("apps/v1", "statefulsets"),
    "DaemonSet": Kind("apps/v1", "daemonsets"),
    "CronJob": Kind("batch/v1", "cronjobs"),
    "PersistentVolumeClaim": Kind("v1", "persistentvolumeclaims"),
    "HorizontalPodAutoscaler": Kind("autoscaling/v2", "horizontalpodautoscalers"),
    "Ingress": Kind("networking.k8s.io/v1", "ingresses"),
    "Role": Kind("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": Kind("rbac.authorization.k8s.io/v1", "rolebindings"),
    "PodMetrics": Kind("metrics.k8s.io/v1beta1", "pods"),
    "NodeMetrics": Kind("metrics.k8s.io/v1beta1", "nodes", namespaced=False),
    "NodePool": Kind("karpenter.sh/v1", "nodepools", namespaced=False),  # Karpenter, when installed
    "PersistentVolume": Kind("v1", "persistentvolumes", namespaced=False),
    "StorageClass": Kind("storage.k8s.io/v1", "storageclasses", namespaced=False),
    "CSINode": Kind("storage.k8s.io/v1", "csinodes", namespaced=False),
}
