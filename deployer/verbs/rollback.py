"""`rollback`: the original CDK design's `cdk deploy --all -c image_tag=SHA`. Only the stacks that run the
image, through the engine's change-set flow like any deploy, once the image is known to be in ECR: a tag is
resolved once to the digest it names, and the digest is what runs (``--image-digest`` names one directly)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import contract
from deployer.engine import ecr, flow, image, ledger, plan, preflight, schedule, stacks
from deployer.engine.outcome import Mode
from deployer.errors import EXIT_OK, BadInput, DeployError
from deployer.verbs import verb
from deployer.verbs.verb import Verb, add_image_options, add_yes, require_terminal_or_yes


def rollback_cmd(ctx, args) -> int:
    """The original CDK design's `cdk deploy --all -c image_tag=SHA`: only the stacks that run the image,
    through a change set like any deploy, once the image is known to be in ECR (its tag resolved once, to the
    digest that runs)."""
    require_terminal_or_yes(ctx, args.yes, "roll back")
    aws = ctx.aws()
    me = ctx.identity()
    own = released_here(ctx, aws, me)
    if ctx.image is None:  # no --image-tag nor --image-digest: the last good release's image, by its digest
        ctx.image = image.Request(digest=last_good_digest(ctx, aws, me, own))
    selected = [s for s in ctx.graph if s.key in preflight.IMAGE_STACKS]
    try:
        plans = plan.build(ctx.params, selected, ctx.graph)
    except ValueError as exc:  # a template bug, as in cli.main
        raise DeployError(f"template error: {exc}") from None
    run = flow.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=Mode.EXECUTE,
                   poll_delay=ctx.poll_delay, image_request=ctx.image)
    # An image this environment released is let through (it was promoted then); any other is checked.
    gate = verb.promotion_gate(ctx, aws, ledger.by_digest(own or []))
    run.promote = gate.check if gate else None
    try:  # the image first: one not in ECR is refused before any stack is read
        plans = flow.settle_access(run, flow.settle_image(run, plans, strict=True))
    except image.NotInEcr as exc:
        raise BadInput(_not_in_ecr(ctx, aws, me, exc)) from None
    if not args.yes:
        run.confirm = lambda p, cs: ctx.out.ask(f"[{p.key}] execute change set {cs.name} on {p.name}? [y/N] ")
    bucket = verb.require_ledger(ctx, aws, me, strict=False)
    started = datetime.now(UTC)
    results = schedule.run_graph(run, plans)
    for r in results:
        ctx.out.line(f"{r.key}: {r.outcome}", r.key)
    if any(r.change_set is not None or not r.ok for r in results):
        verb.record(ctx, aws, me, bucket, results=results, started=started, plan_digest="", accepted=(),
                       classes=[], image=verb.image_of(run), parameters={p.key: p.parameters for p in plans},
                       verb="rollback", promoted_from=gate.promoted_from if gate else None)
    failed = [r for r in results if not r.ok]
    if failed:
        raise DeployError("rollback failed: " + "; ".join(f"{r.key}: {r.message or r.outcome}" for r in failed))
    flow.keep_released(run, results)
    # A later deploy without --image-tag keeps the running digest, so the rollback lasts until someone asks for
    # another image.
    ctx.out.line(f"rolled back to {run.image.show()}; later deploys keep it until one passes --image-tag",
                 colour="green")
    return EXIT_OK


def released_here(ctx, aws, me) -> list[dict] | None:
    """This environment's release records, read once: what a rollback without a tag goes back to, and (where a
    promotion source gates the image) the images it released itself. None: there is no ledger. Read only where
    one of the two needs it."""
    if ctx.image is not None and contract.promotion_source(ctx.params.env) is None:
        return None
    bucket = ledger.bucket_name(ctx.params.project, me.account, aws.region)
    if not ledger.exists(aws.client("s3"), bucket, me.account):
        return None
    return ledger.records(aws.client("s3"), bucket, me.account, ctx.params.env)


def last_good_digest(ctx, aws, me, found: list[dict] | None) -> str:
    """The image of the newest release the ledger records as succeeded, other than the one running (by digest:
    a tag may have moved since, the digest names what ran)."""
    bucket = ledger.bucket_name(ctx.params.project, me.account, aws.region)
    if found is None:
        raise BadInput(f"no release ledger ({bucket} does not exist): name the image with --image-tag")
    deployed = stacks.describe(aws.cfn, contract.stack_name(ctx.params.project, contract.COMPUTE))
    running = deployed.parameters.get(image.DIGEST_PARAMETER) if deployed else None
    last = ledger.last_successful(found, running)
    if last is None:
        raise BadInput(f"the release ledger of {ctx.params.env} has no successful release of an image other than "
                       f"the running one ({running or 'none'}): name the image with --image-tag")
    ctx.out.line(f"last good release: {last['started']} ran {last['image'].get('tag') or '?'} "
                 f"({last['image']['digest']})")
    return last["image"]["digest"]


def _not_in_ecr(ctx, aws, me: preflight.Identity, exc: image.NotInEcr) -> str:
    """The one-line refusal of an image that is not in ECR, with the newest tags that are."""
    request = ctx.image
    repository = contract.resource_name("repository", ctx.params.project)
    where = f"{me.account}/{aws.region}"
    option = "--image-tag" if request.tag is not None else "--image-digest"
    value = request.tag if request.tag is not None else request.digest
    if exc.state == preflight.NO_REPOSITORY:
        return f"{option} {value}: ECR repository {repository} ({where}) does not exist"
    recent = ecr.recent_tags(aws.client("ecr"), repository)
    if recent:
        return f"{option} {value} is not in ECR repository {repository} ({where}); allowed, newest first: " \
            + ", ".join(recent)
    return f"{option} {value}: ECR repository {repository} ({where}) has no tagged image"


def _options(parser: argparse.ArgumentParser) -> None:
    add_image_options(parser, required=False, tag_help="image tag in ECR to run (the commit SHA CI pushed), "
                                                        "resolved once to the digest that runs; without it (or "
                                                        "--image-digest), the last successful release's image")
    add_yes(parser, "roll back")


ROLLBACK = Verb("rollback", rollback_cmd, "deploy compute with an image that is in ECR, by digest, via a change set",
                ("python deploy.py prod rollback", "python deploy.py prod rollback --image-tag 0123abc",
                 "python deploy.py prod rollback --image-tag 0123abc --yes",
                 "python deploy.py prod rollback --image-digest sha256:" + "0" * 64 + " --yes"),
                _options, notes="It lasts: a later deploy without --image-tag keeps the running digest.")
