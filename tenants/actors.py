"""Who is acting: a signed-in user or an API token, and from which address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodeless_saas.proxies import client_ip

if TYPE_CHECKING:
    from tenants.models import ApiToken, User


@dataclass(frozen=True)
class Actor:
    user: User | None = None
    token: ApiToken | None = None
    ip_address: str | None = None
    system_label: str | None = None

    @property
    def label(self) -> str:
        if self.token is not None:
            return f"token {self.token.name} ({self.token.masked})"
        if self.user is not None:
            return self.user.email
        return self.system_label or "system"

    @classmethod
    def from_request(cls, request: Any) -> Actor:
        from tenants.models import ApiToken

        auth = getattr(request, "auth", None)
        ip = client_ip(request)
        if isinstance(auth, ApiToken):
            return cls(token=auth, ip_address=ip)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not getattr(user, "is_token_user", False):
            return cls(user=user, ip_address=ip)
        return cls(ip_address=ip)

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(system_label=label)
