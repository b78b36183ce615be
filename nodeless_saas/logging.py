"""Log hygiene: secrets must never reach a log line, even through a third-party library's message."""

from __future__ import annotations

import logging
import re

# API tokens, EKS bearer tokens, PEM private keys and bearer headers.
_SECRET_PATTERNS = [
    re.compile(r"nls_[A-Za-z0-9]{20,}"),
    re.compile(r"k8s-aws-v1\.[A-Za-z0-9_\-]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"),
    re.compile(r"(?i)(\"?(?:token|password|client-key-data|secret)\"?\s*[:=]\s*)\"?[^\s\",]+"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[REDACTED]", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
