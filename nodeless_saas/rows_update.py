"""Many rows of one table, each given its own values, in one statement.

The federation loop writes hundreds of rows a pass (each workload's status, each endpoint object's
status). Django's ``bulk_update`` builds a CASE per field and row in Python, which costs more CPU
than it saves; one UPDATE sent once per row (``executemany``) waits on the database once per row,
and each wait hands the worker's other threads (the applies still running for the pass before)
the interpreter lock. On PostgreSQL the rows therefore go as **one JSON parameter**:
``UPDATE ... FROM jsonb_array_elements(%s::jsonb)``, each row an array read back with its
columns' types (the document as the backend's bulk inserts build it, ``json_document``). One
placeholder keeps psycopg from splitting a statement of thousands of them in
Python (500 rows of 11 fields, measured with psycopg on this project's 2-core machine: 2.5 ms of
CPU against 11 ms for ``executemany`` and 14 ms for a VALUES list). SQLite (the embedded default,
one process), and rows with a value a JSON document cannot carry exactly, keep the statement per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

from nodeless_saas.postgresql.compiler import json_document

# Text columns are read back as text, not as their varchar(n): a cast to varchar(n) truncates
# silently, where the assignment of a longer text fails, as any other write of the column would.
_TEXT_TYPES = frozenset({"CharField", "TextField", "SlugField", "EmailField", "URLField"})


def _cast(field: models.Field[Any, Any]) -> str:
    return "text" if field.get_internal_type() in _TEXT_TYPES else str(field.db_type(connection))


def _column(field: models.Field[Any, Any], position: int) -> str:
    """Element ``position`` of a row's array as the column's value (a JSON field's is its text)."""
    return f"(v->>{position})::{_cast(field)}"


def rows_update(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[tuple[Any, Sequence[Any]]],
    *,
    null_as_read: tuple[str, Sequence[bool]] | None = None,
) -> None:
    """Set ``names`` of each row (primary key, values in the order of ``names``). With
    ``null_as_read`` (a column and, per row, whether it was NULL when the row was read), a row is
    written only while that column still is (or is not) NULL: a row another writer marked
    meanwhile (deleted) is left as that writer left it."""
    if not rows:
        return
    meta = model._meta
    fields = [field for name in names if isinstance(field := meta.get_field(name), models.Field)]
    key = meta.pk
    assert key is not None
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    guard = null_as_read[1] if null_as_read else None
    guarded = f"{quote(null_as_read[0])} IS NULL" if null_as_read else ""
    prepared = [
        [
            key.get_db_prep_save(pk, connection),
            *(field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)),
            *((guard[number],) if guard is not None else ()),
        ]
        for number, (pk, values) in enumerate(rows)
    ]
    document = json_document(prepared) if connection.vendor == "postgresql" else None
    if document is None:
        _update_each(table, key, fields, prepared, guarded)
        return
    assignments = ", ".join(
        f"{quote(str(field.column))} = {_column(field, position)}"
        for position, field in enumerate(fields, start=1)
    )
    where = f"{table}.{quote(str(key.column))} = {_column(key, 0)}"
    if guarded:
        where += f" AND ({table}.{guarded}) = (v->>{len(fields) + 1})::boolean"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM jsonb_array_elements(%s::jsonb) AS v WHERE {where}",
            [document],
        )


def _update_each(
    table: str,
    key: models.Field[Any, Any],
    fields: Sequence[models.Field[Any, Any]],
    prepared: Sequence[Sequence[Any]],
    guarded: str,
) -> None:
    """One UPDATE per row (``prepared``: key, values, guard), sent with ``executemany``."""
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
    where = f"{quote(str(key.column))} = %s" + (f" AND ({guarded}) = %s" if guarded else "")
    count = len(fields)
    per_row = [[*row[1 : count + 1], row[0], *row[count + 1 :]] for row in prepared]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {where}", per_row)
