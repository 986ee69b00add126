"""The operator's day-2 verbs of deploy.py (status, outputs, health, logs, rollback, restart, secrets,
destroy): the seed's "Comandos Utiles", "Si Necesitas Cambiar Secrets" and "Rollback" as commands.

Each handler takes the deploy engine's Context and the parsed arguments and returns an exit code, like
those of commands.py; the work is in plain modules (status, health, logs, ecs_service, app_secrets,
destroy). Input that can be checked without AWS is checked before ``ctx.aws()``: argparse types in
cli.py's table, or ``_bad`` here (one line on stderr, exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys

import contract
from deployer.context import Context
from deployer.engine import flow, plan, preflight, schedule, stacks
from deployer.engine.outcome import Mode
from deployer.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, DeployError
from deployer.output import table
from deployer.verbs import destroy as destroy_module
from deployer.verbs import ecs_service, health, logs, status
from deployer.verbs import secrets as app_secrets

# ---- argument types (argparse turns their ArgumentTypeError into cli's one-line BadInput) ----

MAX_HEALTH_TIMEOUT = 3600


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value <= MAX_HEALTH_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: seconds, more than 0 and at most "
                                         f"{MAX_HEALTH_TIMEOUT}")
    return value


def since(text: str) -> int:
    try:
        return logs.parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--since ", "", 1)) from None


def _bad(message: str) -> int:
    print(f"deploy.py: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _interactive() -> bool:
    return sys.stdin.isatty()


def _say(ctx: Context, stack: str | None = None):
    return lambda text: ctx.out.line(text, stack)


# ---- status, outputs ----

def status_cmd(ctx: Context, args) -> int:
    """Stacks, service, deployments, targets; on trouble the last stopped task and its last log lines.
    Exit 1 when it finds a problem, so scripts can use it as a check."""
    report = status.collect(ctx.aws(), ctx.params, ctx.graph)
    status.render(report, ctx.out)
    return EXIT_FAILED if report.problems else EXIT_OK


def outputs_cmd(ctx: Context, args) -> int:
    found = status.all_outputs(ctx.aws().cfn, ctx.params.project, ctx.graph)
    if args.json:
        # Only the JSON on stdout: `deploy.py prod outputs --json | jq -r .compute.ApiUrl`.
        ctx.out.line(json.dumps(found, indent=2, sort_keys=True))
    else:
        status.render_outputs(found, ctx.out)
    return EXIT_OK


# ---- health, logs ----

def health_cmd(ctx: Context, args) -> int:
    api_url = status.compute_output(ctx.aws().cfn, ctx.params.project, contract.API_URL)
    url = health.health_url(api_url)
    ok, last = health.wait_healthy(url, args.timeout, _say(ctx), interval=args.interval)
    if ok:
        ctx.out.line(f"healthy: {url} answered 200", colour="green")
        return EXIT_OK
    ctx.out.error(f"unhealthy: {url} did not answer 200 within {args.timeout:g} s; last: {last}")
    return EXIT_FAILED


def logs_cmd(ctx: Context, args) -> int:
    group = contract.resource_name("container_log_group", ctx.params.project)
    client = ctx.aws().client("logs")
    try:
        logs.tail(client, group, args.since, _say(ctx), follow=args.follow, pattern=args.filter or "")
    except client.exceptions.ResourceNotFoundException:
        raise DeployError(f"log group {group} does not exist; is the compute stack deployed?") from None
    except KeyboardInterrupt:  # how --follow ends
        ctx.out.line()
    return EXIT_OK


# ---- restart, rollback ----

def _restart(ctx: Context) -> None:
    cluster, service = ecs_service.names(ctx.params.project)
    ecs_service.restart(ctx.aws().client("ecs"), cluster, service, _say(ctx))


def restart_cmd(ctx: Context, args) -> int:
    """The seed's `aws ecs update-service --force-new-deployment`, waiting until the new tasks serve."""
    _restart(ctx)
    ctx.out.line("restarted", colour="green")
    return EXIT_OK


def rollback_cmd(ctx: Context, args) -> int:
    """The seed's `cdk deploy --all -c image_tag=SHA`: only the stacks that run the image, through a change
    set like any deploy, once the tag is known to be in ECR."""
    # Required, but checked here rather than by argparse: every verb of cli's table parses with ENV alone.
    if args.image_tag is None:
        return _bad("rollback needs --image-tag TAG: a tag of the image in ECR (the commit SHA CI pushed)")
    tag = ctx.params["image_tag"]  # --image-tag, already checked against the tag pattern by cli.prepare
    if not args.yes and not _interactive():
        return _bad("no terminal to confirm on; pass --yes to roll back without asking")
    aws = ctx.aws()
    me = preflight.identity(aws)
    repository = contract.resource_name("repository", ctx.params.project)
    state = preflight.image_state(aws, repository, tag)
    if state != "present":
        recent = recent_tags(aws.client("ecr"), repository) if state == "missing" else []
        where = f"{me.account}/{aws.region}"
        if recent:
            return _bad(f"--image-tag {tag} is not in ECR repository {repository} ({where}); "
                        f"allowed, newest first: {', '.join(recent)}")
        what = "has no tagged image" if state == "missing" else "does not exist"
        return _bad(f"--image-tag {tag}: ECR repository {repository} ({where}) {what}")
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
                     poll_delay=ctx.poll_delay)
    if not args.yes:
        run.confirm = lambda p, cs: ctx.out.ask(f"[{p.key}] execute change set {cs.name} on {p.name}? [y/N] ")
    results = schedule.run_graph(run, plans)
    for r in results:
        ctx.out.line(f"{r.key}: {r.outcome}", r.key)
    if not all(r.ok for r in results):
        return EXIT_FAILED
    # The rollback lasts until the next deploy: one without --image-tag runs params' image_tag again.
    ctx.out.line(f"rolled back to {tag}; a deploy without --image-tag would run params/{ctx.params.env}.yaml's "
                 "image_tag again", colour="green")
    return EXIT_OK


