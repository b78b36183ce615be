"""A failed call to a cluster's API, in the words a platform engineer would search for."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

REQUEST_TIMEOUT_SECONDS = 10
# A probe's calls: the TCP connect and TLS handshake within 5 s (urllib3 counts the handshake as part
# of connecting), each answer within 10 s. With no retry, a port that accepts and never speaks TLS
# holds a probe 5 s at most.
PROBE_TIMEOUT = (5.0, float(REQUEST_TIMEOUT_SECONDS))


def describe_failure(error: Exception, *, server: str, unauthorized_hint: str) -> str:
    """The problem, in the words a platform engineer would search for, once an API server answered;
    one text for everything before that (see `no_api_server_answered`)."""
    if isinstance(error, ApiException):
        if error.status == 401:
            return f"token rejected (401 Unauthorized): {unauthorized_hint}"
        if error.status == 403:
            return "the credentials are valid but may not read the API (403 Forbidden); grant at least read access"
        return f"the API server answered {error.status} {error.reason}"
    return no_api_server_answered(server)


def no_api_server_answered(server: str) -> str:
    """Every failure below HTTP, in one text. Sign-up is open and a kubeconfig's server can be any
    address: telling a refused port from a silent one, a TLS service from a plain one, or a name
    that does not resolve would make connecting a cluster a port scanner of whatever network we
    run in. So they all read the same, with what to check."""
    return (
        f"no Kubernetes API server answered at {server} within {REQUEST_TIMEOUT_SECONDS} s over TLS with "
        "the kubeconfig's CA; check the server address and port, the certificate-authority-data, and "
        "that the API server accepts connections from Nodeless's addresses"
    )
