"""Server-side check of EKS bearer tokens, as aws-iam-authenticator's `tokenVerifier.Verify` does.

A token is `k8s-aws-v1.` + base64url(presigned STS GetCallerIdentity URL). Steps:

1. reject tokens over 4 KiB, without the prefix, or not base64url;
2. the URL must be https (http only for the configured simulated STS endpoint), its host an STS
   endpoint, its path `/`, its query made only of the allowed parameters, none repeated;
3. `Action=GetCallerIdentity`, `x-k8s-aws-id` among the signed headers, `X-Amz-Expires` in
   0..900, and now ≤ `X-Amz-Date` + 15 minutes;
4. GET the URL from STS (here: the cloud gateway) with `x-k8s-aws-id: <this cluster>` — a token
   signed for another cluster then fails the signature check;
5. canonicalise `arn:aws:sts::ACCT:assumed-role/NAME/SESSION` to `arn:aws:iam::ACCT:role/NAME`.

Verified tokens are cached until they expire, as the real authenticator's cache does.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from simulator.auth import AccessEntries, Identity

TOKEN_PREFIX = "k8s-aws-v1."
MAX_TOKEN_BYTES = 4096
TOKEN_LIFETIME_SECONDS = 15 * 60
CLUSTER_ID_HEADER = "x-k8s-aws-id"
ALLOWED_PARAMETERS = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
_STS_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$"
)


class TokenRejected(Exception):
    """Why a token was refused (logged by the server; the client only sees 401)."""


def canonical_principal_arn(arn: str) -> str:
    match = _ASSUMED_ROLE.match(arn)
    if match is None:
        return arn
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"


class EksTokenVerifier:
    """Verifies tokens for one cluster against an STS endpoint (`http://127.0.0.1:PORT`)."""

    def __init__(
        self,
        cluster_name: str,
        sts_endpoint: str,
        *,
        wall_clock: Callable[[], float] = time.time,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.cluster_name = cluster_name
        endpoint = urlsplit(sts_endpoint)
        self._sts_scheme = endpoint.scheme
        self._sts_netloc = endpoint.netloc
        self._wall_clock = wall_clock
        self._timeout = timeout_seconds
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> str:
        """The canonical IAM principal ARN behind `token`, or TokenRejected."""
        with self._lock:
            cached = self._cache.get(token)
        if cached is not None and cached[1] > self._wall_clock():
            return cached[0]
        url, expires_at = self._check_presigned_url(token)
        arn = canonical_principal_arn(self._caller_arn(url))
        with self._lock:
            self._cache[token] = (arn, expires_at)
        return arn

    def _check_presigned_url(self, token: str) -> tuple[str, float]:
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejected("token is too large")
        if not token.startswith(TOKEN_PREFIX):
            raise TokenRejected("token is missing the k8s-aws-v1. prefix")
        encoded = token[len(TOKEN_PREFIX) :]
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise TokenRejected(f"token is not base64url: {error}") from error
        parts = urlsplit(url)
        is_simulated_sts = parts.netloc == self._sts_netloc
        if parts.scheme != "https" and not (is_simulated_sts and parts.scheme == self._sts_scheme):
            raise TokenRejected(f"unexpected scheme {parts.scheme!r}")
        if not (is_simulated_sts or _STS_HOST.match(parts.hostname or "")):
            raise TokenRejected(f"unexpected hostname {parts.hostname!r} in pre-signed URL")
        if parts.path != "/":
            raise TokenRejected("unexpected path in pre-signed URL")
        parameters: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            lowered = key.lower()
            if lowered not in ALLOWED_PARAMETERS:
                raise TokenRejected(f"non-allowlisted query parameter {key!r}")
            if lowered in parameters:
                raise TokenRejected(f"duplicate query parameter {key!r}")
            parameters[lowered] = value
        if parameters.get("action") != "GetCallerIdentity":
            raise TokenRejected("unexpected action parameter in pre-signed URL")
        if CLUSTER_ID_HEADER not in parameters.get("x-amz-signedheaders", "").split(";"):
            raise TokenRejected(f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL")
        try:
            expires = int(parameters.get("x-amz-expires", ""))
            signed_at = datetime.strptime(parameters.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(
                tzinfo=UTC
            )
        except ValueError as error:
            raise TokenRejected(f"malformed X-Amz-Expires or X-Amz-Date: {error}") from error
        if not 0 <= expires <= TOKEN_LIFETIME_SECONDS:
            raise TokenRejected(f"X-Amz-Expires parameter out of range: {expires}")
        expires_at = signed_at.timestamp() + TOKEN_LIFETIME_SECONDS
        if self._wall_clock() > expires_at:
            raise TokenRejected("token is expired")
        return url, expires_at

    def _caller_arn(self, url: str) -> str:
        """GetCallerIdentity through the simulated STS, keeping the signed URL's Host header."""
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(self._sts_netloc, timeout=self._timeout)
        try:
            connection.request(
                "GET",
                f"/?{parts.query}",
                headers={
                    "Host": parts.netloc,
                    CLUSTER_ID_HEADER: self.cluster_name,
                    "Accept": "application/json",
                },
            )
            response = connection.getresponse()
            body = response.read()
        except OSError as error:
            raise TokenRejected(f"error contacting STS: {error}") from error
        finally:
            connection.close()
        if response.status != 200:
            raise TokenRejected(f"STS rejected the pre-signed URL ({response.status}): {body[:300]!r}")
        try:
            result = json.loads(body)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
            arn: str = result["Arn"]
        except (ValueError, KeyError, TypeError) as error:
            raise TokenRejected(f"unexpected STS response: {body[:300]!r}") from error
        return arn


class EksTokenAuthenticator:
    """Maps a verified token's principal to an identity through the cluster's access entries."""

    def __init__(self, verifier: EksTokenVerifier, access_entries: AccessEntries) -> None:
        self.verifier = verifier
        self.access_entries = access_entries
        self.last_rejection: str = ""

    def authenticate(self, token: str) -> Identity | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        try:
            arn = self.verifier.verify(token)
        except TokenRejected as rejection:
            self.last_rejection = str(rejection)
            return None
        entry = self.access_entries.get(arn)
        if entry is None:
            self.last_rejection = f"{arn} has no access entry in cluster {self.verifier.cluster_name}"
            return None
        return Identity(
            username=entry.username or arn,
            permissions=entry.permissions,
            groups=(*entry.groups, "system:authenticated"),
            extra={"arn": (arn,)},
        )
