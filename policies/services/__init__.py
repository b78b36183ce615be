"""Writes to policies (organization first)."""

from policies.services.provisioning import provisioning_policy_reset, provisioning_policy_save

__all__ = ["provisioning_policy_reset", "provisioning_policy_save"]
