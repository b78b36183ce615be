"""Django's PostgreSQL backend with one change: rows carrying JSON are bulk-inserted with VALUES.

``DATABASES["default"]["ENGINE"] = "nodeless_saas.postgresql"`` (``nodeless_saas.env``) names it;
everything but the insert compiler is Django's own (``base``, ``compiler``).
"""
