from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction

from clusters.cloud.errors import CloudError, CloudUnavailableError
from clusters.kube.access import (
    eks_endpoint_override,
)
from clusters.kube.kubeconfig import KubeconfigError, credentials, minimal_kubeconfig
from clusters.labels import clean_labels, parse_label_text
from clusters.models import (
    CloudAccount,
    Cluster,
    ClusterConnection,
    ClusterHealth,
    ClusterMode,
    ClusterStatus,
)
from clusters.onboarding.aws import RoleAccessError, account_provider
from clusters.services.checks import CHECK_FIELDS, check_asked
from nodeless_saas.crypto import encrypt_text
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization
from workers.enqueue import node_class_release_on_commit

T = TypeVar("T")


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


def _check_mode_fits(cluster: Cluster) -> None:
    if cluster.is_nodeless and cluster.cloud_account is None:
        raise ValidationError(
            {
                "mode": "Nodeless mode launches compute through a cloud account: connect the cluster through AWS "
                "(EKS) to use it. Clusters connected with a kubeconfig run in observe mode."
            }
        )


def _save_and_check(
    organization: Organization,
    cluster: Cluster,
    *,
    actor: Actor,
    action: str,
    metadata: dict[str, Any],
    update_fields: tuple[str, ...] | None = None,
) -> Cluster:
    """Store the cluster as connecting and ask a worker to verify it (`clusters.services.checks`):
    nothing here calls the cluster. It is in service once the worker could reach it, may do what its
    mode needs, and could list it; until then the loops leave it alone."""
    _check_mode_fits(cluster)
    cluster.status, cluster.health, cluster.health_problem = (
        ClusterStatus.CONNECTING,
        ClusterHealth.UNKNOWN,
        "",
    )
    with transaction.atomic():
        check_asked(cluster)
        if update_fields is None:
            cluster.save()
        else:  # a cluster deleted meanwhile makes this fail, which answers 409 (tenants.races)
            cluster.save(update_fields=(*update_fields, "health", "health_problem", *CHECK_FIELDS))
        audit_record(organization, actor=actor, action=action, target=cluster, metadata=metadata)
    return cluster


class _Problems:
    """Every problem of a connect request, gathered so that a form shows them all in one submit
    instead of one per try (a bad kubeconfig, then the labels, then the name)."""

    def __init__(self) -> None:
        self.errors: dict[str, list[ValidationError]] = {}

    def check(self, check: Callable[..., T], *args: Any) -> T | None:
        try:
            return check(*args)
        except ValidationError as error:
            error.update_error_dict(self.errors)
            return None

    def raise_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def _labels(labels: dict[str, Any] | str | None) -> dict[str, str]:
    """Labels as the API gives them (a mapping) or as a form does (``env=prod, team=payments``)."""
    return parse_label_text(labels) if isinstance(labels, str) else clean_labels(labels)


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
    labels: dict[str, Any] | str | None = None,
) -> Cluster:
    # What can be checked without asking EKS is checked together, so the form shows it all at once.
    problems = _Problems()
    cleaned_name = problems.check(_clean_name, organization, name or eks_cluster_name)
    cleaned_mode = problems.check(_clean_mode, mode)
    cleaned_labels = problems.check(_labels, labels)
    problems.raise_any()
    assert cleaned_name is not None and cleaned_mode is not None
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
        name=cleaned_name,
        connection=ClusterConnection.EKS,
        cloud_account=account,
        eks_cluster_name=eks_cluster_name,
        region=region,
        endpoint=override.get("endpoint", info.endpoint),
        ca_pem=override.get("ca_pem", info.ca_pem),
        mode=cleaned_mode,
        labels={"cloud": "aws", "region": region, **(cleaned_labels or {})},
    )
    return _save_and_check(
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
    labels: dict[str, Any] | str | None = None,
) -> Cluster:
    problems = _Problems()
    parsed = problems.check(_parse_kubeconfig, kubeconfig, context)
    chosen, creds = parsed if parsed is not None else ("", None)
    # Without a name the context names the cluster: with no usable kubeconfig there is none to miss.
    cleaned_name = problems.check(_clean_name, organization, name or chosen) if name or parsed else None
    cleaned_mode = problems.check(_clean_mode, mode)
    cleaned_labels = problems.check(_labels, labels)
    problems.raise_any()
    assert creds is not None and cleaned_name is not None and cleaned_mode is not None
    cluster = Cluster(
        organization=organization,
        name=cleaned_name,
        connection=ClusterConnection.KUBECONFIG,
        endpoint=creds.server,
        ca_pem=creds.ca_pem,
        kubeconfig_ciphertext=encrypt_text(minimal_kubeconfig(chosen, creds)),
        kubeconfig_context=chosen,
        mode=cleaned_mode,
        labels=cleaned_labels or {},
    )
    return _save_and_check(
        organization,
        cluster,
        actor=actor,
        action="cluster.connect",
        metadata={"connection": "kubeconfig", "context": chosen, "mode": cluster.mode},
    )


