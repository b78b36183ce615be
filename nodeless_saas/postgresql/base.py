"""The backend's entry point (Django loads ``<ENGINE>.base.DatabaseWrapper``): Django's PostgreSQL
wrapper whose operations compile inserts with ``nodeless_saas.postgresql.compiler``."""

from __future__ import annotations

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "nodeless_saas.postgresql.compiler"


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
