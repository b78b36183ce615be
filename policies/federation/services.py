"""Tenant services: every write a person (or an API token) makes to federation policies and
federated workloads, organization first, the actor as a keyword, audited. The federation loop's
own writes (placements, decisions, statuses) are system services in ``placements`` and ``status``.

Writes that change what should run enqueue one federation-loop pass for the organization once the
transaction commits; the loop does the rest (placing, applying, removing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from nodeless_saas.crypto import decrypt_text, encrypt_text
from policies.federation import selectors
from policies.federation.manifest_checks import MAX_REPLICAS
from policies.federation.manifests import ParsedManifest, parse_manifest, with_replicas
from policies.federation.spec import CleanedPolicy, clean_policy
from policies.models import FederationPolicy, Workload, WorkloadKind, WorkloadStatus
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization
from tenants.races import RaceLost, StaleVersion
from workers.enqueue import federation_pass_on_commit

_LOCATION = re.compile(
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?/[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?(/[A-Za-z0-9_.-]+)?$"
)
_UNSET: Any = object()
LockedT = TypeVar("LockedT", FederationPolicy, Workload)


class PolicyInUse(Exception):
    """A federation policy that workloads still use cannot be deleted."""


def enqueue_federation_pass(organization: Organization) -> None:
    """Run a federation-loop pass for the organization once the current transaction commits."""
    federation_pass_on_commit(str(organization.pk))


# --- federation policies -------------------------------------------------------------------------


def federation_policy_validate(
    organization: Organization, *, data: Mapping[str, Any], current: FederationPolicy | None = None
) -> CleanedPolicy:
    """Everything saving checks, nothing stored (the form's live validation uses it)."""
    cleaned = clean_policy(data, selectors.federation_members(organization))
    name = cleaned.fields["name"]
    if not name:
        raise ValidationError({"name": "Name the policy, e.g. web-prod."})
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    taken = FederationPolicy.objects.filter(organization=organization, name=name)
    if current is not None:
        taken = taken.exclude(pk=current.pk)
    if taken.exists():
        raise ValidationError({"name": f"A federation policy named {name} already exists."})
    return cleaned


def federation_policy_create(
    organization: Organization, *, actor: Actor, data: Mapping[str, Any]
) -> FederationPolicy:
    cleaned = federation_policy_validate(organization, data=data)
    with transaction.atomic():
        policy = FederationPolicy.objects.create(
            organization=organization, updated_by=actor.user, **cleaned.fields
        )
        audit_record(
            organization,
            actor=actor,
            action="federation_policy.create",
            target=policy,
            metadata={"strategy": cleaned.fields["spec"]["strategy"]},
        )
    return policy


def federation_policy_update(
    organization: Organization,
    *,
    policy: FederationPolicy,
    actor: Actor,
    data: Mapping[str, Any],
    sent_version: int | None = None,
) -> FederationPolicy:
    """Replace the policy's settings (a new version); its workloads are re-placed by the loop."""
    return federation_policy_patch(
        organization, policy=policy, actor=actor, merge=lambda _current: data, sent_version=sent_version
    )


def federation_policy_patch(
    organization: Organization,
    *,
    policy: FederationPolicy,
    actor: Actor,
    merge: Callable[[FederationPolicy], Mapping[str, Any]],
    sent_version: int | None = None,
) -> FederationPolicy:
    """Change the policy to what `merge` makes of its current settings, read under the row lock:
    two requests changing different fields both keep their change, each save is one new version,
    and a caller that sent the version it edited (`sent_version`) gets StaleVersion if another
    change came first."""
    with transaction.atomic():
        current = _locked(organization, FederationPolicy, policy.pk)
        if sent_version is not None and sent_version != current.version:
            raise StaleVersion(
                f"Federation policy {current.name}", sent=sent_version, current=current.version
            )
        cleaned = federation_policy_validate(organization, data=merge(current), current=current)
        for field, value in cleaned.fields.items():
            setattr(current, field, value)
        current.version += 1
        current.updated_at = timezone.now()
        current.updated_by = actor.user
        current.save()
        audit_record(
            organization,
            actor=actor,
            action="federation_policy.update",
            target=current,
            metadata={"version": current.version, "strategy": cleaned.fields["spec"]["strategy"]},
        )
        if current.workloads.exists():
            enqueue_federation_pass(organization)
    return current


def _locked(organization: Organization, model: type[LockedT], pk: Any) -> LockedT:
    """The row as it is now, locked until the transaction ends; gone meanwhile is a lost race."""
    found = model.objects.select_for_update().filter(organization=organization, pk=pk).first()
    if found is None:
        raise RaceLost(
            "It was deleted by another request while this one ran; reload to see the current state."
        )
    return found


@transaction.atomic
def federation_policy_delete(organization: Organization, *, policy: FederationPolicy, actor: Actor) -> None:
    in_use = policy.workloads.count()
    if in_use:
        raise PolicyInUse(
            f"{policy.name} is used by {in_use} workload{'s' if in_use != 1 else ''}; "
            "move or delete them first."
        )
    audit_record(organization, actor=actor, action="federation_policy.delete", target=policy)
    policy.delete()


# --- workloads -----------------------------------------------------------------------------------


def choose_policy(
    organization: Organization, *, parsed: ParsedManifest, requested: FederationPolicy | None
) -> FederationPolicy:
    """The policy named by the caller, if its workload selector selects the workload; otherwise
    the most specific policy that does."""
    if requested is not None:
        if not selectors.selects_workload(requested, parsed.namespace, parsed.labels):
            wanted = ", ".join(requested.workload_namespaces) or "any namespace"
            labels = (
                ", ".join(f"{k}={v}" for k, v in (requested.workload_labels or {}).items()) or "any labels"
            )
            raise ValidationError(
                {
                    "policy": f"{requested.name} selects workloads in {wanted} with {labels}; "
                    f"{parsed.kind}/{parsed.name} is in {parsed.namespace} with labels "
                    f"{', '.join(f'{k}={v}' for k, v in parsed.labels.items()) or 'none'}."
                }
            )
        return requested
    matching = selectors.policies_matching(organization, parsed.namespace, parsed.labels)
    if not matching:
        raise ValidationError(
            {
                "policy": f"No federation policy selects namespace {parsed.namespace} with these labels: "
                "name one, or create a policy whose workload selector matches."
            }
        )
    return matching[0]


def _egress(gb_per_hour: Any, location: str | None) -> tuple[Decimal, str]:
    try:
        amount = Decimal(str(gb_per_hour if gb_per_hour not in (None, "") else 0))
    except InvalidOperation:
        raise ValidationError({"egress_gb_per_hour": f"{gb_per_hour!r} is not a number of GB per hour."})
    if amount < 0 or amount >= 10_000_000:
        raise ValidationError({"egress_gb_per_hour": "Give the expected GB per hour, from 0 to 9,999,999."})
    location = (location or "").strip()
    if location and not _LOCATION.match(location):
        raise ValidationError(
            {"data_location": f"{location!r} must be cloud/region or cloud/region/zone, e.g. aws/us-east-1."}
        )
    if amount and not location:
        raise ValidationError(
            {
                "data_location": "Say where the traffic goes (cloud/region, e.g. aws/us-east-1) so egress can be priced."
            }
        )
    return amount.quantize(Decimal("0.001")), location


def _manifest_fields(parsed: ParsedManifest) -> dict[str, Any]:
    return {
        "labels": parsed.labels,
        "manifest": parsed.workload,
        "desired_replicas": parsed.replicas,
        "completions": parsed.completions,
        "cpu_millis": parsed.requests.cpu_millis,
        "memory_mib": parsed.requests.memory_mib,
        "gpus": parsed.requests.gpus,
    }


def _companion_fields(parsed: ParsedManifest) -> dict[str, Any]:
    return {
        "companion_summary": parsed.companion_summary,
        "objects_ciphertext": encrypt_text(json.dumps(list(parsed.companions))) if parsed.companions else "",
    }


def workload_companions(workload: Workload) -> list[dict[str, Any]]:
    """The ConfigMaps, Secrets and Services submitted with the workload (decrypted: never show them)."""
    if not workload.objects_ciphertext:
        return []
    companions: list[dict[str, Any]] = json.loads(decrypt_text(workload.objects_ciphertext))
    return companions


def workload_submit(
    organization: Organization,
    *,
    actor: Actor,
    manifest: Any,
    policy: FederationPolicy | None = None,
    egress_gb_per_hour: Any = None,
    data_location: str = "",
) -> Workload:
    """Validate a manifest and store it as a workload to place; the loop places it."""
    parsed = parse_manifest(manifest)
    chosen = choose_policy(organization, parsed=parsed, requested=policy)
    egress, location = _egress(egress_gb_per_hour, data_location)
    try:
        with transaction.atomic():
            workload = Workload.objects.create(
                organization=organization,
                policy=chosen,
                name=parsed.name,
                namespace=parsed.namespace,
                kind=parsed.kind,
                egress_gb_per_hour=egress,
                data_location=location,
                status=WorkloadStatus.PENDING,
                status_message="Waiting for the federation loop to place it.",
                created_by=actor.user,
                **_manifest_fields(parsed),
                **_companion_fields(parsed),
            )
            audit_record(
                organization,
                actor=actor,
                action="workload.submit",
                target=workload,
                metadata={"policy": chosen.name, "replicas": workload.desired_replicas},
            )
            enqueue_federation_pass(organization)
    except IntegrityError:
        # The unique (organization, namespace, name, kind) refused it: say which workload is there.
        # Asking first would cost every submission a statement, and still race with another one.
        _refuse_existing(organization, parsed)
        raise
    return workload


def _refuse_existing(organization: Organization, parsed: ParsedManifest) -> None:
    """ValidationError naming the workload a submission collides with, if there is one."""
    existing = Workload.objects.filter(
        organization=organization, namespace=parsed.namespace, name=parsed.name, kind=parsed.kind
    ).first()
    if existing is None:
        return
    if existing.deleted_at is not None:
        raise ValidationError(
            {
                "manifest": f"{existing} is still being removed from its clusters; submit it again once it is gone."
            }
        )
    raise ValidationError(
        {
            "manifest": f"{existing} already exists (id {existing.pk}); update it instead of submitting it again."
        }
    )


def _bump(workload: Workload) -> None:
    workload.generation += 1
    workload.updated_at = timezone.now()
    if workload.status not in (WorkloadStatus.UNSCHEDULABLE, WorkloadStatus.DELETING):
        workload.status_message = f"Generation {workload.generation} waiting to roll out."


def workload_update(
    organization: Organization,
    *,
    workload: Workload,
    actor: Actor,
    manifest: Any = None,
    replicas: int | None = None,
    policy: FederationPolicy | None = _UNSET,
    egress_gb_per_hour: Any = _UNSET,
    data_location: Any = _UNSET,
    sent_generation: int | None = None,
    replace_companions: bool = False,
) -> Workload:
    """Change what runs: a new manifest and/or replica count, policy or egress. Each change is a
    new generation, rolled out to every placement by the loop. A manifest holding only the
    Deployment/Job keeps the ConfigMaps, Secrets and Services submitted before, unless
    ``replace_companions`` (the Kubernetes endpoint sends the whole set each time, none included).

    The changes apply to the workload as it is under its row lock, so concurrent changes of
    different fields all land and every generation is used once; a caller that sent the
    generation it edited (`sent_generation`) gets StaleVersion if another change came first."""
    if replicas is not None and (isinstance(replicas, bool) or not 0 <= replicas <= MAX_REPLICAS):
        raise ValidationError({"replicas": f"Give a whole number from 0 to {MAX_REPLICAS}."})
    parsed = parse_manifest(manifest) if manifest is not None else None
    with transaction.atomic():
        workload = _locked(organization, Workload, workload.pk)
        if sent_generation is not None and sent_generation != workload.generation:
            raise StaleVersion(f"Workload {workload}", sent=sent_generation, current=workload.generation)
        if workload.deleted_at is not None:
            raise ValidationError({"__all__": f"{workload} is being deleted; it cannot change any more."})
        changes = _apply_workload_changes(
            organization,
            workload,
            parsed=parsed,
            replicas=replicas,
            policy=policy,
            egress_gb_per_hour=egress_gb_per_hour,
            data_location=data_location,
            replace_companions=replace_companions,
        )
        if not changes:
            return workload
        _bump(workload)
        workload.save()
        audit_record(
            organization,
            actor=actor,
            action="workload.scale" if set(changes) == {"replicas"} else "workload.update",
            target=workload,
            metadata={**changes, "generation": workload.generation},
        )
        enqueue_federation_pass(organization)
    return workload


def _apply_workload_changes(
    organization: Organization,
    workload: Workload,
    *,
    parsed: ParsedManifest | None,
    replicas: int | None,
    policy: FederationPolicy | None,
    egress_gb_per_hour: Any,
    data_location: Any,
    replace_companions: bool = False,
) -> dict[str, Any]:
    """Set the requested changes on the (locked) workload; what changed, for the audit."""
    changes: dict[str, Any] = {}
    if parsed is not None:
        if (parsed.kind, parsed.namespace, parsed.name) != (workload.kind, workload.namespace, workload.name):
            raise ValidationError(
                {
                    "manifest": f"This workload is {workload}; the manifest describes {parsed.kind.lower()}/"
                    f"{parsed.namespace}/{parsed.name}. Kind, namespace and name cannot change: submit a new workload."
                }
            )
        for field, value in _manifest_fields(parsed).items():
            setattr(workload, field, value)
        if parsed.companions or replace_companions:
            for field, value in _companion_fields(parsed).items():
                setattr(workload, field, value)
        changes["manifest"] = True
    if policy is not _UNSET:
        chosen = choose_policy(organization, parsed=parsed or _stored_manifest(workload), requested=policy)
        if chosen != workload.policy:
            workload.policy = chosen
            changes["policy"] = chosen.name
    if replicas is not None and workload.kind == WorkloadKind.DAEMONSET:
        raise ValidationError(
            {
                "replicas": "A DaemonSet has no replica count: it runs one pod per node in each of its clusters."
            }
        )
    if replicas is not None:
        workload.manifest = with_replicas(workload.manifest, replicas)
        workload.desired_replicas = replicas
        changes["replicas"] = replicas
    if egress_gb_per_hour is not _UNSET or data_location is not _UNSET:
        egress = _egress(
            workload.egress_gb_per_hour if egress_gb_per_hour is _UNSET else egress_gb_per_hour,
            workload.data_location if data_location is _UNSET else data_location,
        )
        if egress != (workload.egress_gb_per_hour, workload.data_location):
            workload.egress_gb_per_hour, workload.data_location = egress
            changes["egress"] = f"{egress[0]} GB/h to {egress[1] or 'nowhere'}"
    return changes


def _stored_manifest(workload: Workload) -> ParsedManifest:
    return parse_manifest([workload.manifest])


def workload_scale(
    organization: Organization, *, workload: Workload, actor: Actor, replicas: int
) -> Workload:
    return workload_update(organization, workload=workload, actor=actor, replicas=replicas)


def workload_delete(organization: Organization, *, workload: Workload, actor: Actor) -> Workload:
    """Ask for removal: the loop deletes it from every member cluster, then forgets it."""
    if workload.deleted_at is not None:
        return workload
    with transaction.atomic():
        workload.deleted_at = timezone.now()
        workload.status = WorkloadStatus.DELETING
        workload.status_message = "Being removed from every cluster it runs in."
        workload.save(update_fields=["deleted_at", "status", "status_message"])
        audit_record(organization, actor=actor, action="workload.delete", target=workload)
        enqueue_federation_pass(organization)
    return workload
