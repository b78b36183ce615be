"""Sign-in lockout: per account, and per client address (django-axes, configured in settings).

django-axes counts failed sign-ins (`AccessAttempt` rows, one per e-mail, address and browser) and
locks by its lockout parameters; ours is the account alone, so failures from any number of addresses
add up and the account stays locked whichever address the next attempt comes from. This handler adds
the second limit, per client address over every account it tried, from the same rows and window.
The address is `nodeless_saas.proxies.client_ip` (trusted proxies applied); the lockout goes to the
audit log through axes' `user_locked_out` signal (`tenants.signals`).
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a sign-in targets, as one key however the e-mail was typed (accounts are lower-case)."""
    source: Any = credentials if credentials is not None else request.POST
    raw = source.get(settings.AXES_USERNAME_FORM_FIELD)
    if raw is None:
        return None
    return str(raw).strip().lower() or None


def address_failures(request: HttpRequest) -> int:
    """Failed sign-ins from this request's client address within the window, against any account."""
    address = getattr(request, "axes_ip_address", None)
    if not address:
        return 0
    attempts = AccessAttempt.objects.filter(
        ip_address=address, attempt_time__gte=get_cool_off_threshold(request)
    )
    return int(attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0)


def address_locked(request: HttpRequest) -> bool:
    return address_failures(request) >= settings.NODELESS_LOGIN_ADDRESS_FAILURE_LIMIT


class SignInLockoutHandler(AxesDatabaseHandler):  # type: ignore[misc]  # axes is untyped
    def is_locked(self, request: Any, credentials: dict[str, Any] | None = None) -> bool:
        return bool(super().is_locked(request, credentials)) or address_locked(request)

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or request.axes_locked_out or not address_locked(request):
            return
        # This failure reached the address's limit (the account's is axes' own check, above).
        request.axes_locked_out = True
        request.axes_credentials = credentials
        user_locked_out.send(
            "axes",
            request=request,
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        )


def locked_out_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The page a locked sign-in gets: what is locked, for how long, and how to get in sooner."""
    context = {
        "by_address": address_locked(request),
        "minutes": settings.NODELESS_LOGIN_COOLOFF_MINUTES,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "tenants/locked_out.html", context, status=429)
