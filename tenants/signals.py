"""Sign-ins, failed sign-ins and lockouts go to the audit log (the service decides where)."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from nodeless_saas.proxies import client_ip
from tenants.services import login_failed_record, sign_in_record


@receiver(user_login_failed)
def record_failed_login(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    login_failed_record(
        email=str(credentials.get("username", "")), ip_address=client_ip(request) if request else None
    )


@receiver(user_logged_in)
def record_login(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if request is None or user is None:
        return  # a login() without a request (a test's force_login) is no sign-in
    sign_in_record(email=user.email, ip_address=client_ip(request), action="login.succeeded")


@receiver(user_locked_out)
def record_lockout(sender: Any, request: Any = None, username: str = "", **kwargs: Any) -> None:
    sign_in_record(
        email=username, ip_address=client_ip(request) if request else None, action="login.locked_out"
    )
