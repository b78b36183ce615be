"""Workloads sent to the endpoint (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs) are
federated workloads: the same ``Workload`` rows the pages and the REST API show, placed and applied
by the federation loop. This module links objects → workloads, with the companions they use
(``companions``); ``status_back`` gives the objects their members' status after each pass.

- A workload's policy is the one named by the ``policy.nodeless.io/name`` annotation, else the
  most specific policy whose selector (namespaces, labels) selects it, as for the REST API.
- Companions follow the workloads that use them (``companions``). A companion's change rolls out
  to every workload using it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from policies.federation import services
from policies.federation.manifests import WORKLOAD_KINDS, parse_manifest
from policies.kubeapi import store
from policies.kubeapi.companions import COMPANION_GROUPS, companions_for
from policies.models import FederationPolicy, KubeObject, Workload
from tenants.actors import Actor
from tenants.models import Organization

Json = dict[str, Any]
POLICY_ANNOTATION = "policy.nodeless.io/name"
COMPANION_KINDS = tuple(COMPANION_GROUPS)


@functools.cache
def _statements() -> tuple[str, str]:
    """The policy a workload object names with its workload's id (``linked_workload_id``), and
    its workload alone: plain statements from the models' tables and columns (every workload POST
    reads them; built by the ORM, the same reads cost several times the CPU)."""
    column, table = store.column, store.table
    same_workload = " AND ".join(
        [
            *(f"{column(Workload, field)} = %s" for field in ("organization", "namespace", "name", "kind")),
            f"{column(Workload, 'deleted_at')} IS NULL",
        ]
    )
    policy_and_workload = (
        f"SELECT p.*, (SELECT {column(Workload, 'id')} FROM {table(Workload)} WHERE {same_workload}) "
        f"AS linked_workload_id FROM {table(FederationPolicy)} p "
        f"WHERE p.{column(FederationPolicy, 'organization')} = %s "
        f"AND p.{column(FederationPolicy, 'name')} = %s"
    )
    workload_alone = f"SELECT * FROM {table(Workload)} WHERE {same_workload}"
    return policy_and_workload, workload_alone


def _policy_and_workload(
    organization: Organization, kobj: KubeObject, obj: Mapping[str, Any]
) -> tuple[FederationPolicy | None, Workload | None]:
    """The policy the object names (None: it names none; ValidationError: no such policy), and
    its workload: the one it is linked to, else the live workload of its kind, namespace and name
    (one the REST API or the pages made), else None. One statement where there is no workload."""
    name = ((obj.get("metadata") or {}).get("annotations") or {}).get(POLICY_ANNOTATION)
    key = store.key(organization)
    identity = [key, kobj.namespace, kobj.name, kobj.kind]
    if not name:
        found = kobj.workload or next(iter(Workload.objects.raw(_statements()[1], identity)), None)
        return None, found
    named = FederationPolicy.objects.raw(_statements()[0], [*identity, key, name])
    policy = next(iter(named), None)
    if policy is None:
        raise ValidationError(
            {"manifest": [f"metadata.annotations[{POLICY_ANNOTATION}]: no FederationPolicy named {name!r}"]}
        )
    linked = getattr(policy, "linked_workload_id", None)
    if kobj.workload is not None or linked is None:
        return policy, kobj.workload
    return policy, Workload.objects.get(pk=linked)


def workload_sync(organization: Organization, *, kobj: KubeObject, obj: Json, actor: Actor) -> None:
    """Create or update the federated workload of a workload object (raises ValidationError), and
    link the object to it (``workload``, ``workload_generation``): the caller stores the object."""
    manifest = [obj, *companions_for(organization, kobj.namespace, obj)]
    requested, workload = _policy_and_workload(organization, kobj, obj)
    if workload is None:
        kobj.workload = services.workload_submit(
            organization, actor=actor, manifest=manifest, policy=requested
        )
        _linked(kobj)
        return
    if kobj.workload_id is None:
        kobj.workload = workload
    parsed = parse_manifest(manifest)
    unchanged = (
        parsed.workload == workload.manifest
        and list(parsed.companions) == services.workload_companions(workload)
        and (requested is None or requested.pk == workload.policy_id)
    )
    if not unchanged and requested is None:  # the workload keeps its policy (pages may move it)
        kobj.workload = services.workload_update(
            organization, workload=workload, actor=actor, manifest=manifest, replace_companions=True
        )
    elif not unchanged:
        kobj.workload = services.workload_update(
            organization,
            workload=workload,
            actor=actor,
            manifest=manifest,
            replace_companions=True,
            policy=requested,
        )
    _linked(kobj)


def _linked(kobj: KubeObject) -> None:
    """The object now says what its workload's generation runs (the loop copies back only later
    changes, made on the pages or through the REST API)."""
    assert kobj.workload is not None
    kobj.workload_generation = kobj.workload.generation


def pass_wanted(organization: Organization) -> None:
    """A pass has work on the endpoint's objects (a terminating namespace's content to remove)."""
    services.enqueue_federation_pass(organization)


def companions_changed(organization: Organization, *, namespace: str, actor: Actor) -> None:
    """A companion changed: workloads of the namespace take the new set, and a pass applies it
    where it goes stand-alone (``standalone``)."""
    services.enqueue_federation_pass(organization)
    linked = KubeObject.objects.filter(
        organization=organization,
        namespace=namespace,
        kind__in=list(WORKLOAD_KINDS),
        workload__isnull=False,
        deleted_at__isnull=True,
    ).select_related("workload")
    for kobj in linked:
        workload_sync(organization, kobj=kobj, obj=store.render(kobj), actor=actor)
        kobj.save(update_fields=["workload", "workload_generation"])


def workload_delete(organization: Organization, *, kobj: KubeObject, actor: Actor) -> bool:
    """Ask the loop to remove the workload from its members; False when there is none to remove."""
    if kobj.workload is None:
        return False
    services.workload_delete(organization, workload=kobj.workload, actor=actor)
    return True
