"""Many rows of one table, each given its own values, in one statement.

The federation loop writes hundreds of rows a pass (each workload's status, each endpoint object's
status). Django's ``bulk_update`` builds a CASE per field and row in Python, which costs more CPU
than it saves; one UPDATE sent once per row (``executemany``) is cheap in CPU but waits on the
database once per row, and each wait gives the worker's other threads (the applies still running
for the pass before) the interpreter lock for a switch interval: at 170 rows, a third of a second
of a pass. On PostgreSQL the rows therefore go as one ``UPDATE ... FROM (VALUES ...)``; SQLite
(the embedded default, one process) keeps the statement per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

# Text columns are cast as text, not as their varchar(n): a cast to varchar(n) truncates silently,
# an assignment of a longer text fails, as any other write of the column would.
_TEXT_TYPES = frozenset({"CharField", "TextField", "SlugField", "EmailField", "URLField"})


def _cast(field: models.Field[Any, Any]) -> str:
    return "text" if field.get_internal_type() in _TEXT_TYPES else str(field.db_type(connection))


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
    values = [
        [
            key.get_db_prep_save(pk, connection),
            *(field.get_db_prep_save(value, connection) for field, value in zip(fields, row, strict=True)),
            *((guard[number],) if guard is not None else ()),
        ]
        for number, (pk, row) in enumerate(rows)
    ]
    guarded = f"{quote(null_as_read[0])} IS NULL" if null_as_read else ""
    if connection.vendor != "postgresql":
        assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
        where = f"{quote(str(key.column))} = %s" + (f" AND ({guarded}) = %s" if guarded else "")
        count = len(fields)
        per_row = [[*row[1 : count + 1], row[0], *row[count + 1 :]] for row in values]
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {where}", per_row)
        return
    casts = [_cast(key), *(_cast(field) for field in fields), *(("boolean",) if guard is not None else ())]
    placeholders = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    assignments = ", ".join(
        f"{quote(str(field.column))} = v.column{number}" for number, field in enumerate(fields, start=2)
    )
    where = f"{table}.{quote(str(key.column))} = v.column1"
    if guarded:
        where += f" AND ({table}.{guarded}) = v.column{len(casts)}"
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([placeholders] * len(values))}) AS v "
        f"WHERE {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in values for value in row])
