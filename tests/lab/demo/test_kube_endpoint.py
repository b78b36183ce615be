"""The demo serves the Kubernetes endpoint over HTTPS (kubectl sends API tokens only over TLS; the
demo's pages are plain HTTP), with a certificate for 127.0.0.1 from a CA of its own that the
workloads page's kubeconfig trusts, and the same certificate across restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from lab.demo.processes import demo_kube_endpoint, endpoint_certificate
from tests.fixtures.production import free_port


def test_the_certificate_is_issued_once_and_kept(tmp_path: Path) -> None:
    cert, key, ca = endpoint_certificate(tmp_path)
    first = (cert.read_text(), key.read_text(), ca.read_text())
    assert "BEGIN CERTIFICATE" in first[0] and "PRIVATE KEY" in first[1]
    assert key.stat().st_mode & 0o077 == 0  # the key is the demo user's alone
    assert endpoint_certificate(tmp_path) == (cert, key, ca)
    assert (cert.read_text(), key.read_text(), ca.read_text()) == first


def test_the_demo_endpoint_answers_over_https_trusted_by_its_ca(tmp_path: Path) -> None:
    port = free_port()
    command = demo_kube_endpoint(Path(sys.executable).parent, f"127.0.0.1:{port}", tmp_path)
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[3], env=env)
    _, _, ca = endpoint_certificate(tmp_path)
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None:
            assert server.poll() is None, f"the endpoint's gunicorn exited with {server.returncode}"
            try:
                answer = requests.get(f"https://127.0.0.1:{port}/k8s/version", verify=str(ca), timeout=5)
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the endpoint did not answer within a minute"
                time.sleep(0.3)
        # the endpoint itself answered, over TLS verified against the demo's CA (no token: 401 Status)
        assert answer.status_code == 401 and answer.json()["kind"] == "Status"
        # plain HTTP is not served there
        try:
            plain = requests.get(f"http://127.0.0.1:{port}/k8s/version", timeout=5).status_code
        except requests.ConnectionError:
            plain = None
        assert plain != 200
    finally:
        server.terminate()
        server.wait(15)
