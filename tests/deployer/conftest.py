"""LocalStack for the deployer's integration tests: one emulator per test session.

- ``AWS_ENDPOINT_URL`` already set: that endpoint is used (your own LocalStack).
- otherwise one is started from ``.tools/localstack`` (emulator.py) and stopped at the end.
- cannot run: skipped on a workstation, FAILED in CI (CI=true): an emulator that
  silently does not run would turn the suite green for nothing.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

from testkit import emulator


def _unavailable(reason: str):
    if os.environ.get("CI"):  # the suite's rule (tests/tools.py): missing skips locally, fails in CI
        pytest.fail(f"LocalStack is required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def localstack_endpoint():
    """The endpoint URL of a running LocalStack: the user's, or one started for this session."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        if not emulator.healthy(endpoint):
            _unavailable(f"AWS_ENDPOINT_URL={endpoint} does not answer /_localstack/health")
        yield endpoint
        return
    with contextlib.ExitStack() as stack:
        try:
            endpoint = stack.enter_context(emulator.localstack())
        except emulator.Unavailable as exc:
            _unavailable(str(exc))
        yield endpoint


@pytest.fixture
def localstack(localstack_endpoint, monkeypatch):
    """Point boto3 at LocalStack, with dummy credentials, for one test only (other suites keep their AWS)."""
    for k, v in {**emulator.CLIENT_ENV, "AWS_ENDPOINT_URL": localstack_endpoint}.items():
        monkeypatch.setenv(k, v)
    for k in emulator.CLEARED_ENV:
        monkeypatch.delenv(k, raising=False)
    return localstack_endpoint


@pytest.fixture
def project() -> str:
    """A project name of its own per test: its stacks and exports never meet another test's."""
    return "t" + uuid.uuid4().hex[:8]
