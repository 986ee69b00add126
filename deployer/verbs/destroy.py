"""`destroy`: delete the stacks in reverse graph order and say what was kept on purpose.

The original CDK design's `cdk destroy --all`, with the guard rails an irreversible command needs: it shows what it will
delete and what it will keep, asks for the project name (or --yes), turns off the termination protection
that deploy set on protected environments and the ALB's deletion protection (alb_deletion_protection), and
deletes level by level (stacks on one level never import from each other, so they go together; a stack
goes only after every stack importing from it is gone). What it keeps is every resource the deployed
stack's template (GetTemplate) marks
DeletionPolicy: Retain: read from what CloudFormation holds, not listed here, and nothing is rendered.
The next deploy adopts them again (deployer/engine/adoption.py: an IMPORT change set
before the stack's first UPDATE), so their contents carry over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

import contract
import templates
from deployer.engine import events, plan, stacks
from deployer.engine.report import NULL, Reporter
from deployer.errors import EXIT_OK, DeployError
from deployer.verbs.verb import Verb, add_yes, require_terminal_or_yes


@dataclass
class Target:
    stack: templates.Stack
    name: str
    level: int
    deployed: stacks.Deployed
    retained: list[tuple[str, str, str]] = field(default_factory=list)  # (logical id, type, physical id)


def retained_resources(template: dict) -> list[tuple[str, str]]:
    """(logical id, type) of every resource the template keeps when its stack is deleted."""
    return [(logical, r.get("Type", "")) for logical, r in sorted((template.get("Resources") or {}).items())
            if r.get("DeletionPolicy") == "Retain"]


def deployed_template(cfn, stack: str) -> dict:
    """The template CloudFormation holds for ``stack`` (as submitted), as data."""
    body = stacks.deployed_body(cfn, stack)
    return body if isinstance(body, dict) else plan.parse_template(body)


def targets(cfn, project: str, graph: Sequence[templates.Stack], include_optional: bool = False) -> list[Target]:
    """The deployed stacks of the graph, in deletion order: highest level first, reverse graph order
    within a level. Optional stacks (CI access, deployed once by an admin) only when asked for."""
    levels = plan.levels(graph)
    found = []
    for index, stack in enumerate(graph):
        if stack.optional and not include_optional:
            continue
        name = contract.stack_name(project, stack.key)
        deployed = stacks.describe(cfn, name)
        if deployed is None or deployed.status == "DELETE_COMPLETE":
            continue
        target = Target(stack, name, levels[stack.key], deployed)
        keep = dict(retained_resources(deployed_template(cfn, deployed.stack_id)))
        if keep:
            physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
                        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name)
                        for r in page.get("StackResourceSummaries", [])}
            # Only what exists: a retained resource the stack never created is not "kept".
            target.retained = [(lid, rtype, physical[lid]) for lid, rtype in keep.items() if physical.get(lid)]
        found.append((-target.level, -index, target))
    return [t for _, _, t in sorted(found, key=lambda x: (x[0], x[1]))]


def by_level(found: list[Target]) -> list[list[Target]]:
    groups: list[list[Target]] = []
    for t in found:
        if groups and groups[-1][0].level == t.level:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


ALB_TYPE = "AWS::ElasticLoadBalancingV2::LoadBalancer"
DELETION_PROTECTION = "deletion_protection.enabled"


def load_balancer_arn(cfn, target: Target) -> str | None:
    """The compute stack's ALB: its output, or (a stack whose outputs never came, e.g. a failed update) its
    resource; None when it has none."""
    arn = target.deployed.outputs.get(contract.ALB_ARN)
    if arn:
        return arn
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=target.name):
        for r in page.get("StackResourceSummaries", []):
            if r.get("ResourceType") == ALB_TYPE and r.get("PhysicalResourceId"):
                return r["PhysicalResourceId"]  # an ALB's physical id is its ARN
    return None


def unprotect_load_balancer(elbv2, arn: str, say: Callable[[str], None]) -> None:
    """Turn the ALB's deletion protection off when it is on (alb_deletion_protection, on in prod):
    CloudFormation cannot delete a protected load balancer, and the stack would end DELETE_FAILED."""
    try:
        attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "LoadBalancerNotFound":
            return  # gone already: nothing to protect
        raise
    if {a["Key"]: a.get("Value") for a in attributes}.get(DELETION_PROTECTION) != "true":
        return
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn,
                                          Attributes=[{"Key": DELETION_PROTECTION, "Value": "false"}])
    say("ALB deletion protection off")


def delete(cfn, found: list[Target], region: str, say: Callable[[str, str], None],
           wait_delay: float | None = None, wait_attempts: int | None = None, elbv2=None,
           out: Reporter | None = None) -> None:
    """Delete ``found`` level by level (in the order ``targets`` returns); stop at the first failure, so
    nothing that another stack still imports from is attempted. With ``elbv2``, the compute stack's ALB
    loses its deletion protection first. With ``out``, its live view follows each stack's events."""
    tracker = out.tracker if out is not None else NULL
    for group in by_level(found):
        for t in group:
            if elbv2 is not None and t.stack.key == contract.COMPUTE:
                arn = load_balancer_arn(cfn, t)
                if arn:
                    unprotect_load_balancer(elbv2, arn, lambda text, key=t.stack.key: say(key, text))
            if out is not None:
                events.watch(cfn, t.stack.key, t.deployed.stack_id, "DELETE_IN_PROGRESS", out)
            stacks.start_delete(cfn, t.name, t.deployed.termination_protection,
                                lambda text, key=t.stack.key: say(key, text))
            say(t.stack.key, "DELETE_IN_PROGRESS")
        for t in group:  # all of the level are deleting already: waiting in turn waits for the slowest
            try:
                stacks.wait_deleted(cfn, t.deployed.stack_id, t.name, region, wait_delay, wait_attempts)
            except DeployError:
                tracker.finish(t.stack.key, "DELETE_FAILED", failed=True)
                raise
            tracker.finish(t.stack.key, "DELETE_COMPLETE")
            say(t.stack.key, "DELETE_COMPLETE")


