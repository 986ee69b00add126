"""Live progress (deployer/progress.py): the model's lines for a sequence of events, the live view in a real
pseudo-terminal (the CLI as its own process, LocalStack behind it), and plain lines, unchanged, off a terminal.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from moto import mock_aws
from troposphere import Template, ssm

import templates
from deployer import cli
from deployer.output import Printer
from deployer.progress import Board
from testkit import fakes
from testkit.tools import ROOT

STACK = "AWS::CloudFormation::Stack"
PARAM = "AWS::SSM::Parameter"


def event(logical: str, status: str, type_: str = PARAM, stack: str = "p-solo") -> dict:
    return {"StackName": stack, "LogicalResourceId": logical, "ResourceType": type_, "ResourceStatus": status}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_stack_line_counts_its_change_sets_resources_and_names_the_one_in_progress():
    clock = Clock()
    board = Board(["solo", "after"], clock)
    assert board.rows() == [("solo", "waiting", "", "", "", False), ("after", "waiting", "", "", "", False)]
    board.begin("solo", "executing CREATE", ["A", "B", "C", "D", "E"])
    board.event("solo", event("p-solo", "CREATE_IN_PROGRESS", STACK))
    for logical in ("A", "B", "C"):
        board.event("solo", event(logical, "CREATE_IN_PROGRESS"))
        board.event("solo", event(logical, "CREATE_COMPLETE"))
    board.event("solo", event("D", "CREATE_IN_PROGRESS"))
    clock.now += 65
    assert board.rows()[0] == ("solo", "CREATE_IN_PROGRESS", "3/5", f"D ({PARAM})", "1:05", False)
    # A replacement's old copy is deleted in cleanup: the same resource, counted once.
    board.event("solo", event("A", "DELETE_COMPLETE"))
    board.event("solo", event("D", "CREATE_COMPLETE"))
    board.event("solo", event("E", "CREATE_COMPLETE"))
    board.event("solo", event("p-solo", "CREATE_COMPLETE", STACK))
    assert board.rows()[0][1:4] == ("CREATE_COMPLETE", "5/5", "")
    board.finish("solo", "created")
    clock.now += 30  # the clock stops at the end
    assert board.rows()[0] == ("solo", "created", "5/5", "", "1:05", False)


def test_a_failure_marks_the_line_and_the_end_has_the_last_word():
    board = Board(["solo"], Clock())
    board.begin("solo", "executing UPDATE", ["A", "B"])
    board.event("solo", event("A", "UPDATE_FAILED"))
    board.event("solo", event("p-solo", "UPDATE_ROLLBACK_IN_PROGRESS", STACK))
    assert board.rows()[0][1:3] == ("UPDATE_ROLLBACK_IN_PROGRESS", "1/2") and board.rows()[0][5]
    board.finish("solo", "failed", failed=True)
    assert board.rows()[0][1] == "failed" and board.rows()[0][5]
    # LocalStack shows a DELETE_FAILED for an instant during a delete that then completes: not a failure.
    board.begin("gone", "DELETE_IN_PROGRESS", ["X"])
    board.event("gone", event("X", "DELETE_FAILED"))
    board.finish("gone", "DELETE_COMPLETE")
    board.event("gone", event("p-gone", "DELETE_FAILED", STACK))  # read late
    assert board.rows()[1] == ("gone", "DELETE_COMPLETE", "1/1", "", "0:00", False)


# ---- off a terminal: the lines as ever -------------------------------------------------------------------

def tiny(key: str, params: int, depends_on=()) -> templates.Stack:
    def build() -> Template:
        t = Template()
        for i in range(params):
            # moto wants the Name AWS would generate
            t.add_resource(ssm.Parameter(f"Value{i}", Name=f"/progress/{key}/{i}", Type="String", Value=f"{key}-{i}"))
        return t

    return templates.Stack(key, tuple(depends_on), build)


class Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _normalised(text: str) -> list[str]:
    text = re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", text)
    return re.sub(r"deploy-[0-9a-f-]+", "deploy-ID", text).splitlines()


@pytest.fixture
def moto_env(monkeypatch):
    fakes.moto_without_describe_events(monkeypatch)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GITHUB_STEP_SUMMARY", "NO_COLOR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "TERM": "xterm-256color"}.items():
        monkeypatch.setenv(key, value)


def _deploy(stream, project: str) -> str:
    graph = [tiny("first", 3), tiny("second", 2, ("first",))]
    with mock_aws():
        code = cli.main(["dev", "--yes", "-p", f"project_name={project}"], graph=graph, out=Printer(stream),
                        poll_delay=0, stdin_tty=False)
    assert code == 0, stream.getvalue()
    return stream.getvalue()


@pytest.mark.parametrize(("tty", "env"), [(False, {}), (True, {"NO_COLOR": "1"}), (True, {"TERM": "dumb"})],
                         ids=["pipe", "NO_COLOR", "TERM=dumb"])
def test_off_a_terminal_every_event_is_a_plain_line_and_nothing_is_redrawn(tty, env, moto_env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = _deploy(Stream(tty), "plain")
    assert "\x1b" not in out and "\r" not in out
    lines = _normalised(out)
    for key in ("first", "second"):  # (moto's change sets report the stack's own events only)
        at = lines.index(f"[{key}] executing deploy-ID")
        assert lines[at + 1:at + 4] == [f"[{key}] HH:MM:SS plain-{key} ({STACK}) CREATE_IN_PROGRESS User Initiated",
                                        f"[{key}] HH:MM:SS plain-{key} ({STACK}) CREATE_COMPLETE",
                                        f"[{key}] CREATE_COMPLETE"], out
    assert lines[-4:] == ["Stack   Result", "------  -------", "first   created", "second  created"]
    if env:  # a terminal that cannot (or must not) take colour prints what a pipe prints
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")
        assert _normalised(_deploy(Stream(False), "plain")) == lines


# ---- in a real pseudo-terminal ------------------------------------------------------------------------------

DRIVER = """
import sys
from troposphere import Template, s3, ssm
import templates
from deployer import cli