def recent_tags(ecr, repository: str, limit: int = 10) -> list[str]:
    images = [i for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository,
                                                                          filter={"tagStatus": "TAGGED"})
              for i in page.get("imageDetails", [])]
    images.sort(key=lambda i: i.get("imagePushedAt") or 0, reverse=True)
    return [t for i in images for t in i.get("imageTags", [])][:limit]


# ---- secrets ----

def secrets_cmd(ctx: Context, args) -> int:
    if args.action is None:  # optional for argparse only, so that every verb of cli's table parses with ENV alone
        return _bad("secrets needs an action; allowed: set KEY=VALUE ... (KEY=- reads stdin), keys")
    try:
        if args.action == "keys":
            if args.assignments:
                raise BadInput(f"secrets keys takes no arguments, got {len(args.assignments)}; "
                               "to change values: secrets set KEY=VALUE ...")
        else:
            updates = app_secrets.resolve(app_secrets.parse_assignments(args.assignments))
    except BadInput as exc:
        return _bad(str(exc))
    secret = app_secrets.secret_id(ctx.params.project)
    sm = ctx.aws().client("secretsmanager")
    if args.action == "keys":
        ctx.out.line(f"secret {secret} (names only; values are never printed):")
        ctx.out.block(table(["Key", "State"], app_secrets.key_rows(app_secrets.read(sm, secret))))
        return EXIT_OK
    changed = app_secrets.set_values(sm, secret, updates)
    unchanged = sorted(set(updates) - set(changed))
    if unchanged:
        ctx.out.line(f"already set to that value: {', '.join(unchanged)}")
    if not changed:
        ctx.out.line("nothing changed: secret not written, service not restarted")
        return EXIT_OK
    ctx.out.line(f"secret {secret}: set {', '.join(changed)} (other keys kept)", colour="green")
    if args.no_restart:
        ctx.out.line(f"not restarted: running tasks keep the old values until `deploy.py {ctx.params.env} restart`")
        return EXIT_OK
    cluster, service = ecs_service.names(ctx.params.project)
    if ecs_service.describe(ctx.aws().client("ecs"), cluster, service) is None:
        ctx.out.line(f"service {service} is not deployed: its first tasks will read the new values")
        return EXIT_OK
    ctx.out.line("restarting so the tasks read the new values")
    _restart(ctx)
    ctx.out.line("restarted", colour="green")
    return EXIT_OK


# ---- destroy ----

def destroy_cmd(ctx: Context, args) -> int:
    project = ctx.params.project
    if not args.yes and not _interactive():
        return _bad(f"no terminal to confirm on; pass --yes to destroy {project}'s stacks without asking")
    aws = ctx.aws()
    found = destroy_module.targets(aws.cfn, project, ctx.graph)
    if not found:
        ctx.out.line(f"nothing to destroy: no stack of {project} is deployed")
        return EXIT_OK
    ctx.out.line(f"destroy in this order ({aws.region}): {', '.join(t.name for t in found)}")
    kept = destroy_module.retained_lines(found)
    if kept:
        ctx.out.line("will keep, on purpose (DeletionPolicy Retain):")
        ctx.out.block(["  " + x for x in kept])
    optional = [s for s in ctx.graph if s.optional and stacks.describe(aws.cfn, contract.stack_name(project, s.key))]
    if optional:
        ctx.out.line("not destroyed (optional, deployed by an admin): "
                     + ", ".join(contract.stack_name(project, s.key) for s in optional))
    if not args.yes and not _confirm_name(ctx, project):
        ctx.out.error("not confirmed: nothing deleted")
        return EXIT_FAILED
    destroy_module.delete(aws.cfn, found, aws.region, lambda key, text: ctx.out.line(text, key))
    ctx.out.line(f"destroyed: {', '.join(t.name for t in found)}", colour="green")
    if kept:
        ctx.out.line(destroy_module.RETAINED_HEADING)
        ctx.out.block(["  " + x for x in kept])
    return EXIT_OK


def _confirm_name(ctx: Context, project: str) -> bool:
    with ctx.out.lock:
        try:
            answer = input(f"type the project name ({project}) to destroy its stacks: ")
        except EOFError:
            return False
    return answer.strip() == project