# The closing heading of `destroy` over the retained resources.
RETAINED_HEADING = ("retained (still in the account; the next deploy adopts them again, contents included; "
                    "delete them by hand only if you mean to lose them):")


def retained_lines(found: list[Target]) -> list[str]:
    return [f"{t.stack.key}: {rtype} {lid}: {physical}" for t in found for lid, rtype, physical in t.retained]


# ---- the verb ----

CI_ROLE_KINDS = ("oidc_deploy_role", "build_role")


def refuse_ci_in_production(ctx) -> None:
    """prod is destroyed by an admin only: its CI roles hold no DeleteStack, so say so before anything is read."""
    if ctx.params.env != contract.PRODUCTION:
        return
    caller = ctx.identity().arn
    for kind in CI_ROLE_KINDS:
        role = contract.resource_name(kind, ctx.params.project)
        if f":assumed-role/{role}/" in caller:
            raise DeployError(f"destroy of {ctx.params.env} is an admin's verb: {caller} is the CI role {role}, "
                              "which may not delete prod's stacks; run it with an admin's credentials")

def destroy_cmd(ctx, args) -> int:
    project = ctx.params.project
    require_terminal_or_yes(ctx, args.yes, f"destroy {project}'s stacks")
    aws = ctx.aws()
    refuse_ci_in_production(ctx)
    found = targets(aws.cfn, project, ctx.graph)
    if not found:
        ctx.out.line(f"nothing to destroy: no stack of {project} is deployed")
        return EXIT_OK
    ctx.out.line(f"destroy in this order ({aws.region}): {', '.join(t.name for t in found)}")
    kept = retained_lines(found)
    if kept:
        ctx.out.line("will keep, on purpose (DeletionPolicy Retain):")
        ctx.out.block(["  " + x for x in kept])
    optional = [s for s in ctx.graph if s.optional and stacks.describe(aws.cfn, contract.stack_name(project, s.key))]
    if optional:
        ctx.out.line("not destroyed (optional, deployed by an admin): "
                     + ", ".join(contract.stack_name(project, s.key) for s in optional))
    if not args.yes and not _confirm_name(ctx, project):
        raise DeployError("not confirmed: nothing deleted")
    with ctx.out.progress([t.stack.key for t in found]):
        delete(aws.cfn, found, aws.region, lambda key, text: ctx.out.line(text, key), elbv2=aws.client("elbv2"),
               out=ctx.out)
    ctx.out.line(f"destroyed: {', '.join(t.name for t in found)}", colour="green")
    if kept:
        ctx.out.line(RETAINED_HEADING)
        ctx.out.block(["  " + x for x in kept])
    return EXIT_OK


def _confirm_name(ctx, project: str) -> bool:
    with ctx.out.lock:
        try:
            answer = input(f"type the project name ({project}) to destroy its stacks: ")
        except EOFError:
            return False
    return answer.strip() == project


DESTROY = Verb("destroy", destroy_cmd, "delete the stacks in reverse order after typing the project name; "
               "report what was retained", ("python deploy.py prod destroy", "python deploy.py dev destroy --yes"),
               lambda parser: add_yes(parser, "destroy"),
               notes="Optional stacks (CI access) are left alone. Retained resources are adopted by the next deploy.")
