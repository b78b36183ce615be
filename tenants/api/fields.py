"""Serializer fields stricter than DRF's, shared by every app's API."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import models
from rest_framework import serializers


class StrictFloatField(serializers.FloatField):
    """A number, never a boolean: DRF's FloatField takes ``true`` as 1.0."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return float(super().to_internal_value(data))


class StrictCharField(serializers.CharField):
    """Text, never a number or a boolean: DRF's CharField takes ``0`` as "0"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


# What a ModelSerializer makes of the models' text and number columns, strict as above.
STRICT_FIELD_MAPPING = {
    **serializers.ModelSerializer.serializer_field_mapping,
    models.CharField: StrictCharField,
    models.TextField: StrictCharField,
    models.EmailField: StrictEmailField,
    models.FloatField: StrictFloatField,
}


def check_uuid_parameters(params: Mapping[str, str], *names: str) -> None:
    """Filters that name an object by id: present means a UUID (an empty or malformed one is a 400,
    as the schema says, rather than no filter or a database error)."""
    problems: dict[str, list[str]] = {}
    for name in names:
        if name in params:
            try:
                uuid.UUID(str(params[name]))
            except ValueError:
                problems[name] = ["Must be a valid UUID."]
    if problems:
        raise serializers.ValidationError(problems)
