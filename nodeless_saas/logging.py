"""Log hygiene: secrets must never reach a log line, even through a third-party library's message."""

from __future__ import annotations

import logging
import re

# API tokens, EKS bearer tokens, PEM private keys, bearer headers, and the secrets that travel in
# URLs (invitation links, password-reset links), which Django's request logger prints for every
# 4xx ("Gone: /invitations/<secret>/") and access logs print for every request.
_SECRET_PATTERNS = [
    re.compile(r"(/invitations/)[^/\s?\"']+"),
    re.compile(r"(/password-reset/)(?!sent/|complete/)[^/\s?\"']+/[^/\s?\"']+"),
    re.compile(r"(/signup/confirm/)[^/\s?\"']+"),
    re.compile(r"([?&]invitation=)[^&\s\"']+"),
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
    """Redacts the message and, since an exception's text can carry what the message left out (a
    URL, a kubeconfig line, a token in a library's error), its traceback and stack too."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set, so the redacted copy is what reaches the log.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
