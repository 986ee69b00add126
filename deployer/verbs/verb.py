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
from deployer.engine import changesets, ecs_service, flow, image, ledger, plan_file, promotion, risk, stacks
from deployer.engine.outcome import Outcome, Result
from deployer.engine.plan import PROTECTED_ENVIRONMENTS, StackPlan
from deployer.errors import BadInput, DeployError
from templates.params import BY_KEY as PARAM_SCHEMA
from templates.params import ParamError, pins_account

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


# ---- what the verbs that release share: the risk gate, the release ledger, the promotion gate, the stack
# options ----

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
           accepted, classes, image: dict, parameters: dict, verb: str = "apply",
           promoted_from: dict | None = None) -> dict:
    ended = datetime.now(UTC)
    ok = all(r.ok for r in results)
    body = {"environment": ctx.params.env, "verb": verb, "plan_digest": plan_digest,
            "change_sets": [{"stack": r.key, "change_set": r.change_set.name if r.change_set else "",
                             "id": r.change_set.id if r.change_set else "", "outcome": str(r.outcome),
                             "message": r.message.splitlines()[0] if r.message else ""} for r in results],
            "image": image, "parameters": parameters, "caller": me.arn, "account": me.account,
            "region": aws.region, "ci": ledger.ci_context(), "accepted": sorted(accepted), "risk_classes": classes,
            "started": started.isoformat(timespec="milliseconds"), "ended": ended.isoformat(timespec="milliseconds"),
            "result": ledger.SUCCEEDED if ok else ledger.FAILED, "promoted_from": promoted_from}
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



# prod runs only an image staging released successfully (engine/promotion.py reads staging's ledger).

class Promotion:
    """One run's promotion gate (made by ``promotion_gate``): told the image a run resolved (``check``, the
    flow's ``Run.promote``) or the image a plan runs (``check_plan``), it lets an unchanged image through,
    and an image this environment's own ledger records as released (``own``: a rollback's, promoted when it
    ran first), and refuses any other image unless the source's ledger records a successful release of it.
    ``promoted_from`` is that release, for the plan and the ledger record."""

    def __init__(self, ctx, aws, source_env: str, own: dict[str, dict] | None = None):
        self.ctx, self.aws, self.source_env = ctx, aws, source_env
        self.own = own or {}  # digest -> this environment's newest succeeded release of it
        self.promoted_from: dict | None = None

    def source(self) -> promotion.Source:
        """The source's ledger, from its params file; its account's placeholder is refused (nothing could
        prove a promotion from an account nobody named)."""
        try:
            values = self.ctx.source_params(self.source_env)
        except ParamError as exc:
            raise BadInput(f"{self.ctx.params.env} runs only an image {self.source_env} released, and "
                           f"params/{self.source_env}.yaml cannot be read: {exc}") from None
        if not pins_account(values):
            raise BadInput(f"{self.ctx.params.env} runs only an image {self.source_env} released, but "
                           f"params/{self.source_env}.yaml holds the placeholder account_id="
                           f"{values['account_id']!r}: set {self.source_env}'s real account there, so its "
                           "release ledger can be read")
        return promotion.Source.of(self.source_env, values.project, values["account_id"], values["region"])

    def _say(self, text: str, colour: str | None = None) -> None:
        self.ctx.out.line(text, colour=colour)
        self.ctx.out.summary(text)

    def check(self, ref: image.ImageRef, deployed: stacks.Deployed | None) -> None:
        running = ref.digest if ref.source == image.KEPT else self._running(deployed)
        self.require(ref.digest, running)

    def _running(self, deployed: stacks.Deployed | None) -> str | None:
        if deployed is None:  # a given image: the flow did not read the stack that runs it
            deployed = stacks.describe(self.aws.cfn, contract.stack_name(self.ctx.params.project, contract.COMPUTE))
        return image.running(deployed)[0]

    def require(self, digest: str, running: str | None) -> None:
        shown = image.short(digest)
        if digest == running:
            self._say(f"image unchanged ({shown}), not re-checked")
            return
        if digest in self.own:
            release = self.own[digest]
            self._say(f"image {shown} is {self.ctx.params.env}'s own release {release['key']} "
                      f"({promotion.described(release)}): promoted when it ran first, not re-checked")
            return
        source = self.source()
        found = promotion.find(self.aws.client("s3", region=source.region), source, digest)
        if found.release is None:
            newest = (f"its newest successful release runs {found.newest['image']['digest']} "
                      f"({found.newest['key']})" if found.newest else "it records no successful release")
            raise DeployError(f"image {digest} is not promoted: {source.environment}'s release ledger "
                              f"{source.where()} records no successful release of it ({newest}); "
                              f"{self.ctx.params.env} runs only what {source.environment} ran successfully: "
                              f"deploy it to {source.environment} first (refused before the change set of "
                              f"the stack that runs it was made)")
        self.promoted_from = promotion.promoted_from(source, found.release)
        self._say(f"image {shown} promoted from {source.environment} release {found.release['key']} "
                  f"({promotion.described(found.release)})", colour="green")

    def check_plan(self, doc: dict) -> None:
        """A plan's image, at apply: unchanged, or the release its plan was promoted from still proves it."""
        for s in doc["stacks"]:
            if s["key"] not in contract.IMAGE_STACKS:
                continue
            digest = s["parameters"].get(image.DIGEST_PARAMETER)
            running = ((s["state"] or {}).get("parameters") or {}).get(image.DIGEST_PARAMETER)
            if digest is None:
                continue
            if digest == running:
                self._say(f"image unchanged ({image.short(digest)}), not re-checked")
                continue
            named = doc.get("promoted_from")
            if named is None or named.get("digest") != digest:
                raise DeployError(f"the plan moves {s['name']} to image {digest}, but names no "
                                  f"{self.source_env} release of it: {self.ctx.params.env} runs only what "
                                  f"{self.source_env} ran successfully; plan again. Nothing executed.")
            source = self.source()
            try:
                release = promotion.verify(self.aws.client("s3", region=source.region), source, named)
            except DeployError as exc:
                raise DeployError(f"the plan's image {digest} was promoted from {self.source_env} release "
                                  f"{named.get('key')}, which no longer proves it: {exc}; plan again. Nothing "
                                  "executed.") from None
            self.promoted_from = named
            self._say(f"image {image.short(digest)} promoted from {source.environment} release {named['key']} "
                      f"({promotion.described(release)}), checked again", colour="green")


def promotion_gate(ctx, aws, own: dict[str, dict] | None = None) -> Promotion | None:
    """The run's promotion gate; None where the environment has no promotion source (dev, staging)."""
    source_env = contract.promotion_source(ctx.params.env)
    if source_env is None:
        return None
    return (ctx.promotion_gate or Promotion)(ctx, aws, source_env, own)


def stack_options(parser: argparse.ArgumentParser) -> None:
    add_image_options(parser, required=False,
                      tag_help="image tag to run (resolved once to its digest, which the task definition names); "
                               "without it compute keeps the image it runs (params' image_tag only on its first "
                               "create)")
    parser.add_argument("--stacks", metavar="a,b", help="only these stacks (optional ones only when named)")
    parser.add_argument("--allow-replace", metavar="LOGICAL_ID", action="append", default=[],
                        help="let the change set replace or delete this protected resource (repeatable): "
                             + ", ".join(sorted({r for ids in contract.PROTECTED_RESOURCES.values() for r in ids})))
