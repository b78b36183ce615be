"""The onboarding stack's outputs, stored on the cloud account: the product reads the interruption
queue (and, for launch templates, the node role and instance profile) from them instead of guessing
names. The stack names its queue `nodeless-interruptions-<stack name>`; the product used to look up
`nodeless-<cluster>-interruptions`, which no stack creates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from clusters.models import CloudAccount
from clusters.onboarding.interruption_stack import stack_outputs
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization

KNOWN_OUTPUTS = tuple(stack_outputs())
_QUEUE_ARN = re.compile(r"^arn:aws(?:-us-gov|-cn)?:sqs:([a-z0-9-]+):(\d{12}):([\w-]{1,80})$")
_QUEUE_URL = re.compile(r"^https?://[^/\s]+/(\d{12})/([\w-]{1,80})$")


def _clean(account: CloudAccount, outputs: Mapping[str, Any]) -> dict[str, str]:
    unknown = sorted(set(outputs) - set(KNOWN_OUTPUTS))
    if unknown:
        raise ValidationError(
            {
                "stack_outputs": f"Unknown output {unknown[0]!r}; the stack's outputs are {', '.join(KNOWN_OUTPUTS)}."
            }
        )
    clean = {key: str(value).strip() for key, value in outputs.items() if str(value or "").strip()}
    url, arn = clean.get("InterruptionQueueUrl"), clean.get("InterruptionQueueArn")
    url_match = _QUEUE_URL.match(url) if url else None
    arn_match = _QUEUE_ARN.match(arn) if arn else None
    if url and not url_match:
        raise ValidationError(
            {"stack_outputs": f"{url} is not an SQS queue URL (…/<account id>/<queue name>)."}
        )
    if arn and not arn_match:
        raise ValidationError({"stack_outputs": f"{arn} is not an SQS queue ARN (arn:aws:sqs:<region>:…)."})
    for match in (m for m in (url_match, arn_match) if m is not None):
        owner, name = match.groups()[-2:]
        if owner != account.account_id:
            raise ValidationError(
                {
                    "stack_outputs": f"The queue {name} is in account {owner}, not this account ({account.account_id})."
                }
            )
        if clean.get("InterruptionQueueName", name) != name:
            raise ValidationError(
                {"stack_outputs": "InterruptionQueueName, Url and Arn name different queues."}
            )
    return clean


@transaction.atomic
def cloud_account_stack_outputs_set(
    organization: Organization, *, account: CloudAccount, actor: Actor, outputs: Mapping[str, Any]
) -> CloudAccount:
    """Store the outputs of the account's onboarding stack (as its Outputs tab shows them)."""
    account.stack_outputs = _clean(account, outputs)
    account.save(update_fields=["stack_outputs"])
    audit_record(
        organization,
        actor=actor,
        action="cloud_account.stack_outputs",
        target=account,
        metadata={"outputs": sorted(account.stack_outputs)},
    )
    return account
