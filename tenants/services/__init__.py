"""Every write to accounts and tenants goes through these functions (organization first)."""

from tenants.services.accounts import (
    login_failed_record,
    organization_create,
    organization_update,
    sign_in_record,
    sign_in_unlock,
    signup,
    signup_validate,
)
from tenants.services.members import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    member_change_role,
    member_remove,
)
from tenants.services.signups import signup_confirm, signup_pending, signup_request
from tenants.services.tokens import api_token_create, api_token_revoke, api_token_touch

__all__ = [
    "signup_validate",
    "api_token_create",
    "api_token_revoke",
    "api_token_touch",
    "invitation_accept",
    "invitation_create",
    "invitation_revoke",
    "login_failed_record",
    "sign_in_record",
    "sign_in_unlock",
    "member_change_role",
    "member_remove",
    "organization_create",
    "organization_update",
    "signup",
    "signup_confirm",
    "signup_pending",
    "signup_request",
]
