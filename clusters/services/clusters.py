from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clusters.cloud.errors import CloudError, CloudUnavailableError
from clusters.kube.access import (
    ClusterCredentialsError,
    cluster_api_client,
    eks_endpoint_override,
    unauthorized_hint,
)
from clusters.kube.kubeconfig import KubeconfigError, credentials, minimal_kubeconfig
from clusters.kube.probe import ProbeResult, probe
from clusters.labels import clean_labels
from clusters.models import CloudAccount, Cluster, ClusterConnection, ClusterHealth, ClusterMode
from clusters.observation.reading import ClusterUnavailable, list_cluster, read_cluster
from clusters.observation.recording import observation_failed, observation_record
from clusters.onboarding.aws import RoleAccessError, account_provider
from engines.kube.cluster import ClusterState
from nodeless_saas.crypto import encrypt_text
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization


def _clean_name(organization: Organization, name: str, *, exclude: Cluster | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the cluster, e.g. prod-us-east-1."})
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    taken = Cluster.objects.filter(organization=organization, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError({"name": f"A cluster named {name} already exists in this organization."})
    return name


def _clean_mode(mode: str) -> str:
    if mode not in ClusterMode.values:
        raise ValidationError({"mode": "Choose nodeless (we provision its compute) or observe."})
    return mode


def _probe(cluster: Cluster) -> ProbeResult:
    try:
        client = cluster_api_client(cluster)
    except ClusterCredentialsError as error:
        return ProbeResult(reachable=False, problem=str(error))
    with client:
        return probe(
            client,
            server=client.configuration.host,
            nodeless=cluster.is_nodeless,
            unauthorized_hint=unauthorized_hint(cluster),
        )


def _apply_probe(cluster: Cluster, result: ProbeResult) -> None:
    now = timezone.now()
    cluster.last_checked_at = now
    cluster.health_problem = result.problem
    if not result.reachable:
        cluster.health = ClusterHealth.UNREACHABLE
        return
    cluster.health = ClusterHealth.DEGRADED if result.missing else ClusterHealth.HEALTHY
    cluster.last_healthy_at = now
    cluster.kubernetes_version = result.version
    cluster.permissions = result.permissions


def _check_mode_fits(cluster: Cluster) -> None:
    if cluster.is_nodeless and cluster.cloud_account is None:
        raise ValidationError(
            {
                "mode": "Nodeless mode launches compute through a cloud account: connect the cluster through AWS "
                "(EKS) to use it. Clusters connected with a kubeconfig run in observe mode."
            }
        )


def _verify_before_saving(cluster: Cluster) -> ClusterState:
    """Connecting is all-or-nothing: a cluster we cannot reach, may not operate, or cannot list is not
    stored. What the listing saw becomes the cluster's first observation."""
    _check_mode_fits(cluster)
    result = _probe(cluster)
    if not result.reachable:
        raise ValidationError({"__all__": f"Cannot connect to {cluster.name}: {result.problem}."})
    if result.missing:
        advice = " or connect it in observe mode" if cluster.is_nodeless else ""
        raise ValidationError(
            {
                "__all__": f"Connected to {cluster.name}, but the credentials {'; '.join(result.missing)}. "
                f"Grant these{advice}, then connect again."
            }
        )
    _apply_probe(cluster, result)
    try:
        return list_cluster(cluster)
    except ClusterUnavailable as error:
        raise ValidationError({"__all__": f"Connected to {cluster.name}, but cannot list it: {error}."})


def _verify_and_save(
    organization: Organization, cluster: Cluster, *, actor: Actor, action: str, metadata: dict[str, Any]
) -> Cluster:
    """Verify (nothing is stored when it fails), then save and audit in one transaction."""
    state = _verify_before_saving(cluster)
    with transaction.atomic():
        cluster.save()
        audit_record(organization, actor=actor, action=action, target=cluster, metadata=metadata)
        observation_record(cluster, state, force=True)
    cluster.refresh_from_db(fields=["node_count", "pod_count", "capacity"])
    return cluster


def _parse_kubeconfig(kubeconfig: str, context: str) -> tuple[str, Any]:
    try:
        return credentials(kubeconfig, context or None)
    except KubeconfigError as error:
        raise ValidationError({"kubeconfig": str(error)})


def cluster_import_eks(
    organization: Organization,
    *,
    actor: Actor,
    account: CloudAccount,
    region: str,
    eks_cluster_name: str,
    name: str = "",
    mode: str = ClusterMode.OBSERVE,
    labels: dict[str, Any] | None = None,
) -> Cluster:
    if region not in account.regions:
        raise ValidationError(
            {"region": f"{account.name} is not set up for {region}; add the region to the account first."}
        )
    if Cluster.objects.filter(
        organization=organization, cloud_account=account, region=region, eks_cluster_name=eks_cluster_name
    ).exists():
        raise ValidationError({"eks_cluster_name": f"{eks_cluster_name} in {region} is already connected."})
    try:
        info = account_provider(
            role_arn=account.role_arn,
            external_id=organization.external_id,
            region=region,
            session_name="nodeless-import",
        ).describe_cluster(eks_cluster_name)
    except RoleAccessError as error:
        raise ValidationError({"__all__": str(error)})
    except CloudUnavailableError as error:
        raise ValidationError({"__all__": f"Cannot reach EKS in {region}: {error.message}"})
    except CloudError as error:
        raise ValidationError(
            {"eks_cluster_name": f"EKS cannot describe {eks_cluster_name} in {region}: {error.message}"}
        )
    override = eks_endpoint_override(region, eks_cluster_name) or {}
    cluster = Cluster(
        organization=organization,
        name=_clean_name(organization, name or eks_cluster_name),
        connection=ClusterConnection.EKS,
        cloud_account=account,
        eks_cluster_name=eks_cluster_name,
        region=region,
        endpoint=override.get("endpoint", info.endpoint),
        ca_pem=override.get("ca_pem", info.ca_pem),
        mode=_clean_mode(mode),
        labels={"cloud": "aws", "region": region, **clean_labels(labels)},
    )
    return _verify_and_save(
        organization,
        cluster,
        actor=actor,
        action="cluster.connect",
        metadata={"connection": "eks", "region": region, "mode": cluster.mode},
    )


def cluster_connect_kubeconfig(
    organization: Organization,
    *,
    actor: Actor,
    name: str,
    kubeconfig: str,
    context: str = "",
    mode: str = ClusterMode.OBSERVE,
    labels: dict[str, Any] | None = None,
) -> Cluster:
    chosen, creds = _parse_kubeconfig(kubeconfig, context)
    cluster = Cluster(
        organization=organization,
        name=_clean_name(organization, name or chosen),
        connection=ClusterConnection.KUBECONFIG,
        endpoint=creds.server,
        ca_pem=creds.ca_pem,
        kubeconfig_ciphertext=encrypt_text(minimal_kubeconfig(chosen, creds)),
        kubeconfig_context=chosen,
        mode=_clean_mode(mode),
        labels=clean_labels(labels),
    )
    return _verify_and_save(
        organization,
        cluster,
        actor=actor,
        action="cluster.connect",
        metadata={"connection": "kubeconfig", "context": chosen, "mode": cluster.mode},
    )


def cluster_update(
    organization: Organization,
    cluster: Cluster,
    *,
    actor: Actor,
    name: str | None = None,
    labels: dict[str, Any] | None = None,
    mode: str | None = None,
) -> Cluster:
    changes: dict[str, Any] = {}
    if name is not None and name != cluster.name:
        cluster.name = changes["name"] = _clean_name(organization, name, exclude=cluster)
    if labels is not None:
        cluster.labels = changes["labels"] = clean_labels(labels)
    if mode is not None and mode != cluster.mode:
        cluster.mode = changes["mode"] = _clean_mode(mode)
        _check_mode_fits(cluster)
        if cluster.is_nodeless:
            # Nodeless mode binds pods and removes nodes: check we may before promising it.
            result = _probe(cluster)
            if not result.reachable or result.missing:
                problem = result.problem or "unknown"
                raise ValidationError({"mode": f"Nodeless mode needs more access: {problem}."})
            _apply_probe(cluster, result)
    with transaction.atomic():
        cluster.save()
        audit_record(
            organization,
            actor=actor,
            action="cluster.update",
            target=cluster,
            metadata={key: value for key, value in changes.items() if key != "labels"},
        )
    return cluster


@transaction.atomic
def cluster_delete(organization: Organization, cluster: Cluster, *, actor: Actor) -> None:
    """Forget the cluster. Its loops stop (they find no row); nothing in the customer's cluster or
    cloud account is touched."""
    audit_record(organization, actor=actor, action="cluster.delete", target=cluster)
    cluster.delete()


def cluster_check_health_by_id(cluster_id: str) -> Cluster | None:
    """The health task's step: None when the cluster was deleted since it was enqueued (its periodic
    work stops there)."""
    cluster = Cluster.objects.select_related("organization", "cloud_account").filter(pk=cluster_id).first()
    return None if cluster is None else cluster_check_health(cluster)


def cluster_check_health(cluster: Cluster) -> Cluster:
    """The health task's check: probe once and record health, version and permissions; then read the
    cluster (its one observation, kept current by this worker's watches) and keep what it holds, so
    the counts on every page come from that read. A cluster that answers the probe but cannot be
    listed is degraded, with why."""
    return _check_health(cluster, read_cluster)


def cluster_check_health_now(organization: Organization, cluster: Cluster) -> Cluster:
    """Someone asked from the cluster page: the same check, with a one-off listing (a web process
    keeps no watches)."""
    assert cluster.organization_id == organization.pk
    return _check_health(cluster, list_cluster)


def _check_health(cluster: Cluster, read: Callable[..., ClusterState]) -> Cluster:
    now = timezone.now()
    _apply_probe(cluster, _probe(cluster))
    if cluster.health != ClusterHealth.UNREACHABLE:
        try:
            observation_record(cluster, read(cluster, now=now), force=True)
        except ClusterUnavailable as error:
            observation_failed(cluster, str(error), now)
            cluster.health = ClusterHealth.DEGRADED
            cluster.health_problem = f"cannot list its pods and nodes: {error}"
    cluster.save(
        update_fields=[
            "health",
            "health_problem",
            "last_checked_at",
            "last_healthy_at",
            "kubernetes_version",
            "permissions",
        ]
    )
    return cluster


def cluster_replace_kubeconfig(
    organization: Organization, cluster: Cluster, *, actor: Actor, kubeconfig: str, context: str = ""
) -> Cluster:
    """Rotate a kubeconfig cluster's credentials (or its address): verified like a new connection,
    stored only if the cluster answers with them."""
    if cluster.connection != ClusterConnection.KUBECONFIG:
        raise ValidationError(
            {"kubeconfig": "Only clusters connected with a kubeconfig take a new kubeconfig."}
        )
    chosen, creds = _parse_kubeconfig(kubeconfig, context)
    cluster.endpoint, cluster.ca_pem, cluster.kubeconfig_context = creds.server, creds.ca_pem, chosen
    cluster.kubeconfig_ciphertext = encrypt_text(minimal_kubeconfig(chosen, creds))
    return _verify_and_save(
        organization, cluster, actor=actor, action="cluster.credentials_rotate", metadata={"context": chosen}
    )
