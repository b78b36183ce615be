from __future__ import annotations

import logging

from nodeless_saas.logging import RedactSecretsFilter, redact
from tenants.tokens import generate_token


def test_tokens_bearer_headers_and_private_keys_are_redacted() -> None:
    token = generate_token()
    text = (
        f"calling with {token} and Authorization: Bearer k8s-aws-v1.aHR0cHM6Ly9zdHM "
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- password=hunter2"
    )
    cleaned = redact(text)
    for secret in (token, "k8s-aws-v1.aHR0cHM6Ly9zdHM", "MIIE", "hunter2"):
        assert secret not in cleaned


def test_the_filter_rewrites_records_with_arguments() -> None:
    token = generate_token()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "using %s", (token,), None)
    RedactSecretsFilter().filter(record)
    assert token not in record.getMessage()
