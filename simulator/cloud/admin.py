"""boto3 clients that act as the administrator of a simulated AWS account, straight to moto.

moto picks the account from the access key: keys returned by its AssumeRole belong to the role's
account, whether or not the role exists. The simulator uses that to create and inspect resources
in any account, bypassing the gateway's checks (it is the cloud, not a customer).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials

ADMIN_ROLE_NAME = "nodeless-simulator-admin"
_CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)


class AdminClients:
    def __init__(self, moto_url: str, region: str = "us-east-1") -> None:
        self.moto_url = moto_url
        self.region = region
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def _session(self, account_id: str) -> boto3.Session:
        session = self._sessions.get(account_id)
        if session is None:
            bootstrap = boto3.client(
                "sts",
                endpoint_url=self.moto_url,
                region_name=self.region,
                aws_access_key_id="AKIASIMULATORBOOTSTRAP",
                aws_secret_access_key="simulator",
                config=_CLIENT_CONFIG,
            )
            credentials = bootstrap.assume_role(
                RoleArn=f"arn:aws:iam::{account_id}:role/{ADMIN_ROLE_NAME}", RoleSessionName="simulator"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
            self._sessions[account_id] = session
        return session

    def credentials(self, account_id: str) -> ReadOnlyCredentials:
        with self._lock:
            credentials = self._session(account_id).get_credentials()
        assert credentials is not None
        return credentials.get_frozen_credentials()

    def client(self, service: str, account_id: str, region: str | None = None) -> Any:
        """A client for `service` in `account_id` (boto3 clients are thread-safe)."""
        key = (service, account_id, region or self.region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                session: Any = self._session(account_id)
                client = session.client(
                    service,
                    endpoint_url=self.moto_url,
                    region_name=region or self.region,
                    config=_CLIENT_CONFIG,
                )
                self._clients[key] = client
            return client

    def client_for_key(self, service: str, access_key_id: str, region: str) -> Any:
        """A client that moto attributes to the same account as `access_key_id` (a caller's key)."""
        key = (service, "key:" + access_key_id, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                factory: Any = boto3.client
                client = factory(
                    service,
                    endpoint_url=self.moto_url,
                    region_name=region,
                    aws_access_key_id=access_key_id,
                    aws_secret_access_key="unused-moto-does-not-check-signatures",
                    config=_CLIENT_CONFIG,
                )
                self._clients[key] = client
            return client
