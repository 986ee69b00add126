"""LocalStack for the deployer's integration tests: one emulator per test session.

- ``AWS_ENDPOINT_URL`` already set: that endpoint is used (your own LocalStack).
- otherwise LocalStack is started from ``.tools/localstack`` (scripts/setup.sh)
  on a free port of 127.0.0.1, with its own FILESYSTEM_ROOT and a self-signed
  certificate, and stopped at the end.
- missing: skipped on a workstation, FAILED in CI (CI=true): an emulator that
  silently does not run would turn the suite green for nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCALSTACK_PYTHON = ROOT / ".tools" / "localstack" / "bin" / "python"
READY_TIMEOUT = 60  # s; it is ready in ~2 s on a warm machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"LocalStack is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def localstack():
    """The endpoint URL of a running LocalStack, with the environment the deployer reads set for the session."""
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    mp = pytest.MonkeyPatch()
    proc = None
    workdir = None
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    try:
        if not endpoint:
            if not LOCALSTACK_PYTHON.exists():
                _unavailable(f"{LOCALSTACK_PYTHON} not found: run bash scripts/setup.sh")
            if not shutil.which("openssl"):
                _unavailable("openssl not found (needed for LocalStack's certificate)")
            workdir = Path(tempfile.mkdtemp(prefix="localstack-"))
            key, cert = workdir / "key.pem", workdir / "cert.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                            cert, "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
            pem = workdir / "server.pem"  # LocalStack wants key then certificate in one file
            pem.write_bytes(key.read_bytes() + cert.read_bytes())
            port = _free_port()
            endpoint = f"http://127.0.0.1:{port}"
            (workdir / "fs").mkdir()
            ls_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            ls_env.update(GATEWAY_LISTEN=f"127.0.0.1:{port}", FILESYSTEM_ROOT=str(workdir / "fs"),
                          CUSTOM_SSL_CERT_PATH=str(pem), SKIP_SSL_CERT_DOWNLOAD="1", DISABLE_EVENTS="1")
            log = open(workdir / "localstack.log", "wb")  # noqa: SIM115 (closed with the process)
            proc = subprocess.Popen([str(LOCALSTACK_PYTHON), str(Path(__file__).with_name("localstack_main.py"))],
                                    env=ls_env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
            deadline = time.monotonic() + READY_TIMEOUT
            while not _healthy(endpoint):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (workdir / "localstack.log").read_text(errors="replace")[-2000:]
                    _unavailable(f"LocalStack did not start on {endpoint}:\n{tail}")
                time.sleep(0.2)
        elif not _healthy(endpoint):
            _unavailable(f"AWS_ENDPOINT_URL={endpoint} does not answer /_localstack/health")
        for k, v in {**env, "AWS_ENDPOINT_URL": endpoint}.items():
            mp.setenv(k, v)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "GITHUB_STEP_SUMMARY"):
            mp.delenv(k, raising=False)
        yield endpoint
    finally:
        mp.undo()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def project() -> str:
    """A project name of its own per test: its stacks and exports never meet another test's."""
    return "t" + uuid.uuid4().hex[:8]

