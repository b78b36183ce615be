"""Django's PostgreSQL compilers, except that a bulk insert with a JSON column uses VALUES.

Django 5.2 bulk-inserts through ``SELECT * FROM UNNEST(%s::jsonb[], ...)``: each column goes as one
array parameter. With psycopg's client-side binding (Django's default) an array is escaped in
Python, a regular expression per element; JSON documents are full of quotes, so that costs five to
nine times the VALUES form, whose strings libpq escapes in C (500 watch events of a Deployment
each: about 115 ms against 15 ms of CPU). The federation loop writes hundreds of such rows a pass
(watch events, decisions), so it sends them as VALUES. UNNEST's gain, a shorter plan for very
many placeholders, is small at the loop's batch sizes (500 rows).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import compiler as postgresql
from django.db.models.sql import compiler as generic

SQLAggregateCompiler = postgresql.SQLAggregateCompiler
SQLCompiler = postgresql.SQLCompiler
SQLDeleteCompiler = postgresql.SQLDeleteCompiler
SQLUpdateCompiler = postgresql.SQLUpdateCompiler

__all__ = [
    "SQLAggregateCompiler",
    "SQLCompiler",
    "SQLDeleteCompiler",
    "SQLInsertCompiler",
    "SQLUpdateCompiler",
]


class SQLInsertCompiler(postgresql.SQLInsertCompiler):
    def assemble_as_sql(self, fields: Any, value_rows: Any) -> Any:
        if any(field is not None and field.get_internal_type() == "JSONField" for field in fields):
            return generic.SQLInsertCompiler.assemble_as_sql(self, fields, value_rows)
        return super().assemble_as_sql(fields, value_rows)
