"""The verbs of deploy.py. Each takes a Context (params, stacks, a way to reach AWS, a printer) and the
parsed arguments, and returns an exit code. Bad input is rejected in cli.py before any of them runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import contract
import templates
from deployer import aws as aws_module
from deployer.engine import flow as engine
from deployer.engine import plan, preflight, stacks
from deployer.errors import EXIT_DIFF_CHANGES, EXIT_FAILED, EXIT_OK, DeployError
from deployer.output import Printer, markdown_table, status_colour, table
from templates.params import Params


@dataclass
class Context:
    params: Params
    graph: Sequence[templates.Stack]  # the whole stack graph (templates.STACKS; tests pass their own)
    selected: list[templates.Stack]  # what --stacks picked, in graph order
    plans: list[plan.StackPlan]  # rendered and checked
    out: Printer
    connect: Callable[[str], aws_module.Aws] = aws_module.connect
    poll_delay: float = engine.events.POLL_DELAY

    def aws(self) -> aws_module.Aws:
        return self.connect(self.params["region"])


def _start(ctx: Context) -> tuple[aws_module.Aws, preflight.Identity]:
    aws = ctx.aws()
    me = preflight.identity(aws)
    names = ", ".join(p.name for p in ctx.plans)
    ctx.out.line(f"account {me.account} ({me.arn}), region {me.region}, environment {ctx.params.env}: {names}")
    return aws, me


def deploy(ctx: Context, args) -> int:
    """Deploy the selected stacks (or, with --no-execute, leave their change sets for review)."""
    mode = engine.REVIEW if args.no_execute else engine.EXECUTE
    try:
        aws, me = _start(ctx)
        run = engine.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=mode,
                         poll_delay=ctx.poll_delay)
        if mode == engine.EXECUTE:
            if any(p.key in preflight.IMAGE_STACKS for p in ctx.plans):
                state = preflight.check_image(aws, ctx.params, me.account, strict=False)
                ctx.out.line(f"image {ctx.params['image_tag']}: "
                             + ("in ECR" if state == "present" else "repository not created yet; checked again "
                                "before the stacks that run it"))
                run.before_change = engine.image_gate(run, deferred=state != "present")
            if not args.yes:
                run.confirm = lambda p, cs: ctx.out.ask(f"[{p.key}] execute change set {cs.name} on {p.name}? [y/N] ")
    except DeployError as exc:
        ctx.out.error(str(exc))
        return EXIT_FAILED
    results = engine.run_graph(run, ctx.plans)
    _report(ctx, results)
    if mode == engine.REVIEW:
        pending = [r for r in results if r.change_set]
        if pending:
            ctx.out.line("change sets left for review (execute them in the console, or run deploy again):")
            for r in pending:
                ctx.out.line(f"  {r.change_set.name}  {_console(aws, r)}", r.key)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _console(aws, result) -> str:
    return engine.changesets.console_url(aws.region, result.change_set)


def diff(ctx: Context, args) -> int:
    """Create each stack's change set, print it, delete it. Exit 0 when nothing would change, 3 otherwise."""
    try:
        aws, me = _start(ctx)
    except DeployError as exc:
        ctx.out.error(str(exc))
        return EXIT_FAILED
    run = engine.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=engine.DIFF,
                     poll_delay=ctx.poll_delay)
    results = engine.run_graph(run, ctx.plans)
    _report(ctx, results)
    if not all(r.ok for r in results):
        return EXIT_FAILED
    return EXIT_DIFF_CHANGES if any(r.outcome == "changes" for r in results) else EXIT_OK


def list_stacks(ctx: Context, args) -> int:
    """Every stack of the graph: its level (stacks on one level deploy together), name, status."""
    aws = ctx.aws()
    levels = plan.levels(ctx.graph)
    rows = []
    for stack in ctx.graph:
        name = contract.stack_name(ctx.params.project, stack.key)
        deployed = stacks.describe(aws.cfn, name)
        status = deployed.status if deployed else "NOT DEPLOYED"
        after = ", ".join(stack.depends_on) or "-"
        rows.append([str(levels[stack.key]), stack.key + (" (optional)" if stack.optional else ""), name,
                     ctx.out.paint(status, status_colour(status)), after])
    ctx.out.block(table(["Level", "Stack", "Name", "Status", "After"], rows))
    return EXIT_OK


def _report(ctx: Context, results: list[engine.Result]) -> None:
    rows = [[r.key, r.outcome] for r in results]
    ctx.out.line()
    ctx.out.block(table(["Stack", "Result"], rows))
    ctx.out.summary(markdown_table(["Stack", "Result"], rows))
    failed = [r for r in results if r.outcome == "failed"]
    if failed:
        ctx.out.error(f"failed: {', '.join(r.key for r in failed)}"
                      + (f"; not started: {', '.join(r.key for r in results if r.outcome == 'not started')}"
                         if any(r.outcome == "not started" for r in results) else ""))