def stack(key, params, depends_on=(), broken=False):
    def build():
        t = Template()
        for i in range(params):
            t.add_resource(ssm.Parameter(f"Value{i}", Type="String", Value=f"{key}-{i}"))
        if broken:  # S3 refuses the name, as AWS does, with its reason
            bucket = t.add_resource(s3.Bucket("Broken", DependsOn="Value0"))
            bucket.properties["BucketName"] = "Invalid_Bucket_Name!"
        return t
    return templates.Stack(key, tuple(depends_on), build)

graph = [stack("solo", 5), stack("broken", 2, ("solo",), broken=True)]
sys.exit(cli.main(sys.argv[1:], graph=graph, poll_delay=0.2))
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(argv: list[str], env: dict, timeout: float = 120) -> tuple[int, str]:
    """``python -c DRIVER argv`` with a pseudo-terminal (140 x 40) as its stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, *argv], cwd=ROOT, env=env, stdin=follower,
                            stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_live_view_in_a_pseudo_terminal(localstack, project):
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    env.pop("CI", None)
    code, raw = run_in_pty(["dev", "--yes", "-p", f"project_name={project}"], env)
    screen = ANSI.sub("", raw).replace("\r\n", "\n").replace("\r", "\n")  # a redraw starts with a carriage return
    assert code == 1, screen
    assert "\x1b[" in raw  # drawn, not scrolled
    # The live lines: a count out of the change set's resources while the stacks ran...
    assert re.search(r"^solo\s+\S+\s+[0-5]/5\b", screen, re.M), screen
    # ...and, for good at the end, each stack's last line: its result, resources done, time taken.
    final = screen.split("stack    status")[-1]
    assert re.search(r"^solo\s+created\s+5/5\s+\d+:\d\d$", final, re.M), final
    assert re.search(r"^broken\s+failed\s+\d/3\s+\d+:\d\d$", final, re.M), final
    # The failure event stayed on screen, above the live lines; the other events did not scroll past.
    assert re.search(r"^\[broken\] \d\d:\d\d:\d\d Broken \(AWS::S3::Bucket\) CREATE_FAILED .*[Bb]ucket", screen, re.M)
    assert not re.search(r"^\[solo\] .*Value0 \(AWS::SSM::Parameter\) CREATE_COMPLETE", screen, re.M), screen
    # The failed line is drawn in red (SGR 31) by the final render.
    assert re.search(r"\x1b\[[0-9;]*31m\s*broken", raw), raw[-2000:]
