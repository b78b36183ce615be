"""Django's PostgreSQL compilers, except that a bulk insert of a JSON column goes as one JSON document.

Django 5.2 bulk-inserts through ``SELECT * FROM UNNEST(%s::jsonb[], ...)``: each column goes as one
array parameter. With psycopg's client-side binding (Django's default) an array is escaped in
Python, a regular expression per element; JSON documents are full of quotes, so that costs five to
nine times a VALUES list (500 watch events of a Deployment each: about 115 ms against 15 ms of
CPU). A VALUES list has a placeholder per field and row, and psycopg splits a statement of more
than 50 placeholders in Python each time (no cache): at the loop's batch sizes (500 rows), most
of those 15 ms. So the rows go as **one JSON document**, an array per row, read back with each
column's type (``SELECT (v.row->>0)::uuid, ... FROM jsonb_array_elements(%s::jsonb)``): one
placeholder, the document encoded and escaped in C (``json_document``). Rows with a value JSON
cannot carry exactly (bytes, a float that is not finite, a type this module does not know) keep
Django's VALUES form.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import uuid
from typing import Any

from django.db.backends.postgresql import compiler as postgresql
from django.db.models.sql import compiler as generic
from psycopg.types.json import Jsonb

SQLAggregateCompiler = postgresql.SQLAggregateCompiler
SQLCompiler = postgresql.SQLCompiler
SQLDeleteCompiler = postgresql.SQLDeleteCompiler
SQLUpdateCompiler = postgresql.SQLUpdateCompiler

__all__ = [
    "InsertJson",
    "SQLAggregateCompiler",
    "SQLCompiler",
    "SQLDeleteCompiler",
    "SQLInsertCompiler",
    "SQLUpdateCompiler",
]

# Written as their text (str()), which PostgreSQL reads back with the column's type.
_AS_TEXT = (datetime.datetime, datetime.date, datetime.time, decimal.Decimal, uuid.UUID)


class InsertJson(list[str]):
    """The select list reading a JSON document's rows as the columns (the sentinel
    ``DatabaseOperations.bulk_insert_sql`` recognises)."""

    def __str__(self) -> str:
        return (
            f"SELECT {', '.join(self)} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS v(row, position) "
            "ORDER BY v.position"
        )


def _json_value(value: Any) -> Any:
    """``value`` as the document carries it; raises ValueError for one it cannot carry exactly."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not finite")
        return value
    if isinstance(value, _AS_TEXT):
        return str(value)
    if isinstance(value, Jsonb):  # a JSON field's value: its own text, as its encoder writes it
        return (value.dumps or json.dumps)(value.obj)
    raise ValueError(f"{type(value).__name__} is not carried")


def json_document(value_rows: Any) -> str | None:
    """The rows as one JSON array of arrays; None when a value cannot go in it."""
    try:
        return json.dumps([[_json_value(value) for value in row] for row in value_rows])
    except ValueError:
        return None


class SQLInsertCompiler(postgresql.SQLInsertCompiler):
    def assemble_as_sql(self, fields: Any, value_rows: Any) -> Any:
        if not any(field is not None and field.get_internal_type() == "JSONField" for field in fields):
            return super().assemble_as_sql(fields, value_rows)
        plain = (
            len(value_rows) > 1
            and all(field is not None and not hasattr(field, "get_placeholder") for field in fields)
            and not any(hasattr(value, "as_sql") for row in value_rows for value in row)
        )
        document = json_document(value_rows) if plain else None
        if document is None:
            return generic.SQLInsertCompiler.assemble_as_sql(self, fields, value_rows)
        # As Django's UNNEST: the types without their length, so nothing is cut (a longer text fails).
        types = [field.db_type(self.connection).split("(")[0] for field in fields]
        return InsertJson([f"(v.row->>{position})::{kind}" for position, kind in enumerate(types)]), [
            [document]
        ]
