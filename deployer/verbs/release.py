"""`plan`, `apply`, `releases`: the reviewed release path. A plan makes the change sets and writes what they do
(plan_file); a person reads it and grants its risk classes; apply executes exactly those change sets, or
refuses before touching anything; every executed release leaves a record in the ledger (ledger.py).

The risk gate, the ledger record and the promotion gate serve `deploy` and `rollback` too (verb.py: ``risk_gate``,
``record``, ``promotion_gate``); a plan keeps the release its image was promoted from, and apply reads it again.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deployer.engine import (
    changesets,
    flow,
    ledger,
    plan_file,
    pricing,
    risk,
    rollback_triggers,
    schedule,
    stack_policy,
    stacks,
)
from deployer.engine.outcome import Mode, Outcome, Result
from deployer.engine.plan import PROTECTED_ENVIRONMENTS, StackPlan
from deployer.errors import EXIT_OK, BadInput, DeployError
from deployer.output import markdown_table, table
from deployer.verbs.verb import Verb, image_of, promotion_gate, record, require_ledger, stack_options
from templates import params as schema

# ---- plan ----

def plan_cmd(ctx, args) -> int:
    """Make the change sets of every stack that changes (executing none) and write the plan and its Markdown."""
    stack_policy.validate_allowed(args.allow_replace)
    out_path = Path(args.out)
    md_path = Path(args.markdown) if args.markdown else out_path.with_suffix(".md")
    aws = ctx.aws()
    me = ctx.identity()
    ctx.out.line(f"account {me.account} ({me.arn}), region {me.region}, environment {ctx.params.env}: planning "
                 + ", ".join(p.name for p in ctx.plans))
    run = flow.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=Mode.REVIEW,
                   poll_delay=ctx.poll_delay, image_request=ctx.image, allow_replace=frozenset(args.allow_replace))
    gate = promotion_gate(ctx, aws)
    run.promote = gate.check if gate else None
    planned: dict[str, tuple[StackPlan, dict | None]] = {}

    def work(run_: flow.Run, p: StackPlan) -> Result:
        before = stacks.describe(aws.cfn, p.name)
        result = flow.deploy_stack(run_, p)
        if result.outcome == Outcome.PENDING_REVIEW:
            # The state the change set was made against (a stack updated after it makes it OBSOLETE).
            planned[p.key] = (flow.with_image(run_, p, before), plan_file.stack_state(aws.cfn, p.name))
        return result

    plans = flow.settle_image(run, flow.settle_access(run, ctx.plans))
    results = schedule.run_graph(run, plans, work=work)
    failed = [r for r in results if not r.ok]
    if failed:
        raise DeployError("plan failed (no plan written): " + "; ".join(f"{r.key}: {r.message or r.outcome}"
                                                                        for r in failed))
    records, findings = [], []
    for r in results:
        if r.key not in planned:
            continue
        p, state = planned[r.key]
        rec = plan_file.stack_record(p.key, p.name, [d for d in p.depends_on if d in planned], state, p.parameters,
                                     r.change_set, [f.to_json() for f in r.validation], list(args.allow_replace))
        records.append(rec)
        findings += risk.change_findings(p.key, r.change_set.type, rec["changes"])
        if r.change_set.type == "UPDATE":
            findings += risk.parameter_findings(p.key, rec["parameter_changes"])
    money = cost_delta(ctx, records)
    findings += risk.cost_finding(money["before"], money["after"], money["threshold"])
    doc = plan_file.document(environment=ctx.params.env, project=ctx.params.project, account=me.account,
                             region=aws.region, caller=me.arn, created=datetime.now(UTC), stacks_=records,
                             findings=[f.to_json() for f in findings], classes=risk.classes(findings),
                             cost=money, image=image_of(run),
                             promoted_from=gate.promoted_from if gate else None)
    plan_file.write(doc, out_path)
    text = plan_file.markdown(doc)
    md_path.write_text(text)
    ctx.out.summary(text)
    show_risks(ctx, doc)
    ctx.out.line(f"plan written to {out_path} (digest {doc['digest'][:16]}) and {md_path}; apply it with: "
                 f"python deploy.py {ctx.params.env} apply {out_path}"
                 + "".join(f" --accept {c}" for c in doc["risk_classes"]), colour="green")
    return EXIT_OK


def show_risks(ctx, doc: dict) -> None:
    if not doc["risks"]:
        ctx.out.line("risk classes: none")
        return
    ctx.out.line("risk classes: " + ", ".join(doc["risk_classes"]), colour="yellow")
    ctx.out.block(table(["Class", "Rule", "Stack", "What", "Why"],
                        [[r["class"], r["rule"], r["stack"], r["subject"], r["reason"]] for r in doc["risks"]]))


def _values_from(deployed: dict[str, str], values: dict) -> dict:
    out = dict(values)
    for p in schema.SCHEMA:
        if p.cfn_name in deployed and p.key not in ("project_name", "environment"):
            try:
                out[p.key] = p.parse(deployed[p.cfn_name], from_cli=True)
            except schema.ParamError:
                continue
    return out


def cost_delta(ctx, records: list[dict]) -> dict:
    """The cost verb's monthly model, before (the stacks as deployed) and after (the plan's values)."""
    before_values = dict(ctx.params.values)
    new_stacks = set()
    for rec in records:
        state = rec["state"]
        if state is None or state["status"] == "REVIEW_IN_PROGRESS":
            new_stacks.add(rec["key"])
        else:
            before_values = _values_from(state["parameters"], before_values)
    before = pricing.estimate(dataclasses.replace(ctx.params, values=before_values))
    after = pricing.estimate(ctx.params)
    before_total = sum(line.monthly for line in before.lines if line.stack not in new_stacks)
    return {"before": round(before_total, 2), "after": round(after.total, 2),
            "threshold": float(ctx.params["risk_cost_threshold_usd"])}


# ---- apply ----

def apply_cmd(ctx, args) -> int:
    """Execute exactly the plan's change sets, in graph order, or refuse before executing any."""
    accepted = risk.validate_accepted(args.accept)
    doc = plan_file.load(args.plan_file)
    aws = ctx.aws()
    me = ctx.identity()
    reasons = plan_file.refusals(doc, environment=ctx.params.env, account=me.account, region=aws.region,
                                 accepted=accepted, now=datetime.now(UTC), max_age=timedelta(hours=args.max_age))
    if reasons:
        raise BadInput(f"refusing to apply {args.plan_file}: " + "; ".join(reasons))
    ledger_bucket = require_ledger(ctx, aws, me)
    gate = promotion_gate(ctx, aws)
    if gate is not None:
        gate.check_plan(doc)
    live = plan_file.live_refusals(aws.cfn, doc)
    if live:
        raise DeployError(f"refusing to apply {args.plan_file}, nothing executed:\n" + "\n".join(live))
    if not doc["stacks"]:
        ctx.out.line("the plan changes nothing", colour="green")
        return EXIT_OK
    started = datetime.now(UTC)
    ctx.out.line(f"applying plan {doc['digest'][:16]} ({len(doc['stacks'])} change set(s)); accepted: "
                 + (", ".join(accepted) or "none"))
    run = flow.Run(aws=aws, params=ctx.params, out=ctx.out, account=me.account, mode=Mode.EXECUTE,
                   poll_delay=ctx.poll_delay)
    by_key = {s["key"]: s for s in doc["stacks"]}
    plans = [StackPlan(key=s["key"], name=s["name"], depends_on=tuple(s["depends_on"]), level=0, body="",
                       parameters=s["parameters"], tags={},
                       termination_protection=doc["environment"] in PROTECTED_ENVIRONMENTS) for s in doc["stacks"]]
    results = schedule.run_graph(run, plans, work=lambda r, p: execute_planned(r, p, by_key[p.key]),
                                 first_look=None)
    report(ctx, results)
    record(ctx, aws, me, ledger_bucket, results=results, started=started, plan_digest=doc["digest"],
           accepted=accepted, classes=doc["risk_classes"], image=doc["image"],
           parameters={s["key"]: s["parameters"] for s in doc["stacks"]},
           promoted_from=gate.promoted_from if gate else None)
    raise_if_failed(results)
    return EXIT_OK


