"""A failed call to a cluster's API, in the words a platform engineer would search for."""

from __future__ import annotations

import ssl
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as UrllibTimeout

REQUEST_TIMEOUT_SECONDS = 10


def describe_failure(error: Exception, *, server: str, unauthorized_hint: str) -> str:
    """The exact problem, in the words a platform engineer would search for."""
    if isinstance(error, ApiException):
        if error.status == 401:
            return f"token rejected (401 Unauthorized): {unauthorized_hint}"
        if error.status == 403:
            return "the credentials are valid but may not read the API (403 Forbidden); grant at least read access"
        return f"the API server answered {error.status} {error.reason}"
    reason: Any = error.reason if isinstance(error, MaxRetryError) else error
    if isinstance(reason, SSLError | ssl.SSLError):
        text = str(reason)
        if (
            "CERTIFICATE_VERIFY_FAILED" in text
            or "unknown ca" in text.lower()
            or "self-signed" in text.lower()
        ):
            if "hostname" in text.lower() or "IP address mismatch" in text:
                return f"the API server's certificate is not valid for {server} (hostname mismatch)"
            return (
                f"x509: certificate signed by unknown authority — the certificate of {server} does not chain to "
                "the CA we have for this cluster; update the CA data"
            )
        return f"TLS handshake with {server} failed: {text}"
    # Checked before timeouts: urllib3's NewConnectionError is a subclass of its timeout error.
    if "refused" in str(reason).lower():
        return f"cannot connect to {server}: connection refused; check the endpoint and that the API server is up"
    if isinstance(reason, UrllibTimeout) or "timed out" in str(reason).lower():
        return f"{server} did not answer within {REQUEST_TIMEOUT_SECONDS} s; check the endpoint and that it allows our addresses"
    if "Name or service not known" in str(reason) or "nodename nor servname" in str(reason):
        return f"cannot resolve the host of {server}; check the endpoint"
    if isinstance(reason, ProtocolError):
        return f"{server} closed the connection; is it a Kubernetes API server?"
    return f"cannot reach {server}: {reason}"
