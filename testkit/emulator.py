"""Start and stop a LocalStack of our own (the deployer tests and bench/deploy_noop.py share this).

LocalStack comes from the virtualenv ``.tools/localstack`` that scripts/setup.sh
makes (Python 3.13, no Docker). It gets a free port on 127.0.0.1, a
FILESYSTEM_ROOT of its own and a self-signed certificate, and is started
through localstack_main.py, which applies a parity patch (see there).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from testkit.tools import free_port

ROOT = Path(__file__).resolve().parents[1]
LOCALSTACK_PYTHON = ROOT / ".tools" / "localstack" / "bin" / "python"
READY_TIMEOUT = 60  # s; it is ready in ~2-5 s


class Unavailable(RuntimeError):
    """LocalStack cannot be run here; the message says why."""


def healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def localstack():
    """Yields the endpoint URL of a LocalStack started for the duration of the block."""
    if not LOCALSTACK_PYTHON.exists():
        raise Unavailable(f"{LOCALSTACK_PYTHON} not found: run bash scripts/setup.sh")
    if not shutil.which("openssl"):
        raise Unavailable("openssl not found (needed for LocalStack's certificate)")
    workdir = Path(tempfile.mkdtemp(prefix="localstack-"))
    proc = None
    try:
        key, cert = workdir / "key.pem", workdir / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
        pem = workdir / "server.pem"  # LocalStack wants the key, then the certificate, in one file
        pem.write_bytes(key.read_bytes() + cert.read_bytes())
        (workdir / "fs").mkdir()
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(GATEWAY_LISTEN=f"127.0.0.1:{port}", FILESYSTEM_ROOT=str(workdir / "fs"),
                   CUSTOM_SSL_CERT_PATH=str(pem), SKIP_SSL_CERT_DOWNLOAD="1", DISABLE_EVENTS="1")
        log_path = workdir / "localstack.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([str(LOCALSTACK_PYTHON), str(Path(__file__).with_name("localstack_main.py"))],
                                    env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        deadline = time.monotonic() + READY_TIMEOUT
        while not healthy(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"LocalStack did not start on {endpoint}:\n"
                                  + log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        yield endpoint
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


# What the deployer under test reads: dummy credentials and one region.
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
CLEARED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "GITHUB_STEP_SUMMARY")
