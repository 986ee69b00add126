"""What a verb of deploy.py is (``Verb``), and the pieces several verbs share: argument types that turn bad
input into one argparse error, and the checks that need no AWS.

Verbs never import each other: what two of them need (a compute output, a restart, the word for a stack that
is not there) is here, over the engine.

A verb is one entry of the table in deployer/cli.py: its name, its handler ``(Context, args) -> exit
code``, one line of help, its own options (``arguments``), and examples that ``--help`` prints. A test
walks the table and runs every verb's ``--help``, so a verb without an example cannot be added.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass

import contract
from deployer.engine import ecs_service, stacks
from deployer.errors import BadInput, DeployError
from templates.params import BY_KEY as PARAM_SCHEMA
from templates.params import ParamError

NOT_DEPLOYED = "NOT DEPLOYED"  # a stack's status, in the tables, when it does not exist


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Verb:
    name: str
    handler: Callable  # (Context, argparse.Namespace) -> exit code
    help: str  # one line, shown in `deploy.py --help` and at the top of `deploy.py ENV VERB --help`
    examples: tuple[str, ...]  # whole command lines: "python deploy.py prod status"
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    renders: bool = False  # renders the templates (and takes --stacks): deploy, diff
    calls_aws: bool = True  # False only for a verb that reads the params alone (cost): placeholders pass
    notes: str = ""  # more text after the help line


# ---- argument types: an ArgumentTypeError is one line, "argument --x: ..." ----

MAX_WAIT_SECONDS = 3600


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value <= MAX_WAIT_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: seconds, more than 0 and at most "
                                         f"{MAX_WAIT_SECONDS}")
    return value


def image_tag(text: str) -> str:
    """--image-tag, checked by the parameter schema's own rule for image_tag."""
    try:
        return PARAM_SCHEMA["image_tag"].parse(text, from_cli=True)
    except ParamError:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: "
                                         f"{PARAM_SCHEMA['image_tag'].allowed_text()}") from None


def image_digest(text: str) -> str:
    """--image-digest: sha256: and 64 lowercase hex digits, as ECR and `docker push` print it."""
    if not re.fullmatch(contract.IMAGE_DIGEST_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: an image digest, sha256: followed by "
                                         "64 lowercase hex digits (as `docker push` prints it)")
    return text


def add_image_options(parser: argparse.ArgumentParser, required: bool, tag_help: str) -> None:
    """--image-tag TAG | --image-digest sha256:... (one of them, or neither unless ``required``)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--image-tag", metavar="TAG", type=image_tag, help=tag_help)
    group.add_argument("--image-digest", metavar="sha256:...", type=image_digest,
                       help="the same, by the image's digest (what the pipeline's build hands on); not with "
                            "--image-tag")


def add_yes(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--yes", "-y", action="store_true", help=f"{what} without asking (needed without a terminal)")


# ---- checks before AWS ----

def require_terminal_or_yes(ctx, yes: bool, what: str) -> None:
    """Nobody can answer a question without a terminal: rather than guess, say which flag means yes."""
    if not yes and not ctx.interactive:
        raise BadInput(f"no terminal to confirm on; pass --yes to {what} without asking")


def say(ctx, stack: str | None = None) -> Callable[[str], None]:
    return lambda text: ctx.out.line(text, stack)


# ---- what several verbs do over the engine ----

def compute_output(cfn, project: str, output: str) -> str:
    """One output of the compute stack, or raise naming what is missing."""
    name = contract.stack_name(project, contract.COMPUTE)
    deployed = stacks.describe(cfn, name)
    if deployed is None:
        raise DeployError(f"stack {name} is not deployed; deploy it first")
    if output not in deployed.outputs:
        raise DeployError(f"stack {name} ({deployed.status}) has no output {output}; "
                          f"it has: {', '.join(sorted(deployed.outputs)) or 'none'}")
    return deployed.outputs[output]


def restart_service(ctx) -> None:
    """Force a new deployment of the API's service and wait until its new tasks serve (restart, secrets)."""
    cluster, service = ecs_service.names(ctx.params.project)
    ecs_service.restart(ctx.aws().client("ecs"), cluster, service, say(ctx))
