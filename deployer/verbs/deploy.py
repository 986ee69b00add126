"""`deploy`, `diff`, `list`: the stacks through the change-set engine, in graph order."""

from __future__ import annotations

import contract
from deployer import aws as aws_module
from deployer.context import Context
from deployer.engine import changesets, flow, plan, preflight, schedule, stacks
from deployer.engine.outcome import Mode, Outcome, Result
from deployer.errors import EXIT_DIFF_CHANGES, EXIT_FAILED, EXIT_OK, DeployError
from deployer.output import markdown_table, status_colour, table
from deployer.verbs.status import NOT_DEPLOYED


def _start(ctx: Context) -> tuple[aws_module.Aws, preflight.Identity]:
    aws = ctx.aws()
    me = preflight.identity(aws)
    names = ", ".join(p.name for p in ctx.plans)
    ctx.out.line(f"account {me.account} ({me.arn}), region {me.region}, environment {ctx.params.env}: {names}")
    return aws, me


def deploy(ctx: Context, args) -> int:
    """Deploy the selected stacks (or, with --no-execute, leave their change sets for review)."""
    mode = Mode.REVIEW if args.no_execute else Mode.EXECUTE
    try:
        aws, me = _start(ctx)
        run = flow.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=mode,
                         poll_delay=ctx.poll_delay)
        if mode == Mode.EXECUTE:
            if any(p.key in preflight.IMAGE_STACKS for p in ctx.plans):
                state = preflight.check_image(aws, ctx.params, me.account, strict=False)
                ctx.out.line(f"image {ctx.params['image_tag']}: "
                             + ("in ECR" if state == "present" else "repository not created yet; checked again "
                                "before the stacks that run it"))
                run.before_change = flow.image_gate(run, deferred=state != "present")
            if not args.yes:
                run.confirm = lambda p, cs: ctx.out.ask(f"[{p.key}] execute change set {cs.name} on {p.name}? [y/N] ")
    except DeployError as exc:
        ctx.out.error(str(exc))
        return EXIT_FAILED
    results = schedule.run_graph(run, ctx.plans)
    _report(ctx, results)
    if mode == Mode.REVIEW:
        pending = [r for r in results if r.change_set]
        if pending:
            ctx.out.line("change sets left for review (execute them in the console, or run deploy again):")
            for r in pending:
                ctx.out.line(f"  {r.change_set.name}  {_console(aws, r)}", r.key)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _console(aws, result) -> str:
    return changesets.console_url(aws.region, result.change_set)


def diff(ctx: Context, args) -> int:
    """Create each stack's change set, print it, delete it. Exit 0 when nothing would change, 3 otherwise."""
    try:
        aws, me = _start(ctx)
    except DeployError as exc:
        ctx.out.error(str(exc))
        return EXIT_FAILED
    run = flow.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=Mode.DIFF,
                     poll_delay=ctx.poll_delay)
    results = schedule.run_graph(run, ctx.plans)
    _report(ctx, results)
    if not all(r.ok for r in results):
        return EXIT_FAILED
    return EXIT_DIFF_CHANGES if any(r.outcome == Outcome.CHANGES for r in results) else EXIT_OK


def list_stacks(ctx: Context, args) -> int:
    """Every stack of the graph: its level (stacks on one level deploy together), name, status."""
    aws = ctx.aws()
    levels = plan.levels(ctx.graph)
    rows = []
    for stack in ctx.graph:
        name = contract.stack_name(ctx.params.project, stack.key)
        deployed = stacks.describe(aws.cfn, name)
        status = deployed.status if deployed else NOT_DEPLOYED
        after = ", ".join(stack.depends_on) or "-"
        rows.append([str(levels[stack.key]), stack.key + (" (optional)" if stack.optional else ""), name,
                     ctx.out.paint(status, status_colour(status)), after])
    ctx.out.block(table(["Level", "Stack", "Name", "Status", "After"], rows))
    return EXIT_OK


def _report(ctx: Context, results: list[Result]) -> None:
    rows = [[r.key, r.outcome] for r in results]
    ctx.out.line()
    ctx.out.block(table(["Stack", "Result"], rows))
    ctx.out.summary(markdown_table(["Stack", "Result"], rows))
    failed = [r for r in results if r.outcome == Outcome.FAILED]
    if failed:
        ctx.out.error(f"failed: {', '.join(r.key for r in failed)}"
                      + (f"; not started: {', '.join(r.key for r in results if r.outcome == Outcome.NOT_STARTED)}"
                         if any(r.outcome == Outcome.NOT_STARTED for r in results) else ""))

