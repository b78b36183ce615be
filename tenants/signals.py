"""Failed sign-ins go to the audit log (the service decides where)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from tenants.actors import client_ip
from tenants.services import login_failed_record


@receiver(user_login_failed)
def record_failed_login(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    login_failed_record(
        email=str(credentials.get("username", "")), ip_address=client_ip(request) if request else None
    )
