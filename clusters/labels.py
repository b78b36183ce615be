"""Cluster labels (cloud, region, zone, env and free-form) that federation policies select on."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

WELL_KNOWN = ("cloud", "region", "zone", "env")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _valid_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_NAME.match(name)) and (not prefix or (len(prefix) <= 253 and bool(_PREFIX.match(prefix))))


def clean_labels(raw: Any) -> dict[str, str]:
    """Kubernetes label syntax for keys and values, so a selector that works in kubectl works here."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError({"labels": 'Labels are a mapping of key to value, e.g. {"env": "prod"}.'})
    cleaned: dict[str, str] = {}
    for key, value in raw.items():
        key, value = str(key).strip(), "" if value is None else str(value).strip()
        if not _valid_key(key):
            raise ValidationError(
                {"labels": f"'{key}' is not a valid label key (letters, digits, '-', '_', '.', at most 63)."}
            )
        if value and not _NAME.match(value):
            raise ValidationError({"labels": f"The value of '{key}' ('{value}') is not a valid label value."})
        cleaned[key] = value
    return cleaned


def parse_label_text(text: str) -> dict[str, str]:
    """`env=prod, team=payments` (the form's free-form field) → a mapping."""
    labels: dict[str, str] = {}
    for part in re.split(r"[,\n]", text):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValidationError({"labels": f"'{part}' needs a value: write key=value."})
        key, value = part.split("=", 1)
        labels[key.strip()] = value.strip()
    return clean_labels(labels)


def format_label_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items()))
