from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clusters.models import CloudAccount, CloudProvider, VerificationStatus
from clusters.onboarding.aws import (
    EksClusterInfo,
    RoleAccessError,
    account_of,
    list_eks_clusters,
    verify_role,
)
from clusters.pricing.catalogs import priced_aws_regions
from clusters.regions import AWS_REGIONS
from clusters.services.stack_outputs import clean_stack_name, cloud_account_stack_read
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization

DISCOUNT_FIELDS = ("on_demand_discount_pct", "spot_discount_pct", "serverless_discount_pct")


def _clean_regions(regions: list[str]) -> list[str]:
    regions = [region.strip() for region in regions if region and region.strip()]
    if not regions:
        raise ValidationError({"regions": "Choose at least one region, e.g. us-east-1."})
    unknown = [region for region in regions if region not in AWS_REGIONS]
    if unknown:
        raise ValidationError({"regions": f"Unknown AWS region {unknown[0]!r}."})
    priced = priced_aws_regions()
    unpriced = [region for region in regions if region not in priced]
    if unpriced:
        raise ValidationError(
            {
                "regions": f"Nodeless has no prices for {', '.join(unpriced)} yet (no price list and zone "
                "offerings for it), so it could neither launch nor meter there. Choose among "
                f"{', '.join(priced)}."
            }
        )
    return list(dict.fromkeys(regions))


def _clean_discounts(discounts: dict[str, Any]) -> dict[str, Decimal]:
    cleaned: dict[str, Decimal] = {}
    for field in DISCOUNT_FIELDS:
        raw = discounts.get(field, 0)
        try:
            value = Decimal(str(raw if raw not in (None, "") else 0))
        except InvalidOperation:
            raise ValidationError({field: "Enter a percentage between 0 and 100."})
        if not Decimal(0) <= value < Decimal(100):
            raise ValidationError({field: "A discount is a percentage from 0 up to (not including) 100."})
        cleaned[field] = value
    return cleaned


def _verification_error(missing: list[str]) -> ValidationError:
    names = ", ".join(missing)
    return ValidationError(
        {
            "role_arn": f"The role is missing permissions Nodeless needs: {names}. Update the stack with the latest "
            "template (it grants exactly these) and verify again."
        }
    )


def cloud_account_connect(
    organization: Organization,
    *,
    actor: Actor,
    name: str,
    role_arn: str,
    regions: list[str],
    discounts: dict[str, Any] | None = None,
    stack_name: str = "",
) -> CloudAccount:
    """Verify the role (AssumeRole with our external ID, then a dry run of every call we make) and only
    then store the account: a failing role leaves nothing behind."""
    role_arn = role_arn.strip()
    try:
        account_id = account_of(role_arn)
    except RoleAccessError as error:
        raise ValidationError({"role_arn": str(error)})
    clean_regions = _clean_regions(regions)
    clean_discounts = _clean_discounts(discounts or {})
    if CloudAccount.objects.filter(organization=organization, role_arn=role_arn).exists():
        raise ValidationError({"role_arn": "This role is already connected to this organization."})
    try:
        verification = verify_role(
            role_arn=role_arn, external_id=organization.external_id, regions=clean_regions
        )
    except RoleAccessError as error:
        raise ValidationError({"role_arn": str(error)})
    if verification.missing:
        raise _verification_error(verification.missing)
    with transaction.atomic():
        account = CloudAccount.objects.create(
            organization=organization,
            provider=CloudProvider.AWS,
            name=(name or "").strip() or f"AWS {account_id}",
            account_id=account_id,
            role_arn=role_arn,
            regions=clean_regions,
            status=VerificationStatus.VERIFIED,
            permissions={check.action: check.allowed for check in verification.checks},
            last_verified_at=timezone.now(),
            **clean_discounts,
        )
        account.stack_name = clean_stack_name(account, stack=stack_name)
        account.save(update_fields=["stack_name"])
        audit_record(
            organization,
            actor=actor,
            action="cloud_account.connect",
            target=account,
            metadata={"role_arn": role_arn, "regions": clean_regions},
        )
    return cloud_account_stack_read(account)


def cloud_account_verify(organization: Organization, *, account: CloudAccount, actor: Actor) -> CloudAccount:
    """Re-run the verification and record the outcome (status, missing permissions, error)."""
    try:
        verification = verify_role(
            role_arn=account.role_arn, external_id=organization.external_id, regions=account.regions
        )
    except RoleAccessError as error:
        account.status, account.last_error = VerificationStatus.FAILED, str(error)
    else:
        account.permissions = {check.action: check.allowed for check in verification.checks}
        if verification.missing:
            account.status = VerificationStatus.FAILED
            account.last_error = str(_verification_error(verification.missing).message_dict["role_arn"][0])
        else:
            account.status, account.last_error = VerificationStatus.VERIFIED, ""
        # The role answers: read what its stack created (the node role, the interruption queue).
        cloud_account_stack_read(account)
    account.last_verified_at = timezone.now()
    account.save(update_fields=["status", "last_error", "permissions", "last_verified_at"])
    audit_record(
        organization,
        actor=actor,
        action="cloud_account.verify",
        target=account,
        metadata={"status": account.status},
    )
    return account


@transaction.atomic
def cloud_account_update(
    organization: Organization,
    *,
    account: CloudAccount,
    actor: Actor,
    name: str | None = None,
    regions: list[str] | None = None,
    discounts: dict[str, Any] | None = None,
    stack_name: str | None = None,
) -> CloudAccount:
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": "Give the account a name."})
        account.name = name.strip()
    if regions is not None:
        account.regions = _clean_regions(regions)
    if discounts is not None:
        for field, value in _clean_discounts(
            {**{f: getattr(account, f) for f in DISCOUNT_FIELDS}, **discounts}
        ).items():
            setattr(account, field, value)
    if stack_name is not None:
        account.stack_name = clean_stack_name(account, stack=stack_name)
    account.save()
    audit_record(organization, actor=actor, action="cloud_account.update", target=account)
    return account


@transaction.atomic
def cloud_account_delete(organization: Organization, *, account: CloudAccount, actor: Actor) -> None:
    in_use = list(account.clusters.values_list("name", flat=True))
    if in_use:
        raise ValidationError(
            f"Clusters {', '.join(in_use)} are connected through this account; remove them first."
        )
    audit_record(organization, actor=actor, action="cloud_account.delete", target=account)
    account.delete()


def eks_clusters_discover(organization: Organization, *, account: CloudAccount) -> list[EksClusterInfo]:
    try:
        return list_eks_clusters(
            role_arn=account.role_arn, external_id=organization.external_id, regions=account.regions
        )
    except RoleAccessError as error:
        raise ValidationError(str(error))
