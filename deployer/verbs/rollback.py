"""`rollback`: the original CDK design's `cdk deploy --all -c image_tag=SHA`. Only the stacks that run the
image, through the engine's change-set flow like any deploy, once the tag is known to be in ECR."""

from __future__ import annotations

import argparse

import contract
from deployer.engine import flow, plan, preflight, schedule
from deployer.engine.outcome import Mode
from deployer.errors import EXIT_OK, BadInput, DeployError
from deployer.verbs import ecs_service
from deployer.verbs.verb import Verb, add_yes, image_tag, require_terminal_or_yes


def rollback_cmd(ctx, args) -> int:
    """The original CDK design's `cdk deploy --all -c image_tag=SHA`: only the stacks that run the image,
    through a change set like any deploy, once the tag is known to be in ECR."""
    tag = ctx.params["image_tag"]  # --image-tag, checked by the schema's rule as it was parsed
    require_terminal_or_yes(ctx, args.yes, "roll back")
    aws = ctx.aws()
    me = preflight.identity(aws)
    repository = contract.resource_name("repository", ctx.params.project)
    state = preflight.image_state(aws.client("ecr"), repository, tag)
    if state != "present":
        recent = recent_tags(aws.client("ecr"), repository) if state == "missing" else []
        where = f"{me.account}/{aws.region}"
        if recent:
            raise BadInput(f"--image-tag {tag} is not in ECR repository {repository} ({where}); "
                           f"allowed, newest first: {', '.join(recent)}")
        what = "has no tagged image" if state == "missing" else "does not exist"
        raise BadInput(f"--image-tag {tag}: ECR repository {repository} ({where}) {what}")
    cluster, service = ecs_service.names(ctx.params.project)
    current = ecs_service.describe(aws.client("ecs"), cluster, service)
    if current is not None:
        running = ecs_service.image_tag(ecs_service.image(aws.client("ecs"), current.task_definition))
        ctx.out.line(f"image tag: {running or '?'} -> {tag}")
    selected = [s for s in ctx.graph if s.key in preflight.IMAGE_STACKS]
    try:
        plans = plan.build(ctx.params, selected, ctx.graph)
    except ValueError as exc:  # a template bug, as in cli.main
        raise DeployError(f"template error: {exc}") from None
    run = flow.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=Mode.EXECUTE,
                   poll_delay=ctx.poll_delay, image_tag=tag)
    if not args.yes:
        run.confirm = lambda p, cs: ctx.out.ask(f"[{p.key}] execute change set {cs.name} on {p.name}? [y/N] ")
    results = schedule.run_graph(run, flow.settle_access(run, plans))
    for r in results:
        ctx.out.line(f"{r.key}: {r.outcome}", r.key)
    failed = [r for r in results if not r.ok]
    if failed:
        raise DeployError("rollback failed: " + "; ".join(f"{r.key}: {r.message or r.outcome}" for r in failed))
    # A later deploy without --image-tag keeps the running tag, so the rollback lasts until someone asks for
    # another image.
    ctx.out.line(f"rolled back to {tag}; later deploys keep it until one passes --image-tag", colour="green")
    return EXIT_OK


def recent_tags(ecr, repository: str, limit: int = 10) -> list[str]:
    images = [i for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository,
                                                                          filter={"tagStatus": "TAGGED"})
              for i in page.get("imageDetails", [])]
    images.sort(key=lambda i: i.get("imagePushedAt") or 0, reverse=True)
    return [t for i in images for t in i.get("imageTags", [])][:limit]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-tag", metavar="TAG", type=image_tag, required=True,
                        help="image tag in ECR to run (the commit SHA CI pushed)")
    add_yes(parser, "roll back")


ROLLBACK = Verb("rollback", rollback_cmd, "deploy compute with an image tag that is in ECR, via a change set",
                ("python deploy.py prod rollback --image-tag 0123abc",
                 "python deploy.py prod rollback --image-tag 0123abc --yes"),
                _options, notes="It lasts: a later deploy without --image-tag keeps the running tag.")
