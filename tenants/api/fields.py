"""Serializer fields stricter than DRF's, shared by every app's API."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import models
from rest_framework import serializers

from engines.metering.money import CENTS, RATE_PLACES, usd


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


# Money in the API is USD as decimal strings, never JSON floats (13.587822000700001 is no amount a
# finance tool can take), rounded as the pages round it (engines.metering.money).


class UsdField(serializers.DecimalField):
    """A read-only USD amount as a decimal string (see ``usd``): cents unless ``places`` says more."""

    def __init__(self, places: int = CENTS, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(max_digits=None, decimal_places=places, coerce_to_string=True, **kwargs)

    def to_representation(self, value: Any) -> str:
        # DRF leaves None to the serializer (allow_null), so a value here is always an amount.
        return usd(value, self.decimal_places or 0) or ""


class UsdRateField(UsdField):
    """A read-only price or cost per hour: USD to six decimals."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(RATE_PLACES, **kwargs)


# The keys of decision records (chosen, runner-ups, inputs: JSON the workers keep) whose numbers are
# USD per hour: the API gives them as rate strings like every other price.
RATE_KEYS = frozenset(
    {"price_per_hour", "effective_price_per_hour", "egress_per_hour", "cost_per_hour", "lower_bound_per_hour"}
)


def rates_as_strings(value: Any) -> Any:
    """A decision's JSON with every USD-per-hour number (by key, at any depth) as a rate string."""
    if isinstance(value, dict):
        return {
            key: usd(item, RATE_PLACES)
            if key in RATE_KEYS and isinstance(item, int | float) and not isinstance(item, bool)
            else rates_as_strings(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [rates_as_strings(item) for item in value]
    return value


class DecisionRecordField(serializers.JSONField):
    """A decision's recorded JSON, its prices per hour as decimal strings."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return rates_as_strings(value)


ModelT = TypeVar("ModelT", bound=models.Model)
_BUILT_FIELDS: dict[type, dict[str, serializers.Field[Any, Any, Any, Any]]] = {}


class FieldsOnceModelSerializer(serializers.ModelSerializer[ModelT]):
    """A ModelSerializer that derives its fields from the model once per class, not per instance.

    DRF looks at every column again for each serializer it makes (for a workload, about as much
    CPU as storing it: bench/submit_cost.py), although the result depends on the class alone.
    Each instance gets its own copy of the fields, as DRF copies declared fields; a subclass whose
    fields depend on its instance or context must not use this."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        built = _BUILT_FIELDS.get(type(self))
        if built is None:
            built = _BUILT_FIELDS[type(self)] = super().get_fields()
        return copy.deepcopy(built)
