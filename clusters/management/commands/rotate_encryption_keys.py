"""Re-encrypt every stored secret with the first key of NODELESS_ENCRYPTION_KEYS.

Rotation: prepend a new key to NODELESS_ENCRYPTION_KEYS (keep the old one after it), restart, run this
command, then remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from clusters.services.secrets import secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt stored kubeconfigs with the newest NODELESS_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        count = secrets_reencrypt()
        self.stdout.write(f"Re-encrypted {count} kubeconfig(s) with the newest key.")
