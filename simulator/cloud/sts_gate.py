"""The STS part of the gateway: trust policies, AssumeRole records, and EKS token checks.

moto's AssumeRole accepts any role and any ExternalId. The gate enforces what AWS does:
1. the role must exist (in moto IAM, in the role's account);
2. a trust-policy statement must allow `sts:AssumeRole` for the caller's principal;
3. its `sts:ExternalId` condition must hold for the ExternalId sent;
otherwise `AccessDenied` with AWS's wording. Every attempt is recorded (role ARN, ExternalId,
session name, caller, outcome) so tests can assert what the product sent.

Sessions issued through the gate are remembered (access key → role), which is how the gateway
knows whose policies apply to later calls, and how it verifies the SigV4 signature of presigned
GetCallerIdentity URLs (EKS tokens): a token signed for another cluster, or altered, fails.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from simulator.clock import Clock
from simulator.cloud.admin import AdminClients
from simulator.cloud.iam_policy import is_assume_role_allowed, load_document
from simulator.cloud.protocol import AwsError, AwsRequest

_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@dataclass(frozen=True)
class AssumeRoleRecord:
    role_arn: str
    external_id: str | None
    session_name: str
    caller_arn: str
    allowed: bool
    reason: str
    at: float
    access_key_id: str = ""


@dataclass(frozen=True)
class RoleSession:
    access_key_id: str
    secret_access_key: str
    session_token: str
    role_arn: str
    account_id: str
    session_name: str

    @property
    def assumed_role_arn(self) -> str:
        return f"arn:aws:sts::{self.account_id}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.session_name}"


def role_account(role_arn: str) -> str:
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 else ""


class StsGate:
    def __init__(self, admin: AdminClients, clock: Clock, vendor_account_id: str) -> None:
        self.admin = admin
        self.clock = clock
        self.vendor_account_id = vendor_account_id
        self._sessions: dict[str, RoleSession] = {}
        self._records: list[AssumeRoleRecord] = []
        self._lock = threading.Lock()

    # --- who is calling ---------------------------------------------------------------------

    def session(self, access_key_id: str) -> RoleSession | None:
        with self._lock:
            return self._sessions.get(access_key_id)

    def caller(self, access_key_id: str) -> tuple[str, str]:
        """(ARN, account) of a caller: a session issued here, or else a vendor-account user."""
        session = self.session(access_key_id)
        if session is not None:
            return session.role_arn, session.account_id
        return f"arn:aws:iam::{self.vendor_account_id}:user/nodeless-control-plane", self.vendor_account_id

    def caller_session_arn(self, access_key_id: str) -> str:
        session = self.session(access_key_id)
        return session.assumed_role_arn if session else self.caller(access_key_id)[0]

    # --- AssumeRole -------------------------------------------------------------------------

    def records(self) -> list[AssumeRoleRecord]:
        with self._lock:
            return list(self._records)

    def _record(self, record: AssumeRoleRecord) -> None:
        with self._lock:
            self._records.append(record)

    def check_assume_role(self, request: AwsRequest) -> None:
        role_arn = request.params.get("RoleArn", "")
        external_id = request.params.get("ExternalId")
        session_name = request.params.get("RoleSessionName", "")
        caller_arn, caller_account = self.caller(request.access_key_id)
        denied = AwsError(
            "AccessDenied",
            f"User: {self.caller_session_arn(request.access_key_id)} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            403,
        )
        reason = ""
        try:
            role = self.admin.client("iam", role_account(role_arn)).get_role(
                RoleName=role_arn.rsplit("/", 1)[-1]
            )["Role"]
            if role["Arn"] != role_arn:
                reason = "the role ARN does not match (path differs)"
            elif not is_assume_role_allowed(
                load_document(role["AssumeRolePolicyDocument"]), caller_arn, caller_account, external_id
            ):
                reason = "the trust policy does not allow this principal with this external ID"
        except ClientError:
            reason = "the role does not exist"
        if reason:
            self._record(
                AssumeRoleRecord(
                    role_arn,
                    external_id,
                    session_name,
                    caller_arn,
                    allowed=False,
                    reason=reason,
                    at=self.clock.now(),
                )
            )
            raise denied

    def remember(self, request: AwsRequest, response_body: bytes) -> None:
        """After moto answered AssumeRole: remember the session and record the call."""
        root = ElementTree.fromstring(response_body)
        credentials = root.find(f".//{_STS_NS}Credentials")
        if credentials is None:
            return

        def text(name: str) -> str:
            element = credentials.find(f"{_STS_NS}{name}")
            return element.text or "" if element is not None else ""

        role_arn = request.params.get("RoleArn", "")
        session = RoleSession(
            access_key_id=text("AccessKeyId"),
            secret_access_key=text("SecretAccessKey"),
            session_token=text("SessionToken"),
            role_arn=role_arn,
            account_id=role_account(role_arn),
            session_name=request.params.get("RoleSessionName", ""),
        )
        with self._lock:
            self._sessions[session.access_key_id] = session
        caller_arn, _ = self.caller(request.access_key_id)
        self._record(
            AssumeRoleRecord(
                role_arn,
                request.params.get("ExternalId"),
                session.session_name,
                caller_arn,
                allowed=True,
                reason="",
                at=self.clock.now(),
                access_key_id=session.access_key_id,
            )
        )

    # --- presigned GetCallerIdentity (EKS tokens) --------------------------------------------

    def verify_presigned(self, request: AwsRequest, own_netloc: str) -> dict[str, Any] | None:
        """The caller identity of a presigned GetCallerIdentity URL signed by a session issued
        here; None if the key is not ours (moto then answers). Raises on a bad signature."""
        session = self.session(request.access_key_id)
        if session is None:
            return None
        params = [(k, v) for k, v in parse_qsl(request.query, keep_blank_values=True)]
        given = next((v for k, v in params if k == "X-Amz-Signature"), "")
        host = request.headers.get("host", "")
        scheme = "http" if host == own_netloc else "https"
        unsigned_query = "&".join(f"{k}={v}" for k, v in _raw_pairs(request.query) if k != "X-Amz-Signature")
        signed_headers = dict(params).get("X-Amz-SignedHeaders", "host").split(";")
        headers = {name: request.headers.get(name, "") for name in signed_headers if name != "host"}
        aws_request = AWSRequest(method="GET", url=f"{scheme}://{host}/?{unsigned_query}", headers=headers)
        aws_request.context["timestamp"] = dict(params).get("X-Amz-Date", "")
        credential_scope = dict(params).get("X-Amz-Credential", "").split("/")
        region = credential_scope[2] if len(credential_scope) > 2 else request.region
        signer = SigV4QueryAuth(
            Credentials(session.access_key_id, session.secret_access_key, session.session_token),
            "sts",
            region,
        )
        expected = signer.signature(
            signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request
        )
        if expected != given:
            raise AwsError(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                403,
            )
        return {
            "Arn": session.assumed_role_arn,
            "Account": session.account_id,
            "UserId": f"AROA{session.access_key_id[4:]}:{session.session_name}",
        }


def _raw_pairs(query: str) -> list[tuple[str, str]]:
    """Query pairs still percent-encoded, so the canonical query matches what was signed."""
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((key, value))
    return pairs