def cluster_update(
    organization: Organization,
    *,
    cluster: Cluster,
    actor: Actor,
    name: str | None = None,
    labels: dict[str, Any] | str | None = None,
    mode: str | None = None,
) -> Cluster:
    changes: dict[str, Any] = {}
    problems = _Problems()  # the name's and the labels' problems together, as the form shows them
    if name is not None and name != cluster.name:
        changes["name"] = problems.check(lambda: _clean_name(organization, name, exclude=cluster))
    if labels is not None:
        changes["labels"] = problems.check(_labels, labels)
    problems.raise_any()
    cluster.name = changes.get("name", cluster.name)
    cluster.labels = changes.get("labels", cluster.labels)
    recheck = False
    was_nodeless = cluster.is_nodeless
    if mode is not None and mode != cluster.mode:
        cluster.mode = changes["mode"] = _clean_mode(mode)
        _check_mode_fits(cluster)
        # Nodeless mode binds pods and removes nodes: the cluster is out of service until a worker has
        # checked we may (it fails, saying what to grant, if not). A cluster that failed to connect is
        # tried again in its new mode.
        recheck = cluster.is_nodeless or cluster.status == ClusterStatus.FAILED
    with transaction.atomic():
        if recheck:
            cluster.status = ClusterStatus.CONNECTING
            check_asked(cluster)
        # Only what this request changes: a worker may be recording a check's outcome on the same row.
        cluster.save(update_fields=("name", "labels", "mode", *(CHECK_FIELDS if recheck else ())))
        if was_nodeless and not cluster.is_nodeless:
            _release_launch_templates(cluster)
        audit_record(
            organization,
            actor=actor,
            action="cluster.update",
            target=cluster,
            metadata={key: value for key, value in changes.items() if key != "labels"},
        )
    return cluster


@transaction.atomic
def cluster_delete(organization: Organization, *, cluster: Cluster, actor: Actor) -> None:
    """Forget the cluster. Its loops stop (they find no row); nothing in the customer's cluster or
    cloud account is touched."""
    audit_record(organization, actor=actor, action="cluster.delete", target=cluster)
    _release_launch_templates(cluster)
    cluster.delete()


def _release_launch_templates(cluster: Cluster) -> None:
    """The launch templates Nodeless wrote for the cluster are deleted by a worker (after commit)."""
    if cluster.connection == ClusterConnection.EKS and cluster.cloud_account_id:
        node_class_release_on_commit(
            account_id=str(cluster.cloud_account_id), cluster_id=str(cluster.pk), region=cluster.region
        )


def cluster_replace_kubeconfig(
    organization: Organization, *, cluster: Cluster, actor: Actor, kubeconfig: str, context: str = ""
) -> Cluster:
    """Rotate a kubeconfig cluster's credentials (or its address): verified like a new connection,
    by a worker; the cluster is out of service until they are."""
    if cluster.connection != ClusterConnection.KUBECONFIG:
        raise ValidationError(
            {"kubeconfig": "Only clusters connected with a kubeconfig take a new kubeconfig."}
        )
    chosen, creds = _parse_kubeconfig(kubeconfig, context)
    cluster.endpoint, cluster.ca_pem, cluster.kubeconfig_context = creds.server, creds.ca_pem, chosen
    cluster.kubeconfig_ciphertext = encrypt_text(minimal_kubeconfig(chosen, creds))
    return _save_and_check(
        organization,
        cluster,
        actor=actor,
        action="cluster.credentials_rotate",
        metadata={"context": chosen},
        update_fields=("endpoint", "ca_pem", "kubeconfig_context", "kubeconfig_ciphertext"),
    )
