import boto3
import pytest


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