def planned_change_set(s: dict) -> changesets.ChangeSet:
    cs = s["change_set"]
    changes = tuple(changesets.Change(
        action=c["action"], logical_id=c["logical_id"], resource_type=c["type"], replacement=c["replacement"],
        physical_id=c["physical_id"],
        recreating=tuple(dict.fromkeys((d["name"] or d["attribute"], d["requires_recreation"]) for d in c["details"]
                                       if d["requires_recreation"] in changesets.RECREATES)))
        for c in s["changes"])
    return changesets.ChangeSet(id=cs["id"], name=cs["name"], stack_id=cs["stack_id"], type=cs["type"],
                                changes=changes, status="CREATE_COMPLETE")


def execute_planned(run: flow.Run, p: StackPlan, s: dict) -> Result:
    """One planned change set executed with the deploy's safety net: the stack policy spares only what the plan
    was allowed to replace, its rollback triggers watch it (set when the plan made it), its events stream."""
    cs = planned_change_set(s)
    deployed = stacks.describe(run.aws.cfn, p.name)
    triggers = rollback_triggers.configuration(deployed.outputs if deployed and cs.type == "UPDATE" else None,
                                               p.key, run.params["rollback_monitoring_minutes"])
    spared = set() if cs.type == "IMPORT" else stack_policy.to_spare(cs.changes, p.key, s["allow_replace"])
    with stack_policy.lifted(run.aws.cfn, p.name, p.key, spared):
        seen = flow.execute_and_stream(run, p, cs, triggers)
    flow.keep_guards(run, p, deployed)
    outcome = {"CREATE": Outcome.CREATED, "UPDATE": Outcome.UPDATED, "IMPORT": Outcome.ADOPTED}[cs.type]
    return Result(p.key, outcome, cs, events=seen)


