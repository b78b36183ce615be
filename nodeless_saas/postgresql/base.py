"""The backend's entry point (Django loads ``<ENGINE>.base.DatabaseWrapper``): Django's PostgreSQL
wrapper whose operations compile inserts with ``nodeless_saas.postgresql.compiler``."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base, operations

from nodeless_saas.postgresql.compiler import InsertJson


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "nodeless_saas.postgresql.compiler"

    def bulk_insert_sql(self, fields: Any, placeholder_rows: Any) -> str:
        if isinstance(placeholder_rows, InsertJson):
            return str(placeholder_rows)
        return str(super().bulk_insert_sql(fields, placeholder_rows))


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
