"""`status` and `outputs`: what is deployed and how it is doing, from the calls the original CDK
design's "Comandos Utiles" made by hand (describe-stacks, describe-services, describe-target-health, logs).

``collect`` reads (plain functions over one ``Aws``), ``render`` prints; the problems it finds decide
the exit code, so a script can run `deploy.py prod status` as a check.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import contract
import templates
from deployer.engine import ecs_service, stacks
from deployer.engine.alarms import STATE_ORDER, project_alarms
from deployer.engine.stack_status import Meaning, meaning
from deployer.errors import EXIT_OK, DeployError
from deployer.output import Printer, status_colour, table
from deployer.verbs.verb import NOT_DEPLOYED, Verb
from templates.params import Params

# Target states that are part of a normal rollout, not a fault.
TRANSITIONAL_TARGETS = ("initial", "draining")


@dataclass
class StackRow:
    key: str
    name: str
    optional: bool
    status: str  # NOT_DEPLOYED when it does not exist
    updated: str  # last update (or creation) time, ISO, "" when not deployed
    reason: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    stacks: list[StackRow]
    service: ecs_service.Service | None = None
    image: str = ""
    targets: list[dict] | None = None  # None: no target group output (compute not deployed)
    problems: list[str] = field(default_factory=list)
    stopped_task: dict | None = None
    log_group: str = ""
    log_lines: list[str] = field(default_factory=list)
    alarms: list[dict] | None = None  # None: no alarm topic output (compute not deployed); ALARM first


def describe_stack(cfn, project: str, stack: templates.Stack) -> StackRow:
    name = contract.stack_name(project, stack.key)
    deployed = stacks.describe(cfn, name)
    if deployed is None:
        return StackRow(stack.key, name, stack.optional, NOT_DEPLOYED, "")
    return StackRow(key=stack.key, name=name, optional=stack.optional, status=deployed.status,
                    updated=deployed.updated, reason=deployed.reason, outputs=deployed.outputs)


def stack_rows(cfn, project: str, graph: Sequence[templates.Stack]) -> list[StackRow]:
    return [describe_stack(cfn, project, s) for s in graph]


def _stack_problem(row: StackRow) -> str | None:
    if row.status == NOT_DEPLOYED:
        return None if row.optional else f"stack {row.name} is not deployed"
    if meaning(row.status) in (Meaning.FAILED, Meaning.PENDING):
        return f"stack {row.name} is {row.status}" + (f" ({row.reason})" if row.reason else "")
    return None


def collect(aws, params: Params, graph: Sequence[templates.Stack], log_lines: int = ecs_service.LOG_TAIL_LINES
            ) -> Report:
    project = params.project
    report = Report(stacks=stack_rows(aws.cfn, project, graph))
    report.problems += [p for p in map(_stack_problem, report.stacks) if p]

    ecs = aws.client("ecs")
    cluster, service = ecs_service.names(project)
    report.service = svc = ecs_service.describe(ecs, cluster, service)
    if svc is None:
        report.problems.append(f"service {service} not found in cluster {cluster}")
    else:
        if svc.task_definition:
            report.image = ecs_service.image(ecs, svc.task_definition)
        if svc.running < svc.desired:
            report.problems.append(f"{svc.running} of {svc.desired} tasks running")
        for d in svc.deployments:
            if d.rollout == "FAILED":
                report.problems.append(f"deployment {d.id} FAILED: {d.rollout_reason}")

    compute = next((r for r in report.stacks if r.key == contract.COMPUTE), None)
    tg = compute.outputs.get(contract.TARGET_GROUP_ARN) if compute else None
    if tg:
        report.targets = ecs_service.target_health(aws.client("elbv2"), tg)
        bad = [t for t in report.targets if t["state"] not in ("healthy", *TRANSITIONAL_TARGETS)]
        if bad:
            report.problems.append(f"{len(bad)} unhealthy target(s) of {len(report.targets)}")
        elif not report.targets and svc is not None and svc.desired > 0:
            report.problems.append("no targets registered in the target group")

    topic = compute.outputs.get(contract.ALARM_TOPIC_ARN) if compute else None
    if topic:
        report.alarms = project_alarms(aws.client("cloudwatch"), project, topic)
        report.problems += [f"alarm {a['AlarmName']} is in ALARM" for a in report.alarms if a["StateValue"] == "ALARM"]

    # Only when something is wrong: why the last task stopped, and what it said before it did.
    if report.problems and svc is not None:
        report.stopped_task = ecs_service.latest_stopped_task(ecs, cluster, service)
        report.log_group = contract.resource_name("container_log_group", project)
        stream = ecs_service.task_log_stream(report.stopped_task["taskArn"]) if report.stopped_task else None
        report.log_lines = ecs_service.log_tail(aws.client("logs"), report.log_group, stream, log_lines)
    return report


def render_alarms(alarms: list[dict], out: Printer) -> None:
    counts: dict[str, int] = {}
    for a in alarms:
        counts[a["StateValue"]] = counts.get(a["StateValue"], 0) + 1
    out.line("alarms: " + (", ".join(f"{n} {state}" for state, n in sorted(counts.items(),
                                                                          key=lambda x: STATE_ORDER.get(x[0], 3)))
                           or "none"))
    colour = {"ALARM": "red", "OK": "green", "INSUFFICIENT_DATA": None}
    rows = []
    for a in alarms:
        when = a.get("StateUpdatedTimestamp")
        since = when.isoformat(timespec="seconds") if hasattr(when, "isoformat") else ""
        reason = " ".join((a.get("StateReason") or "").split()) if a["StateValue"] == "ALARM" else ""
        rows.append([out.paint(a["StateValue"], colour.get(a["StateValue"])), a["AlarmName"], since, reason])
    if rows:
        out.block(["  " + x for x in table(["State", "Alarm", "Since", "Reason"], rows)])


def render(report: Report, out: Printer) -> None:
    rows = [[r.key, r.name, out.paint(r.status, status_colour(r.status)), r.updated or "-"] for r in report.stacks]
    out.block(table(["Stack", "Name", "Status", "Last update"], rows))
    out.line()
    svc = report.service
    if svc is None:
        out.line("service: not found")
    else:
        # The task definition names its image by digest (a deploy resolves the tag once); an older one, by tag.
        tag = "by digest" if "@" in report.image else f"tag {ecs_service.image_tag(report.image) or '(untagged)'}"
        out.line(f"service {svc.name} ({svc.cluster}): {svc.status}")
        out.line(f"  tasks: {svc.desired} desired, {svc.running} running, {svc.pending} pending")
        out.line(f"  task definition: {ecs_service.short_task_definition(svc.task_definition)}")
        out.line(f"  image: {report.image or '?'} ({tag})")
        for d in svc.deployments:
            rollout = d.rollout or "-"
            out.line(f"  deployment {d.id} {d.status}: {ecs_service.short_task_definition(d.task_definition)}, "
                     f"{d.running}/{d.desired} running, {d.pending} pending, {d.failed} failed, rollout "
                     + out.paint(rollout, status_colour(rollout)))
            if d.rollout_reason and d.rollout != "COMPLETED":
                out.line(f"    {d.rollout_reason}")
        for message in svc.events[:3]:
            out.line(f"  event: {message}")
    if report.targets is not None:
        counts: dict[str, int] = {}
        for t in report.targets:
            counts[t["state"]] = counts.get(t["state"], 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no targets"
        out.line(f"targets: {summary}")
        for t in report.targets:
            if t["state"] != "healthy":
                out.line(f"  {t['id']}:{t['port']} {t['state']} {t['reason']}".rstrip())
    if report.alarms is not None:
        render_alarms(report.alarms, out)
    out.line()
    if not report.problems:
        out.line("all well", colour="green")
        return
    for p in report.problems:
        out.error(f"problem: {p}")
    if report.stopped_task:
        task = report.stopped_task
        when = task.get("stoppedAt") or task.get("stoppingAt")
        out.line(f"last stopped task {ecs_service.task_id(task['taskArn'])}"
                 + (f" at {when.isoformat(timespec='seconds')}" if when else "")
                 + f": {ecs_service.stopped_reason(task)}")
    elif svc is not None:
        out.line("no stopped task in the last hour")
    if report.log_lines:
        out.line(f"last {len(report.log_lines)} log lines ({report.log_group}):")
        out.block(["  " + x for x in report.log_lines])


def all_outputs(cfn, project: str, graph: Sequence[templates.Stack]) -> dict[str, dict[str, str] | None]:
    """Stack key -> {OutputKey: value}, None for a stack not deployed."""
    return {r.key: (r.outputs if r.status != NOT_DEPLOYED else None) for r in stack_rows(cfn, project, graph)}


def render_outputs(outputs: dict[str, dict[str, str] | None], out: Printer) -> None:
    rows = []
    for key, values in outputs.items():
        if values is None:
            rows.append([key, "-", "(not deployed)"])
        else:
            rows += [[key, k, v] for k, v in sorted(values.items())]
    out.block(table(["Stack", "Output", "Value"], rows))


# ---- the verbs ----

def status_cmd(ctx, args) -> int:
    """Stacks, service, deployments, targets; on trouble the last stopped task and its last log lines.
    Exit 1 when it finds a problem, so scripts can use it as a check."""
    report = collect(ctx.aws(), ctx.params, ctx.graph)
    render(report, ctx.out)
    if report.problems:
        raise DeployError(f"{len(report.problems)} problem(s): " + "; ".join(report.problems))
    return EXIT_OK


def outputs_cmd(ctx, args) -> int:
    found = all_outputs(ctx.aws().cfn, ctx.params.project, ctx.graph)
    if args.json:
        # Only the JSON on stdout: `deploy.py prod outputs --json | jq -r .compute.ApiUrl`.
        ctx.out.line(json.dumps(found, indent=2, sort_keys=True))
    else:
        render_outputs(found, ctx.out)
    return EXIT_OK


def _outputs_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON on stdout, for scripts")


STATUS = Verb("status", status_cmd, "stacks, ECS service, deployments, targets, alarms (in ALARM first, with "
              "their reason); on trouble why tasks stop (exit 1 when something is wrong)",
              ("python deploy.py prod status",))
OUTPUTS = Verb("outputs", outputs_cmd, "every stack output", (
    "python deploy.py prod outputs", "python deploy.py prod outputs --json | jq -r .compute.ApiUrl"), _outputs_options)
