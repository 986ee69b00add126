"""The one way tests and benchmarks run deploy.py: its real ``main()``, in-process, with only the AWS behind
it swapped, returning the exit code, what it printed on stdout and stderr, and every AWS API call made.

``run`` is AWS-agnostic: the endpoint is whatever the environment says (moto's in-process mock, or a
LocalStack through AWS_ENDPOINT_URL); ``clients`` put stubbed clients (botocore Stubber) in place of the
session's, ``hooks`` register botocore event handlers on the session. ``run_emulated`` adds what community
LocalStack lacks: ECR DescribeImages / BatchGetImage / PutImage / DescribeRepositories /
DescribeImageScanFindings and CloudFormation
SetStackPolicy / GetStackPolicy answered at the HTTP boundary.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass, field

from deployer import aws as aws_module
from deployer import cli
from deployer.engine import image
from deployer.output import Printer
from deployer.verbs import verb
from templates import params
from testkit import fakes
from testkit.tools import ROOT

__all__ = ["ROOT", "Outcome", "run", "run_emulated"]

# Answered as an endpoint without it answers, unless a test passes its own hook for it.
DESCRIBE_EVENTS = "before-send.cloudformation.DescribeEvents"


@dataclass
class Outcome:
    code: int
    out: str  # stdout: the printer's lines, prompts, --help
    err: str  # stderr: "deploy.py: error: ..."
    calls: fakes.Calls  # "service.Operation", in order
    sessions: list = field(default_factory=list)

    def count(self, name: str) -> int:
        return self.calls.count(name)


# The accounts the emulators answer STS as (LocalStack's fixed one; moto's default, or MOTO_ACCOUNT_ID).
LOCALSTACK_ACCOUNT = "000000000000"
MOTO_ACCOUNT = "123456789012"
EMULATED = "emulated"  # run()'s default account: the one the AWS behind the test answers as


def emulated_account() -> str:
    if os.environ.get("AWS_ENDPOINT_URL"):
        return LOCALSTACK_ACCOUNT
    return os.environ.get("MOTO_ACCOUNT_ID", MOTO_ACCOUNT)


def pinned_to(argv, account: str | None) -> list[str]:
    """``argv`` run as an operator whose params file pins the account the test's AWS is (the repository's
    files hold a placeholder there, which the deployer refuses); ``account=None`` leaves argv as it is."""
    argv = list(argv)
    if account is None or not argv or any(a in ("-h", "--help") for a in argv):
        return argv
    return [*argv, "-p", f"account_id={emulated_account() if account == EMULATED else account}"]


# run()'s default promotion source: prod's gate says it assumes the image promoted and reads no staging ledger
# (a test of something else has none). A dict instead: the real gate, the source's params file with these values
# (its account: the one the test made its ledger in); None: the real gate, the files as they are.
ASSUMED = "assumed"


class AssumedPromotion(verb.Promotion):
    """The gate of ``source=ASSUMED``: it says it assumed the image promoted, and reads nothing."""

    def check(self, ref, deployed) -> None:
        self._say(f"image {image.short(ref.digest)}: promotion from {self.source_env} assumed (test harness)")

    def check_plan(self, doc: dict) -> None:
        self._say(f"promotion from {self.source_env} assumed (test harness)")


def _source_params(source: dict | None):
    if source is None:
        return None
    return lambda env: params.load_params(env, [f"{k}={v}" for k, v in source.items()])


def run(argv, *, graph=None, clients: dict | None = None, hooks=(), stdin=None, stdin_tty: bool | None = None,
        summary_path: str | None = "", poll_delay: float = 0.05, account: str | None = EMULATED,
        source: dict | str | None = ASSUMED) -> Outcome:
    """deploy.py main() with ``argv``. ``stdin`` (a file-like object) is sys.stdin during the call; whether it
    is a terminal is its isatty() unless ``stdin_tty`` says otherwise (no stdin given: not a terminal).
    ``account``: the account_id the run's params pin (``pinned_to``); unless ``clients`` has its own STS,
    GetCallerIdentity answers as that account (tests whose AWS is a Stubber have no STS to ask). ``source``:
    the promotion gate's source (``ASSUMED``)."""
    argv = pinned_to(argv, account)
    calls = fakes.Calls()
    sessions: list = []

    def connect(region: str) -> aws_module.Aws:
        aws = aws_module.Aws(region, clients=clients)
        calls.attach(aws.session)
        for c in (clients or {}).values():
            c.meta.events.register_first("before-call.*.*", calls.hook)  # ahead of Stubber, which answers there
        if account is not None and "sts" not in (clients or {}):
            aws.session.events.register("before-send.sts.GetCallerIdentity", fakes.caller_identity(
                emulated_account() if account == EMULATED else account))
        for event, handler in hooks:
            aws.session.events.register(event, handler)
        if not any(event == DESCRIBE_EVENTS for event, _ in hooks):
            aws.session.events.register(DESCRIBE_EVENTS, fakes.describe_events_unavailable)
        sessions.append(aws)
        return aws

    if stdin_tty is None:
        stdin_tty = bool(stdin is not None and stdin.isatty())
    printed, out, err = io.StringIO(), io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    try:
        if stdin is not None:
            sys.stdin = stdin
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv), graph=graph, connect=connect,
                            out=Printer(printed, colour=False, summary_path=summary_path),
                            poll_delay=poll_delay, stdin_tty=stdin_tty,
                            promotion_gate=AssumedPromotion if source == ASSUMED else None,
                            source_params=None if source == ASSUMED else _source_params(source))
    finally:
        sys.stdin = saved_stdin
    return Outcome(code, printed.getvalue() + out.getvalue(), err.getvalue(), calls, sessions)


# The stack policies the LocalStack runs set, and the images they deploy, kept between runs as AWS keeps them
# (stack and repository names are unique per test).
STACK_POLICIES = fakes.StackPolicies()
REGISTRY = fakes.Registry()


def run_emulated(argv, image_exists: bool = True, extra_hooks=(), scan=None, **kwargs) -> Outcome:
    """``run`` against LocalStack: ECR and stack policies (not in community LocalStack) answered as AWS would,
    the images in ``REGISTRY`` (any tag asked for is there; ``image_exists=False``: none at all, as if the
    lifecycle had expired every image), their scan (``scan``: a ``fakes.ecr_scan_findings`` hook; default
    complete, no findings), and no repository to adopt."""
    registry = REGISTRY if image_exists else fakes.Registry(any_tag=False)
    hooks = [*registry.hooks,
             ("before-send.ecr.DescribeRepositories", fakes.ecr_repository(exists=False)),
             ("before-send.ecr.DescribeImageScanFindings", scan or fakes.ecr_scan_findings()),
             ("before-send.cloudformation.SetStackPolicy", STACK_POLICIES.set_policy),
             ("before-send.cloudformation.GetStackPolicy", STACK_POLICIES.get_policy), *extra_hooks]
    return run(argv, hooks=hooks, poll_delay=kwargs.pop("poll_delay", 0.1), **kwargs)
