"""Re-encrypting stored secrets with the newest key (the rotation step of NODELESS_ENCRYPTION_KEYS)."""

from __future__ import annotations

from django.db import transaction

from clusters.models import Cluster
from nodeless_saas.crypto import rotate_text


def secrets_reencrypt() -> int:
    """Re-encrypt every stored kubeconfig with the first configured key; returns how many rows changed.
    Each row is locked and rewritten on its own, so the command can run while the product is up."""
    changed = 0
    for pk in Cluster.objects.exclude(kubeconfig_ciphertext="").values_list("pk", flat=True):
        with transaction.atomic():
            cluster = Cluster.objects.select_for_update().get(pk=pk)
            rotated = rotate_text(cluster.kubeconfig_ciphertext)
            if rotated != cluster.kubeconfig_ciphertext:
                cluster.kubeconfig_ciphertext = rotated
                cluster.save(update_fields=["kubeconfig_ciphertext"])
                changed += 1
    return changed
