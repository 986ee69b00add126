"""deploy.py's command line: ``deploy.py ENV [VERB] [-p key=value ...] [options]`` (VERB defaults to deploy).

argparse, one sub-command per verb, built from ``VERBS`` (one entry per verb; the verbs live in
deployer/verbs/). Everything that can be wrong with the input is found before an AWS client exists.

The error convention:
- bad input (an unknown verb, option or value, a bad params file): ``deploy.py: error: ...`` on stderr, one
  line, exit 2, no AWS call;
- a runtime failure (an AWS error, no credentials, a failed stack): ``deploy.py: error: <the cause>`` on
  stderr, exit 1 (the stacks' own progress, failure events included, is on stdout as it happens);
- usage goes to stdout only when asked for (``--help``); a bare ``deploy.py`` prints it on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

import templates
from deployer import aws as aws_module
from deployer.context import Context
from deployer.engine import image, plan, pricing
from deployer.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInput, DeployError
from deployer.output import Printer
from deployer.verbs import cost, deploy, destroy, drift, health, logs, release, restart, rollback, secrets, status
from deployer.verbs.verb import Verb
from templates.params import ParamError, load_params, parse_override, placeholders_left

PROG = "deploy.py"

# One entry per verb, in the order `deploy.py --help` lists them.
VERBS: dict[str, Verb] = {v.name: v for v in (
    deploy.DEPLOY,
    deploy.DIFF,
    deploy.LIST,
    release.PLAN,
    release.APPLY,
    release.RELEASES,
    status.STATUS,
    status.OUTPUTS,
    drift.DRIFT,
    health.HEALTH,
    logs.LOGS,
    rollback.ROLLBACK,
    restart.RESTART,
    secrets.SECRETS,
    destroy.DESTROY,
    cost.COST,
)}
DEFAULT_VERB = deploy.DEPLOY.name

EPILOG = """\
deploy asks before executing each change set; without a terminal (CI) it needs --yes (or --no-execute).
exit codes: 0 done, 1 failed (the cause on stderr), 2 bad input, 3 diff has changes (drift: drifted).
`deploy.py ENV VERB --help` shows a verb's options and examples.

Examples:
  python deploy.py prod --image-tag 0123abc --yes
  python deploy.py prod diff
  python deploy.py prod status
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump: main prints it and exits 2
        raise BadInput(message)


