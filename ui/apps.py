from django.apps import AppConfig


class UiConfig(AppConfig):
    """The presentation filters every page shares (`{% load ui_tags %}`): one small app above the
    domain apps, so the ground floor (tenants) imports none of them."""

    name = "ui"
    default_auto_field = "django.db.models.BigAutoField"
