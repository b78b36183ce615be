from django.apps import AppConfig


class LabConfig(AppConfig):
    """The development side: the demo, the trace replay and the savings replay. Installed only outside
    production (`settings.INSTALLED_APPS`); the product never imports it."""

    name = "lab"
    label = "lab"
    default_auto_field = "django.db.models.BigAutoField"
