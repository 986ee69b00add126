"""The Dockerfile: hadolint-clean, and its CMD really serves `/` (no Docker engine here:
the exact CMD runs on the host, from the repo root, which maps the image's WORKDIR)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from importlib import metadata

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.tools import ROOT, free_port, require_tool

from .server import DOCKERFILE, instructions, only


def test_hadolint_has_no_findings():
    hadolint = require_tool("hadolint")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_image_layout():
    base = only("FROM")
    # A slim Python base, pinned by digest: a re-pushed tag cannot change what CI builds.
    assert re.fullmatch(r"python:3\.\d+(\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}", base), base
    steps = instructions()
    words = [w for w, _ in steps]
    # The lock is copied and installed before the code, so code changes reuse the layer.
    req_copy = steps.index(("COPY", "app/requirements.lock /srv/app/requirements.lock"))
    code_copy = steps.index(("COPY", "app /srv/app"))
    install = next(i for i, (w, a) in enumerate(steps) if w == "RUN" and "pip install" in a)
    assert req_copy < install < code_copy
    assert only("WORKDIR") == "/srv"  # so /srv/app is the repo's app/, and the CMD runs from the repo root
    user = only("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert words.index("USER") > code_copy
    assert only("EXPOSE") == "8000"
    assert "--workers" in json.loads(only("CMD"))


def test_dockerignore_keeps_only_the_app():
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    assert "*" in lines and "!app/" in lines
    assert not any(ln.startswith("!") and ln != "!app/" for ln in lines)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, response.read()


def test_cmd_serves_the_health_check(redis_server, tmp_path):
    command = json.loads(only("CMD"))
    assert isinstance(command, list) and all(isinstance(a, str) for a in command)
    port = free_port()
    # Only the port argument changes (8000 may be taken on a shared machine).
    at = command.index("--port")
    command[at + 1] = str(port)
    assert shutil.which(command[0]), f"{command[0]} is not installed (pip install -r app/requirements.txt)"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_DEFAULT_REGION": "us-east-1",
        "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port),
        "REDIS_PASSWORD": redis_server.password,
        "CACHE_ENABLED": "true",
        "REDIS_SSL": "false",
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    status, body = _get(f"http://127.0.0.1:{port}/")
                    break
                except OSError:
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "server did not answer in 20 s:\n" + log_path.read_text()
                    time.sleep(0.1)
            assert status == 200 and json.loads(body) == {"status": "ok"}
            assert json.loads(_get(f"http://127.0.0.1:{port}/health")[1]) == {"status": "ok"}

            # The image's HEALTHCHECK command, pointed at this port, passes.
            check = json.loads(only("HEALTHCHECK").split("CMD", 1)[1])
            check = [arg.replace(":8000/", f":{port}/") for arg in check]
            assert subprocess.run(check, timeout=10).returncode == 0
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    # Logs are structured: every line the server wrote is one JSON object.
    lines = [ln for ln in log_path.read_text().splitlines() if ln.strip()]
    assert lines
    records = [json.loads(ln) for ln in lines]
    assert any(r["message"] == "startup" for r in records)
    assert any(r["message"] == "request" and r["path"] == "/health" and r.get("request_id") for r in records)
    # /health's details are in the log, not in its body.
    assert any(r["message"] == "health" and r["redis"]["status"] == "up" for r in records)


def _requirements(path) -> dict[str, str]:
    """name -> the rest of the line (``==1.2`` / ``>=1.2``), for a requirements file or a lock."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)((?:==|>=)[^ \\;]+)", line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


LOCK = ROOT / "app" / "requirements.lock"
# The image: CPython 3.12 on Linux (the Dockerfile's base), whatever the test environment runs.
IMAGE_MARKERS = {
    "python_version": "3.12", "python_full_version": "3.12.7", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
    "os_name": "posix", "platform_machine": "x86_64", "extra": "",
}


def test_requirements_are_pinned():
    for name, spec in _requirements(ROOT / "app" / "requirements.txt").items():
        if name in ("boto3", "botocore"):
            assert spec.startswith(">="), (name, spec)
        else:
            assert spec.startswith("=="), (name, spec)


def test_the_image_installs_only_the_hashed_lock():
    installs = [args for word, args in instructions() if word == "RUN" and "pip install" in args]
    assert installs == ["pip install --no-cache-dir --require-hashes --no-deps -r /srv/app/requirements.lock"]
    assert not any("requirements.txt" in args for word, args in instructions() if word in ("COPY", "RUN"))


def test_the_lock_pins_every_package_with_hashes():
    text = LOCK.read_text()
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M)
    names = re.findall(r"^[A-Za-z0-9_.-]+\S*", text, re.M)
    assert entries and len(entries) == len(names), "a lock line without hashes, or not an exact pin"


def test_the_lock_holds_requirements_txt_and_everything_it_needs():
    lock = _requirements(LOCK)
    for name, spec in _requirements(ROOT / "app" / "requirements.txt").items():
        assert name in lock, f"{name} is in app/requirements.txt, not in the lock"
        assert Version(lock[name][2:]) in SpecifierSet(spec), (name, spec, lock[name])
    # --no-deps installs nothing the lock does not name: every dependency of every locked package
    # (as the image's Python evaluates the markers) is locked too, at a version it accepts.
    for name, spec in lock.items():
        dist = metadata.distribution(name)
        assert dist.version == spec[2:], f"the tests ran {name} {dist.version}, the lock has {spec}"
        for raw in dist.requires or ():
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate(IMAGE_MARKERS):
                continue
            dep = canonicalize_name(req.name)
            assert dep in lock, f"{name} needs {req}, which the lock does not hold"
            assert req.specifier.contains(lock[dep][2:], prereleases=True), (name, str(req), lock[dep])
