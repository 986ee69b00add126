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
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

import contract
from deployer.engine import changesets, ecs_service, flow, ledger, plan_file, risk, stacks
from deployer.engine.outcome import Outcome, Result
from deployer.engine.plan import PROTECTED_ENVIRONMENTS, StackPlan
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


# ---- what the verbs that release share: the risk gate, the release ledger, the stack options ----

EXECUTED = (Outcome.CREATED, Outcome.UPDATED, Outcome.ADOPTED, Outcome.ADOPTED_UPDATED)


def image_of(run: flow.Run) -> dict:
    """The image the run deploys, by digest (and the tag that named it); {} when no stack runs it."""
    return {"tag": run.image.tag, "digest": run.image.digest} if run.image is not None else {}


def risk_gate(ctx, accepted: tuple[str, ...]) -> Callable[[StackPlan, changesets.ChangeSet, object], None]:
    """Each change set's risk classes before it runs: accepted by --accept, else asked per class on a terminal;
    without one, a class not accepted refuses the change set (it is deleted)."""
    granted = set(accepted)

    def gate(p: StackPlan, cs: changesets.ChangeSet, deployed) -> None:
        changes = [plan_file.change_record(item) for item in cs.described]
        found = risk.change_findings(p.key, cs.type, changes)
        if cs.type == "UPDATE" and deployed is not None:
            found += risk.parameter_findings(p.key, plan_file.parameter_changes({"parameters": deployed.parameters},
                                                                                 p.parameters))
        for cls in risk.classes(found):
            if cls in granted:
                continue
            why = "; ".join(f"{f.subject}: {f.reason}" for f in found if f.risk == cls)
            if ctx.interactive and ctx.out.ask(f"[{p.key}] change set {cs.name} is {cls} ({why}); accept "
                                               f"{cls}? [y/N] "):
                granted.add(cls)
                continue
            raise DeployError(f"{p.name}: change set {cs.name} carries risk class {cls} ({why}), not accepted; "
                              f"deleted, nothing changed; deploy again with --accept {cls} once it is approved")

    gate.granted = granted  # what the run accepted, for its ledger record
    return gate


def require_ledger(ctx, aws, me, strict: bool = True) -> str | None:
    """The ledger bucket a release is recorded in; None (said) where it does not exist. An apply (``strict``)
    in a protected environment refuses to release without one, before anything runs; a `deploy` (the operator's
    and the first deploy's path, which may come before the CI access stack) says it is not recorded."""
    bucket = ledger.bucket_name(ctx.params.project, me.account, aws.region)
    if ledger.exists(aws.client("s3"), bucket, me.account):
        return bucket
    if strict and ctx.params.env in PROTECTED_ENVIRONMENTS:
        raise DeployError(f"release ledger bucket {bucket} does not exist: {ctx.params.env} releases must be "
                          "recorded; an admin deploys the CI access stack (`deploy.py "
                          f"{ctx.params.env} --stacks github-oidc`) first")
    ctx.out.line(f"no release ledger ({bucket} does not exist: the CI access stack is not deployed); this release "
                 "is not recorded", colour="yellow")
    return None


def record(ctx, aws, me, bucket: str | None, *, results: list[Result], started: datetime, plan_digest: str,
           accepted, classes, image: dict, parameters: dict, verb: str = "apply") -> dict:
    ended = datetime.now(UTC)
    ok = all(r.ok for r in results)
    body = {"environment": ctx.params.env, "verb": verb, "plan_digest": plan_digest,
            "change_sets": [{"stack": r.key, "change_set": r.change_set.name if r.change_set else "",
                             "id": r.change_set.id if r.change_set else "", "outcome": str(r.outcome),
                             "message": r.message.splitlines()[0] if r.message else ""} for r in results],
            "image": image, "parameters": parameters, "caller": me.arn, "account": me.account,
            "region": aws.region, "ci": ledger.ci_context(), "accepted": sorted(accepted), "risk_classes": classes,
            "started": started.isoformat(timespec="milliseconds"), "ended": ended.isoformat(timespec="milliseconds"),
            "result": ledger.SUCCEEDED if ok else ledger.FAILED}
    body["record_digest"] = plan_file.sha256(body)
    if bucket is None:
        return body
    try:
        key = ledger.append(aws.client("s3"), bucket, me.account, ctx.params.env, body,
                            ctx.params["release_retention_days"])
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"the release ran ({body['result']}) but its ledger record could not be written to "
                          f"{bucket}: {exc}") from None
    ctx.out.line(f"release recorded: s3://{bucket}/{key} ({body['result']})")
    return body




def stack_options(parser: argparse.ArgumentParser) -> None:
    add_image_options(parser, required=False,
                      tag_help="image tag to run (resolved once to its digest, which the task definition names); "
                               "without it compute keeps the image it runs (params' image_tag only on its first "
                               "create)")
    parser.add_argument("--stacks", metavar="a,b", help="only these stacks (optional ones only when named)")
    parser.add_argument("--allow-replace", metavar="LOGICAL_ID", action="append", default=[],
                        help="let the change set replace or delete this protected resource (repeatable): "
                             + ", ".join(sorted({r for ids in contract.PROTECTED_RESOURCES.values() for r in ids})))
