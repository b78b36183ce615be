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


def test_secrets_in_urls_are_redacted_as_the_request_logger_prints_them() -> None:
    invitation, reset = "Xy3_secret-Invitation", "set-password-9f8e7d"
    lines = [
        f"Gone: /invitations/{invitation}/",
        f'"GET /password-reset/MQ/{reset}/ HTTP/1.1" 200',
        f"Not Found: /signup/?invitation={invitation}&next=/",
        f"Not Found: /signup/confirm/{invitation}/",
    ]
    cleaned = "\n".join(redact(line) for line in lines)
    assert invitation not in cleaned and reset not in cleaned
    # What is not a secret stays readable: the route and the public steps of the reset flow.
    assert "/invitations/[REDACTED]/" in cleaned
    assert redact("GET /password-reset/sent/ and /password-reset/complete/") == (
        "GET /password-reset/sent/ and /password-reset/complete/"
    )


def test_an_exceptions_text_is_redacted_in_the_record_a_formatter_prints() -> None:
    token = generate_token()
    try:
        raise RuntimeError(f"the cluster refused token {token}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "call failed", None, sys.exc_info())
    RedactSecretsFilter().filter(record)
    printed = logging.Formatter().format(record)
    assert "RuntimeError" in printed and token not in printed