def report(ctx, results: list[Result]) -> None:
    rows = [[r.key, r.outcome] for r in results]
    ctx.out.line()
    ctx.out.block(table(["Stack", "Result"], rows))
    ctx.out.summary(markdown_table(["Stack", "Result"], rows))


def raise_if_failed(results: list[Result]) -> None:
    failed = [r for r in results if r.outcome == Outcome.FAILED]
    if failed:
        raise DeployError("\n".join([f"failed: {', '.join(r.key for r in failed)}"]
                                    + [f"{r.key}: {line}" for r in failed for line in r.message.splitlines()]))


# ---- releases ----

def releases_cmd(ctx, args) -> int:
    """The environment's release records, oldest first."""
    import json

    aws = ctx.aws()
    me = ctx.identity()
    bucket = ledger.bucket_name(ctx.params.project, me.account, aws.region)
    if not ledger.exists(aws.client("s3"), bucket, me.account):
        raise DeployError(f"release ledger bucket {bucket} does not exist (the CI access stack makes it)")
    found = ledger.records(aws.client("s3"), bucket, me.account, ctx.params.env)
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return EXIT_OK
    rows = []
    for r in found:
        image = r.get("image") or {}
        by = (r.get("ci") or {}).get("actor") or r.get("caller", "")
        promoted = r.get("promoted_from") or {}
        rows.append([r.get("started", ""), r.get("result", ""), image.get("tag") or "-",
                     (image.get("digest") or "-")[:19], by, ", ".join(r.get("accepted") or []) or "-",
                     (r.get("plan_digest") or "-")[:12],
                     f"{promoted['environment']} {Path(promoted['key']).stem}" if promoted else "-"])
    ctx.out.block(table(["Started", "Result", "Image", "Digest", "By", "Accepted", "Plan", "Promoted from"], rows)
                  if rows else ["no releases recorded"])
    return EXIT_OK


# ---- the verbs ----

def hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value <= 24 * 30:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: hours, more than 0 and at most 720")
    return value


def _accept(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accept", metavar="CLASS", action="append", default=[], choices=risk.CLASSES,
                        help="accept this risk class (repeatable): " + ", ".join(risk.CLASSES))


def _plan_options(parser: argparse.ArgumentParser) -> None:
    stack_options(parser)
    parser.add_argument("--out", metavar="FILE", default="plan.json", help="the plan file (default plan.json)")
    parser.add_argument("--markdown", metavar="FILE", help="its Markdown (default: beside --out, .md)")


def _apply_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan_file", metavar="PLAN", help="the plan file `deploy.py ENV plan --out` wrote")
    _accept(parser)
    parser.add_argument("--max-age", metavar="HOURS", type=hours, default=24,
                        help="refuse a plan older than this (default 24)")


def _releases_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the records as JSON")


PLAN = Verb("plan", plan_cmd, "make the change sets (executing none) and write the plan to review and apply",
            ("python deploy.py prod plan --image-tag 0123abc --out plan.json",
             "python deploy.py prod plan -p unhandled_expiry_days=180 --out plan.json --markdown plan.md"),
            _plan_options, renders=True,
            notes="The plan holds each change set, the stack state it was made against, every change with its "
                  "before/after values, the risk classes and the monthly cost delta, and a digest over it all.")
APPLY = Verb("apply", apply_cmd, "execute exactly the change sets of a plan, refusing a stale, altered or "
             "unaccepted one", ("python deploy.py prod apply plan.json",
                                "python deploy.py prod apply plan.json --accept data-loss"),
             _apply_options,
             notes="Refuses before executing anything when a stack changed since the plan, a change set is gone "
                   "or describes other changes, the plan is older than --max-age, the account or region differ, "
                   "or the plan has a risk class not given with --accept. Every apply is recorded in the ledger.")
RELEASES = Verb("releases", releases_cmd, "list the release ledger's records of this environment",
                ("python deploy.py prod releases", "python deploy.py prod releases --json"), _releases_options)
