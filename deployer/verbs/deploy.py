"""`deploy`, `diff`, `list`: the stacks through the change-set engine, in graph order."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import contract
from deployer import aws as aws_module
from deployer.context import Context
from deployer.engine import changesets, flow, plan, preflight, risk, schedule, stack_policy, stacks
from deployer.engine.outcome import Mode, Outcome, Result
from deployer.errors import EXIT_DIFF_CHANGES, EXIT_OK, BadInput, DeployError
from deployer.output import markdown_table, status_colour, table
from deployer.verbs import verb
from deployer.verbs.verb import NOT_DEPLOYED, Verb, add_yes, stack_options


def _start(ctx: Context) -> tuple[aws_module.Aws, preflight.Identity]:
    aws = ctx.aws()
    me = ctx.identity()
    names = ", ".join(p.name for p in ctx.plans)
    ctx.out.line(f"account {me.account} ({me.arn}), region {me.region}, environment {ctx.params.env}: {names}")
    return aws, me


def deploy(ctx: Context, args) -> int:
    """Deploy the selected stacks (or, with --no-execute, leave their change sets for review)."""
    mode = Mode.REVIEW if args.no_execute else Mode.EXECUTE
    # Without a terminal nobody can answer "execute?": rather than guess, a
    # non-interactive deploy must say which it means (CI passes --yes).
    if mode == Mode.EXECUTE and not args.yes and not ctx.interactive:
        raise BadInput("no terminal to confirm on; pass --yes to execute without asking, "
                       "or --no-execute to leave the change sets for review")
    stack_policy.validate_allowed(args.allow_replace)
    aws, me = _start(ctx)
    run = _run(ctx, args, aws, me, mode)
    gate = verb.promotion_gate(ctx, aws)  # --no-execute too: its change sets are there to be executed
    run.promote = gate.check if gate else None
    plans = flow.settle_image(run, flow.settle_access(run, ctx.plans))
    if mode == Mode.EXECUTE:
        if not args.yes:
            run.confirm = lambda p, cs: ctx.out.ask(f"[{p.key}] execute change set {cs.name} on {p.name}? [y/N] ")
        run.gate = verb.risk_gate(ctx, risk.validate_accepted(args.accept))
        started = datetime.now(UTC)
    results = schedule.run_graph(run, plans)
    recorded = mode == Mode.EXECUTE and any(r.outcome in verb.EXECUTED or r.outcome == Outcome.FAILED
                                            for r in results)
    # Looked for only now: a deploy that changes nothing records nothing, and costs no call for it. Before the
    # report, so the run's last lines stay its result table.
    ledger_bucket = verb.require_ledger(ctx, aws, me, strict=False) if recorded else None
    _report(ctx, results)
    if recorded:
        executed = [r for r in results if r.change_set is not None or r.outcome == Outcome.FAILED]
        verb.record(ctx, aws, me, ledger_bucket, results=executed, started=started, plan_digest="",
                       accepted=sorted(run.gate.granted), classes=[], image=verb.image_of(run),
                       parameters={p.key: p.parameters for p in plans}, verb="deploy",
                       promoted_from=gate.promoted_from if gate else None)
    if mode == Mode.REVIEW:
        pending = [r for r in results if r.change_set]
        if pending:
            ctx.out.line("change sets left for review (execute them in the console, or run deploy again):")
            for r in pending:
                ctx.out.line(f"  {r.change_set.name}  {_console(aws, r)}", r.key)
    flow.keep_released(run, results)
    _raise_if_failed(results)
    return EXIT_OK


def _run(ctx: Context, args, aws, me: preflight.Identity, mode: Mode) -> flow.Run:
    return flow.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=mode,
                    poll_delay=ctx.poll_delay, image_request=ctx.image, gate_scan=mode == Mode.EXECUTE,
                    allow_vulnerable=getattr(args, "allow_vulnerable", False),
                    allow_replace=frozenset(args.allow_replace))


def _console(aws, result) -> str:
    return changesets.console_url(aws.region, result.change_set)


def diff(ctx: Context, args) -> int:
    """Create each stack's change set, print it, delete it. Exit 0 when nothing would change, 3 otherwise."""
    stack_policy.validate_allowed(args.allow_replace)
    aws, me = _start(ctx)
    run = _run(ctx, args, aws, me, Mode.DIFF)
    results = schedule.run_graph(run, flow.settle_image(run, flow.settle_access(run, ctx.plans)))
    _report(ctx, results)
    _raise_if_failed(results)
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


def _raise_if_failed(results: list[Result]) -> None:
    """The failed stacks and their causes, as the run's error (stderr, exit 1)."""
    failed = [r for r in results if r.outcome == Outcome.FAILED]
    if not failed:
        return
    not_started = [r.key for r in results if r.outcome == Outcome.NOT_STARTED]
    lines = [f"failed: {', '.join(r.key for r in failed)}"
             + (f"; not started: {', '.join(not_started)}" if not_started else "")]
    lines += [f"{r.key}: {line}" for r in failed for line in r.message.splitlines()]
    raise DeployError("\n".join(lines))


def _deploy_options(parser: argparse.ArgumentParser) -> None:
    stack_options(parser)
    parser.add_argument("--no-execute", action="store_true",
                        help="create the change sets and leave them for review in the console")
    parser.add_argument("--allow-vulnerable", action="store_true",
                        help="deploy an image whose ECR scan reports CRITICAL findings (or has no finished scan)")
    parser.add_argument("--accept", metavar="CLASS", action="append", default=[], choices=risk.CLASSES,
                        help="accept this risk class of a change set (repeatable; on a terminal it asks): "
                             + ", ".join(risk.CLASSES))
    add_yes(parser, "execute")


DEPLOY = Verb(
    "deploy", deploy, "deploy the stacks in graph order (the default verb: `deploy.py ENV` is `deploy.py ENV deploy`)",
    ("python deploy.py prod --image-tag 0123abc --yes", "python deploy.py prod deploy --stacks data --no-execute",
     "python deploy.py prod --stacks data --allow-replace UnhandledQueriesBucket"),
    _deploy_options, renders=True,
    notes="Each stack: unchanged? -> change set -> shown -> confirmed (or --yes) -> executed, its events streamed. "
          "Without a terminal (CI) it needs --yes or --no-execute. Updates of compute and waf are watched by "
          "their alarms (rollback triggers); a change set that would replace or delete a protected resource of "
          "the data stack is refused unless --allow-replace names it.")
DIFF = Verb(
    "diff", diff, "print what a deploy would change; exit 0 if nothing, 3 if something",
    ("python deploy.py prod diff", "python deploy.py prod diff -p fargate_cpu=512"), stack_options, renders=True)
LIST = Verb("list", list_stacks, "every stack: graph level, name, status", ("python deploy.py prod list",))
