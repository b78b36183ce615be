"""Writes to policies (organization first), and the provisioning loop's decisions (by cluster)."""

from policies.services.decisions import (
    decision_build,
    decision_record_pending,
    decisions_record,
)
from policies.services.provisioning import PolicyExists, provisioning_policy_reset, provisioning_policy_save

__all__ = [
    "PolicyExists",
    "decision_build",
    "decision_record_pending",
    "decisions_record",
    "provisioning_policy_reset",
    "provisioning_policy_save",
]
