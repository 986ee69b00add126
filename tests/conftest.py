import os
import sys
from pathlib import Path

import boto3
import pytest

# Run as `.venv/bin/python -m pytest` (no activated virtualenv), the tools it installed (uvicorn, hadolint)
# are found beside the interpreter, as an activated virtualenv would find them.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/*.yaml from the current templates instead of comparing",
    )


@pytest.fixture(scope="session")
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture
def no_aws(monkeypatch):
    """Any attempt to reach AWS fails the test: pass it as the CLI's connect seam; boto3 itself refuses too."""

    def forbidden(*_a, **_k):
        raise AssertionError("an AWS client was built for bad input")

    monkeypatch.setattr(boto3.session.Session, "client", forbidden)
    monkeypatch.setattr(boto3, "client", forbidden)
    return forbidden


@pytest.fixture
def stubbed_aws_env(monkeypatch):
    """Dummy credentials, no profile and no endpoint: for clients that botocore's Stubber answers (a stubbed
    call never leaves the process, but building the client still reads them)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
