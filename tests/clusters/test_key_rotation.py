"""Key rotation: after prepending a new key and re-encrypting, the old key can be dropped."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from clusters.models import Cluster, ClusterConnection
from nodeless_saas import crypto

pytestmark = pytest.mark.django_db


def test_rotation_re_encrypts_so_the_old_key_can_go(cast, settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.NODELESS_ENCRYPTION_KEYS = [old]
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="c",
        connection=ClusterConnection.KUBECONFIG,
        kubeconfig_ciphertext=crypto.encrypt_text("kubeconfig body"),
    )
    settings.NODELESS_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys")
    settings.NODELESS_ENCRYPTION_KEYS = [new]
    cluster.refresh_from_db()
    assert crypto.decrypt_text(cluster.kubeconfig_ciphertext) == "kubeconfig body"
    settings.NODELESS_ENCRYPTION_KEYS = [old]
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_text(cluster.kubeconfig_ciphertext)
