"""The Dockerfile's CMD run on the host (no Docker engine here), from the repo root, which maps the
image's WORKDIR; only the port changes (8000 may be taken on a shared machine)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.tools import ROOT, free_port

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def only(name: str) -> str:
    found = [args for word, args in instructions() if word == name]
    assert found, f"no {name} in the Dockerfile"
    return found[-1]


def cmd() -> list[str]:
    command = json.loads(only("CMD"))
    assert isinstance(command, list) and all(isinstance(a, str) for a in command)
    return command


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def records(self) -> list[dict]:
        return [json.loads(ln) for ln in self.log_path.read_text().splitlines() if ln.strip()]


@contextlib.contextmanager
def dockerfile_server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """The CMD with ``env`` (plus PATH and HOME), answering ``GET /``; stopped with SIGTERM (as ECS
    stops a task) when the block ends, so shutdown work (a trace flush) happens before it returns."""
    command = cmd()
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    assert shutil.which(command[0]), f"{command[0]} is not installed (pip install -r app/requirements.txt)"
    full_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        server = Server(port, proc, log_path)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"{server.url}/", timeout=2) as response:
                        assert response.status == 200
                    break
                except OSError:
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "server did not answer in 20 s:\n" + log_path.read_text()
                    time.sleep(0.1)
            yield server
        finally:
            proc.terminate()
            proc.wait(timeout=30)
