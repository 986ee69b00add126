"""deploy.py's command line, as data: ``VERBS`` maps each verb to its handler and its own arguments.

    deploy.py ENV [VERB] [-p key=value ...] [verb options]      (VERB defaults to deploy)

Adding a verb is adding one entry to VERBS (and its handler in commands.py).
Everything that can be wrong with the input is found here, before any AWS
client exists: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

import templates
from deployer import aws as aws_module
from deployer.context import Context
from deployer.engine import plan
from deployer.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInput, DeployError
from deployer.output import Printer
from deployer.verbs import deploy as commands
from deployer.verbs import health, logs
from deployer.verbs import operator as day2
from templates.params import ParamError, load_params


@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    options: dict


@dataclass(frozen=True)
class Verb:
    handler: Callable
    help: str
    args: tuple[Arg, ...] = ()
    renders: bool = True  # needs the templates rendered (and --stacks honoured)


IMAGE_TAG = Arg(("--image-tag",), {"metavar": "TAG", "help": "image tag to run (overrides image_tag)"})
STACKS = Arg(("--stacks",), {"metavar": "a,b", "help": "only these stacks (optional ones only when named)"})
NO_EXECUTE = Arg(("--no-execute",), {"action": "store_true",
                                     "help": "create the change sets and leave them for review in the console"})
YES = Arg(("--yes", "-y"), {"action": "store_true", "help": "execute without asking (CI)"})
# Day-2 operator commands' options (deployer/day2.py).
JSON = Arg(("--json",), {"action": "store_true", "help": "JSON on stdout, for scripts"})
HEALTH_TIMEOUT = Arg(("--timeout",), {"metavar": "S", "type": day2.seconds, "default": health.DEFAULT_TIMEOUT,
                                      "help": f"give up after S seconds (default {health.DEFAULT_TIMEOUT})"})
HEALTH_INTERVAL = Arg(("--interval",), {"metavar": "S", "type": day2.seconds, "default": health.INTERVAL,
                                        "help": f"seconds between attempts (default {health.INTERVAL})"})
SINCE = Arg(("--since",), {"metavar": "AGE", "type": day2.since, "default": logs.DEFAULT_SINCE,
                           "help": f"from AGE ago: 30s, 10m, 2h, 1d (default {logs.DEFAULT_SINCE})"})
FOLLOW = Arg(("--follow", "-f"), {"action": "store_true", "help": "keep printing new events until Ctrl-C"})
FILTER = Arg(("--filter",), {"metavar": "PATTERN", "help": "CloudWatch Logs filter pattern"})
ROLLBACK_TAG = Arg(("--image-tag",), {"metavar": "TAG", "help": "image tag in ECR to run (required)"})
SECRETS_ACTION = Arg(("action",), {"nargs": "?", "choices": ("set", "keys"), "help": "set KEY=VALUE ... | keys"})
SECRETS_ASSIGNMENTS = Arg(("assignments",), {"nargs": "*", "metavar": "KEY=VALUE",
                                             "help": "KEY=- reads the value from stdin (not echoed on a terminal)"})
NO_RESTART = Arg(("--no-restart",), {"action": "store_true",
                                     "help": "do not restart the service (tasks keep the old values until restart)"})
DESTROY_YES = Arg(("--yes", "-y"), {"action": "store_true", "help": "destroy without asking for the project name"})

VERBS: dict[str, Verb] = {
    "deploy": Verb(commands.deploy, "deploy the stacks in graph order (the default verb)",
                   (IMAGE_TAG, STACKS, NO_EXECUTE, YES)),
    "diff": Verb(commands.diff, "print what a deploy would change; exit 0 if nothing, 3 if something",
                 (IMAGE_TAG, STACKS)),
    "list": Verb(commands.list_stacks, "stacks, graph level and status", (), renders=False),
    # Day-2 operator commands (deployer/day2.py).
    "status": Verb(day2.status_cmd, "stacks, ECS service, deployments, targets; on trouble why tasks stop "
                   "(exit 1 when something is wrong)", (), renders=False),
    "outputs": Verb(day2.outputs_cmd, "every stack output", (JSON,), renders=False),
    "health": Verb(day2.health_cmd, "GET the API URL until 200, bounded (exit 1 with the last status)",
                   (HEALTH_TIMEOUT, HEALTH_INTERVAL), renders=False),
    "logs": Verb(day2.logs_cmd, "the container log group, like aws logs tail", (SINCE, FOLLOW, FILTER),
                 renders=False),
    "rollback": Verb(day2.rollback_cmd, "deploy compute with an image tag that is in ECR, via a change set",
                     (ROLLBACK_TAG, YES), renders=False),
    "restart": Verb(day2.restart_cmd, "ECS force-new-deployment, then wait until the service is stable", (),
                    renders=False),
    "secrets": Verb(day2.secrets_cmd, "secrets set KEY=VALUE|KEY=- ... (merge, then restart) / secrets keys",
                    (SECRETS_ACTION, SECRETS_ASSIGNMENTS, NO_RESTART), renders=False),
    "destroy": Verb(day2.destroy_cmd, "delete the stacks in reverse order after typing the project name; "
                    "report what was retained", (DESTROY_YES,), renders=False),
}
DEFAULT_VERB = "deploy"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump: the caller prints it and exits 2
        raise BadInput(message)


def _parser(verb_name: str, verb: Verb) -> argparse.ArgumentParser:
    p = _Parser(prog=f"deploy.py ENV {verb_name}", description=verb.help)
    p.add_argument("env", metavar="ENV", help="environment: params/ENV.yaml")
    p.add_argument("-p", dest="overrides", action="append", default=[], metavar="key=value",
                   help="override a parameter (repeatable)")
    for arg in verb.args:
        p.add_argument(*arg.flags, **arg.options)
    return p


def usage() -> str:
    lines = ["usage: deploy.py ENV [VERB] [-p key=value ...] [options]", "", "verbs:"]
    lines += [f"  {name:<8} {verb.help}" for name, verb in VERBS.items()]
    lines += ["", "deploy asks before executing each change set; without a terminal (CI) it needs --yes",
              "(or --no-execute) and refuses to guess.",
              "exit codes: 0 done, 1 failed, 2 bad input, 3 diff has changes",
              "deploy.py ENV VERB -h  shows a verb's options"]
    return "\n".join(lines)


def split_verb(argv: Sequence[str]) -> tuple[str, list[str]]:
    """("diff", ["prod", "-p", "k=v"]) from ["prod", "diff", "-p", "k=v"] or ["prod", "-p", "k=v", "diff"]."""
    argv = list(argv)
    if len(argv) >= 2 and not argv[1].startswith("-") and argv[1] not in VERBS:
        raise BadInput(f"unknown command {argv[1]!r}; allowed: {', '.join(VERBS)}")
    takes_value = {flag for verb in VERBS.values() for arg in verb.args for flag in arg.flags
                   if arg.options.get("action") is None} | {"-p"}
    for i in range(1, len(argv)):
        if argv[i] in VERBS and argv[i - 1] not in takes_value:
            return argv[i], argv[:i] + argv[i + 1:]
    return DEFAULT_VERB, argv


def prepare(argv: Sequence[str], graph: Sequence[templates.Stack], out: Printer, stdin_tty: bool):
    """Everything before AWS: (verb, args, Context). Raises BadInput."""
    verb_name, rest = split_verb(argv)
    verb = VERBS[verb_name]
    args = _parser(verb_name, verb).parse_args(rest)
    overrides = list(args.overrides)
    if getattr(args, "image_tag", None) is not None:
        overrides.append(f"image_tag={args.image_tag}")
    try:
        params = load_params(args.env, overrides)
    except ParamError as exc:
        raise BadInput(str(exc).replace("-p image_tag=", "--image-tag ", 1)) from None
    selected = plan.select(graph, getattr(args, "stacks", None)) if verb.renders else list(graph)
    # Without a terminal nobody can answer "execute?": rather than guess, a
    # non-interactive deploy must say which it means (CI passes --yes).
    if verb_name == "deploy" and not args.yes and not args.no_execute and not stdin_tty:
        raise BadInput("no terminal to confirm on; pass --yes to execute without asking, "
                       "or --no-execute to leave the change sets for review")
    plans = plan.build(params, selected, graph) if verb.renders else []
    ctx = Context(params=params, graph=graph, selected=selected, plans=plans, out=out)
    return verb, args, ctx


def main(argv: Sequence[str] | None = None, *, graph: Sequence[templates.Stack] | None = None,
         connect: Callable[[str], aws_module.Aws] | None = None, out: Printer | None = None,
         poll_delay: float | None = None, stdin_tty: bool | None = None) -> int:
    """The keyword arguments are test seams (another stack graph, another AWS); deploy.py passes none."""
    argv = sys.argv[1:] if argv is None else list(argv)
    out = out or Printer()
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else EXIT_BAD_INPUT
    try:
        verb, args, ctx = prepare(argv, graph if graph is not None else templates.STACKS, out,
                                  sys.stdin.isatty() if stdin_tty is None else stdin_tty)
    except BadInput as exc:
        print(f"deploy.py: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as exc:  # a template that does not fit params.py: a bug in templates/, not bad input
        print(f"deploy.py: template error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if connect is not None:
        ctx.connect = connect
    if poll_delay is not None:
        ctx.poll_delay = poll_delay
    try:
        return verb.handler(ctx, args)
    except NoCredentialsError:
        out.error("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        return EXIT_FAILED
    except (ClientError, BotoCoreError, DeployError) as exc:  # outside a stack's thread (list, pre-flight...)
        out.error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        out.error("interrupted: an operation CloudFormation already started goes on; see `deploy.py ENV list`")
        return 130
