"""Presentation filters shared by the pages: relative times, choice labels, Kubernetes
quantities and form error summaries, so no page shows a code name or a raw quantity."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms, template
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import models
from django.forms.utils import pretty_name
from django.utils import timezone
from django.utils.timesince import timesince

from billing.selectors.reports import CAPACITY_LABELS
from clusters.models import ClusterMode
from engines.kube.quantity import QuantityError, parse_quantity
from engines.metering import UNPRICED
from policies.models.provisioning import CapacityTypeChoice, PackingChoice

register = template.Library()

GIB = Decimal(1024**3)


def _short_label(choices: type[models.TextChoices], value: object) -> str:
    """A choice's label without its parenthesised gloss ("Serverless (Fargate-like)" → "Serverless"),
    which fits forms but not a badge or a one-line summary; unknown values are shown as they are."""
    try:
        label = str(choices(str(value)).label)
    except ValueError:
        return "" if value is None else str(value)
    return label.split(" (", 1)[0]


@register.filter
def ago(value: datetime | None, now: datetime | None = None) -> str:
    """``timesince`` + " ago", except under a minute, where timesince says "0 minutes"."""
    if value is None:
        return ""
    now = now or timezone.now()
    if now - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, now)} ago"


@register.filter
def capacity_type(value: object) -> str:
    # Policies never choose unpriced capacity, but the pages that show nodes meet it: every page
    # names it as the reports do.
    if value == UNPRICED:
        return CAPACITY_LABELS[UNPRICED]
    return _short_label(CapacityTypeChoice, value)


@register.filter
def capacity_types(values: Iterable[object] | None) -> str:
    return ", ".join(capacity_type(value) for value in values or ())


@register.filter
def packing(value: object) -> str:
    return _short_label(PackingChoice, value)


@register.filter
def cluster_mode(value: object) -> str:
    return _short_label(ClusterMode, value)


def _quantity(value: str | None) -> Decimal | None:
    if not value:
        return None
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def _trimmed(number: Decimal, places: int) -> str:
    text = f"{number:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def cores(value: str | None) -> str:
    """A CPU quantity ("64200m") in cores ("64.2")."""
    number = _quantity(value)
    return "—" if number is None else _trimmed(number, 2)


@register.filter
def gib(value: str | None) -> str:
    """A memory quantity ("263168Mi") in GiB ("257")."""
    number = _quantity(value)
    return "—" if number is None else _trimmed(number / GIB, 1)


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        return float(value)
    except ValueError:
        return None


@register.filter
def whole(value: object) -> str:
    """A count as a whole number with thousands separators ("4,703"): the cluster probe stores
    counts as floats, and "4703.0 pods" reads as a measurement."""
    number = _float(value)
    return "—" if number is None else f"{round(number):,}"


@register.filter
def tenths(value: object) -> str:
    """A resource amount (cores, GiB) to one decimal with thousands separators, so a column of them
    lines up ("1,271.6", "550.1") instead of mixing one, two and three decimals."""
    number = _float(value)
    return "—" if number is None else f"{number:,.1f}"


@register.filter
def error_summary(form: forms.BaseForm) -> list[tuple[str, list[str]]]:
    """The form's errors as (field label, messages), non-field errors first with an empty label.

    Messages repeat when two checks report the same problem on one field (the selector parser and the
    engine both do): each is listed once.
    """
    summary: list[tuple[str, list[str]]] = []
    for name, errors in form.errors.items():
        unique = list(dict.fromkeys(str(error) for error in errors))
        if name == NON_FIELD_ERRORS:
            summary.insert(0, ("", unique))
        elif name in form.fields:
            summary.append((str(form[name].label), unique))
        else:
            summary.append((pretty_name(name), unique))
    return summary


@register.filter
def unique_errors(errors: Any) -> list[str]:
    return list(dict.fromkeys(str(error) for error in errors or ()))


_RESERVED_TAINT = re.compile(
    r"(, )?(\d+) node\(s\) had untolerated taint \{nodeless\.io/reserved-for: [^}]*\}"
)


@register.filter
def scheduler_reason(message: str | None) -> str:
    """The scheduler's "0/69 nodes are available: …" with its one clause per reserved node (one per
    pod on a busy nodeless cluster: thousands of characters) folded into a single count."""
    if not message:
        return ""
    matches = list(_RESERVED_TAINT.finditer(message))
    if not matches:
        return message
    reserved = sum(int(match.group(2)) for match in matches)
    first = matches[0]
    clause = f"{first.group(1) or ''}{reserved} node(s) reserved for other pods"
    return message[: first.start()] + clause + _RESERVED_TAINT.sub("", message[first.end() :])
