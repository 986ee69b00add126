"""Run deploy.py's main() in-process against whatever AWS_ENDPOINT_URL points at, recording the API calls and
the output, with ECR DescribeImages and DescribeRepositories answered at the HTTP boundary (ECR is not in
community LocalStack)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from deployer import aws as aws_module
from deployer import cli
from deployer.output import Printer
from testkit import fakes

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    code: int
    out: str
    calls: fakes.Calls
    sessions: list = field(default_factory=list)


def run(argv, graph=None, image_exists: bool = True, extra_hooks=(), summary_path: str | None = "", stdin_tty=False):
    calls = fakes.Calls()
    sessions = []

    def connect(region: str) -> aws_module.Aws:
        aws = aws_module.Aws(region)
        calls.attach(aws.session)
        aws.session.events.register("before-send.ecr.DescribeImages", fakes.ecr_image(exists=image_exists))
        aws.session.events.register("before-send.ecr.DescribeRepositories", fakes.ecr_repository(exists=False))
        for event, handler in extra_hooks:
            aws.session.events.register(event, handler)
        sessions.append(aws)
        return aws

    buf = io.StringIO()
    code = cli.main(list(argv), graph=graph, connect=connect, out=Printer(buf, colour=False, summary_path=summary_path),
                    poll_delay=0.1, stdin_tty=stdin_tty)
    return Outcome(code, buf.getvalue(), calls, sessions)