def _verb_epilog(verb: Verb) -> str:
    text = (verb.notes + "\n\n") if verb.notes else ""
    return text + "Examples:\n" + "\n".join(f"  {example}" for example in verb.examples)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog=PROG, usage=f"{PROG} ENV [VERB] [-p key=value ...] [options]",
                  description="Deploy and operate ia-comafi's CloudFormation stacks (environment ENV: "
                              "params/ENV.yaml).", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("env", metavar="ENV", help="environment: params/ENV.yaml")
    verbs = top.add_subparsers(dest="verb", metavar="VERB", title="verbs", parser_class=_Parser)
    for verb in VERBS.values():
        sub = verbs.add_parser(verb.name, help=verb.help, description=verb.help, epilog=_verb_epilog(verb),
                               prog=f"{PROG} ENV {verb.name}", formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("-p", dest="overrides", action="append", default=[], metavar="key=value",
                         help="override a parameter of params/ENV.yaml (repeatable)")
        verb.arguments(sub)
    return top


def usage() -> str:
    return parser().format_help()


def _takes_value(p: argparse.ArgumentParser) -> set[str]:
    """Every option string of every verb that is followed by a value (so a value is never taken for a verb)."""
    found = set()
    for action in p._subparsers._group_actions[0].choices.values():  # noqa: SLF001 (argparse has no public walk)
        for a in action._actions:  # noqa: SLF001
            if a.option_strings and a.nargs != 0:
                found.update(a.option_strings)
    return found


def normalise(argv: Sequence[str], p: argparse.ArgumentParser) -> list[str]:
    """ENV VERB first: ``prod -p k=v diff`` -> ``prod diff -p k=v``; ``prod --yes`` -> ``prod deploy --yes``."""
    argv = list(argv)
    if len(argv) >= 2 and not argv[1].startswith("-") and argv[1] not in VERBS:
        raise BadInput(f"unknown command {argv[1]!r}; allowed: {', '.join(VERBS)}")
    if argv[0].startswith("-"):
        return argv  # -h, or an option where ENV should be: argparse says which
    takes_value = _takes_value(p)
    for i in range(1, len(argv)):
        if argv[i] in VERBS and argv[i - 1] not in takes_value:
            return [argv[0], argv[i], *argv[1:i], *argv[i + 1:]]
    if any(a in ("-h", "--help") for a in argv[1:]) and len(argv) == 2:
        return argv  # `deploy.py prod --help`: the overview
    return [argv[0], DEFAULT_VERB, *argv[1:]]


def prepare(argv: Sequence[str], graph: Sequence[templates.Stack], out: Printer, stdin_tty: bool):
    """Everything before AWS: (verb, args, Context). Raises BadInput (SystemExit for --help)."""
    p = parser()
    args = p.parse_args(normalise(argv, p))
    verb = VERBS[args.verb]
    try:
        params = load_params(args.env, args.overrides)
        takes_image = hasattr(args, "image_tag")
        given = [parse_override(o)[1] for o in args.overrides if parse_override(o)[0] == "image_tag"]
    except ParamError as exc:
        raise BadInput(str(exc)) from None
    if takes_image and given:
        # One way to choose the image: params' image_tag is only compute's first create's.
        raise BadInput(f"-p image_tag={given[-1]} is not allowed here; allowed: --image-tag {given[-1]} "
                       "(or --image-digest sha256:...) to choose the image this run deploys")
    if verb.calls_aws:
        refuse_placeholders(args.env, params.values)
    selected = plan.select(graph, getattr(args, "stacks", None)) if verb.renders else list(graph)
    try:
        plans = pricing.with_budget(plan.build(params, selected, graph), params) if verb.renders else []
    except ParamError as exc:  # another environment's file the stacks' parameters derive from (promotion)
        raise BadInput(str(exc)) from None
    ctx = Context(params=params, graph=graph, selected=selected, plans=plans, out=out, interactive=stdin_tty,
                  image=_image_request(args))
    return verb, args, ctx


def _image_request(args: argparse.Namespace) -> image.Request | None:
    """--image-tag or --image-digest (each checked as argparse parsed it, one at most) as one typed value."""
    tag, digest = getattr(args, "image_tag", None), getattr(args, "image_digest", None)
    return None if tag is None and digest is None else image.Request(tag=tag, digest=digest)


def refuse_placeholders(env: str, values: dict) -> None:
    """A placeholder (templates/params.py) renders, but names nothing real: no AWS call is made with one."""
    left = placeholders_left(values)
    if left:
        shown = ", ".join(f"{key}={values[key]}" for key in left)
        raise BadInput(f"params/{env}.yaml still holds placeholders: {shown}; allowed: your real values, in "
                       f"params/{env}.yaml or as -p key=value, before deploy.py calls AWS")


def _fail(message: str, code: int) -> int:
    lines = str(message).splitlines() or [""]
    print(f"{PROG}: error: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"  {line}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None, *, graph: Sequence[templates.Stack] | None = None,
         connect: Callable[[str], aws_module.Aws] | None = None, out: Printer | None = None,
         poll_delay: float | None = None, stdin_tty: bool | None = None,
         source_params: Callable | None = None, promotion_gate: Callable | None = None) -> int:
    """The keyword arguments are test seams (another stack graph, another AWS); deploy.py passes none."""
    argv = sys.argv[1:] if argv is None else list(argv)
    out = out or Printer()
    if not argv:
        print(usage(), file=sys.stderr, end="")
        return EXIT_BAD_INPUT
    try:
        verb, args, ctx = prepare(argv, graph if graph is not None else templates.STACKS, out,
                                  sys.stdin.isatty() if stdin_tty is None else stdin_tty)
    except SystemExit as exc:  # --help: argparse printed it on stdout
        return exc.code if isinstance(exc.code, int) else 0
    except BadInput as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except ValueError as exc:  # a template that does not fit params.py: a bug in templates/, not bad input
        return _fail(f"template error: {exc}", EXIT_FAILED)
    if connect is not None:
        ctx.connect = connect
    if poll_delay is not None:
        ctx.poll_delay = poll_delay
    if source_params is not None:
        ctx.source_params = source_params
    ctx.promotion_gate = promotion_gate
    try:
        return verb.handler(ctx, args)
    except BadInput as exc:  # found by the verb before it changes anything (a tag not in ECR, no terminal...)
        return _fail(str(exc), EXIT_BAD_INPUT)
    except NoCredentialsError:
        return _fail("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                     EXIT_FAILED)
    except (ClientError, BotoCoreError, DeployError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        _fail("interrupted: an operation CloudFormation already started goes on; see `deploy.py ENV list`", 130)
        return 130
