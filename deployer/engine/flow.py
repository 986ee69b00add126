"""The deploy engine: each stack through unchanged? -> prepare -> change set -> guard -> execute -> events,
the stacks in graph order, a stack changing as soon as the stacks it imports from are done.

``inspect`` is the read-only first look (every stack at once), ``deploy_stack``
is one stack's change, ``run_graph`` is the scheduling; ``Run`` is what they share.
The operator commands (status, rollback, destroy...) reuse these pieces rather
than this whole flow.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from deployer.aws import Aws
from deployer.engine import adoption, changesets, events, guard, preflight, stacks
from deployer.engine.changesets import ChangeSet
from deployer.engine.plan import StackPlan
from deployer.errors import DeployError
from deployer.output import Printer, markdown_table, status_colour, table
from templates.params import Params

# What to do with a change set once it is printed.
EXECUTE = "execute"  # deploy
REVIEW = "review"  # --no-execute: leave it for the console
DIFF = "diff"  # print and delete


@dataclass
class Run:
    aws: Aws
    params: Params
    out: Printer
    account: str
    mode: str = EXECUTE
    # Asked before executing a change set; None = no confirmation (--yes, or not executing).
    confirm: Callable[[StackPlan, ChangeSet], bool] | None = None
    # Called before a stack that runs the image is changed (not when unchanged).
    before_change: Callable[[StackPlan], None] | None = None
    # Seconds between event polls; tests shorten it.
    poll_delay: float = events.POLL_DELAY
    _role: list = field(default_factory=list, repr=False)
    _role_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def role_for(self, plan: StackPlan) -> str | None:
        """The execution role CloudFormation should act as for ``plan``; looked up once, on the first
        change set (a no-op deploy never needs it), and never for the stack that creates it."""
        if plan.key == preflight.CI_ACCESS_STACK:
            return None
        with self._role_lock:
            if not self._role:
                self._role.append(preflight.execution_role(self.aws, self.params))
            return self._role[0]


@dataclass
class Result:
    key: str
    # unchanged | no changes | created | updated | changes | pending review | failed | not started,
    # and after an adoption (IMPORT): adopted | adopted, updated
    outcome: str
    change_set: ChangeSet | None = None
    message: str = ""
    events: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome not in ("failed", "not started")


def deploy_stack(run: Run, plan: StackPlan) -> Result:
    cfn = run.aws.cfn

    def say(text: str, colour: str | None = None) -> None:
        run.out.line(text, plan.key, colour)

    change_type, deployed = stacks.prepare(cfn, plan.name, run.aws.region, say)
    if change_type == "UPDATE" and stacks.unchanged(cfn, plan, deployed):
        say("unchanged", "green")
        if run.mode == EXECUTE:
            protect(run, plan, deployed)
        return Result(plan.key, "unchanged")

    if run.before_change and run.mode == EXECUTE:
        run.before_change(plan)
    adopted: list[adoption.Adoption] = []
    if change_type == "CREATE":
        found = adoption.existing(run.aws, plan.template, plan.parameters, pseudo(run, plan),
                                  lambda text: say(text, "yellow"))
        if found:
            stopped = adopt(run, plan, deployed, found)
            if stopped is not None:  # diff, --no-execute: the import is where this run stops
                return stopped
            adopted = found
            change_type, deployed = "UPDATE", stacks.describe(cfn, plan.name)
    cs = changesets.create(run.aws, plan, change_type, run.account, run.role_for(plan))
    try:
        computed = changesets.wait(cfn, cs)
    except DeployError:
        if run.mode == DIFF:  # a diff leaves nothing behind; a deploy leaves the failed change set to look at
            discard(cfn, cs, created_stack=deployed is None)
        raise
    if computed is None:
        say("no changes", "green")
        changesets.delete(cfn, cs)
        if run.mode == EXECUTE:
            protect(run, plan, deployed)
        return Result(plan.key, "adopted" if adopted else "no changes")
    cs = computed
    show_change_set(run, plan, deployed, cs)

    try:
        if deployed is not None and change_type == "UPDATE":
            guard.check(cfn, plan.name, deployed.stack_id, plan.template, plan.parameters, pseudo(run, plan), cs)
    except DeployError:
        discard(cfn, cs, created_stack=deployed is None)  # refused: nobody should execute it from the console
        raise

    if run.mode == DIFF:
        discard(cfn, cs, created_stack=deployed is None)
        return Result(plan.key, "changes", cs)
    if run.mode == REVIEW:
        say(f"change set {cs.name} left for review: {changesets.console_url(run.aws.region, cs)}", "yellow")
        return Result(plan.key, "pending review", cs)
    if run.confirm is not None and not run.confirm(plan, cs):
        discard(cfn, cs, created_stack=deployed is None)
        raise DeployError(f"{plan.name}: not confirmed; change set deleted, nothing changed"
                          + (" after the adoption (the stack holds the adopted resources)" if adopted else ""))

    final, seen = execute_and_stream(run, plan, cs)
    protect(run, plan, None)
    outcome = "created" if cs.type == "CREATE" else "updated"
    return Result(plan.key, f"adopted, {outcome}" if adopted else outcome, cs, events=seen)


def execute_and_stream(run: Run, plan: StackPlan, cs: ChangeSet) -> tuple[str, list[dict]]:
    """Execute ``cs`` and print the stack's events until it settles; DeployError unless it succeeded."""
    cfn = run.aws.cfn
    since = events.latest_event_id(cfn, plan.name)
    changesets.execute(cfn, cs)
    run.out.line(f"executing {cs.name}", plan.key)
    final, seen = events.stream(cfn, plan.name, since, lambda e: show_event(run, plan, e), run.poll_delay)
    if final not in events.SUCCESS:
        raise DeployError(failure_message(plan, final, seen, run.aws.region))
    run.out.line(final, plan.key, "green")
    return final, seen


def adopt(run: Run, plan: StackPlan, deployed: stacks.Deployed | None, found: list[adoption.Adoption]
          ) -> Result | None:
    """The IMPORT change set that brings ``found`` (retained by an earlier destroy) into the stack about to be
    created. Executed (deploy): returns None, and the caller goes on with the UPDATE of the full template.
    Otherwise (diff, --no-execute, declined) it is printed, and the Result says where this run stops."""
    cfn = run.aws.cfn

    def say(text: str, colour: str | None = None) -> None:
        run.out.line(text, plan.key, colour)

    verb = "adopting" if run.mode == EXECUTE else "would adopt"
    for a in found:
        say(f"{verb} retained {a.resource_type} {a.name} ({a.logical_id}): it outlived an earlier destroy")
    rest = sorted(set(plan.template.get("Resources") or {}) - {a.logical_id for a in found})
    then = f"then an UPDATE with the full template ({', '.join(rest) or 'no other resources'} to add)"

    if deployed is not None:  # REVIEW_IN_PROGRESS: an empty stack, with change sets someone left for review
        if run.mode == DIFF:  # a diff must not touch them; what the existence checks found is the answer
            say(f"{plan.name} has change sets pending review: no IMPORT change set made; {then}", "yellow")
            return Result(plan.key, "changes")
        say("REVIEW_IN_PROGRESS (never executed): deleting the empty stack and its change sets to import into it")
        cfn.delete_stack(StackName=deployed.stack_id)
        stacks.wait_deleted(cfn, deployed.stack_id)

    body = adoption.import_template(plan.template, [a.logical_id for a in found])
    declared = body.get("Parameters") or {}
    import_plan = dataclasses.replace(plan, body=adoption.render(body), template=body,
                                      parameters={k: v for k, v in plan.parameters.items() if k in declared})
    cs = changesets.create(run.aws, import_plan, "IMPORT", run.account, run.role_for(plan),
                           resources_to_import=[a.to_import() for a in found])
    try:
        cs = changesets.wait(cfn, cs) or cs  # an import always has changes
    except DeployError:
        if run.mode == DIFF:
            discard(cfn, cs, created_stack=True)
        raise
    show_change_set(run, import_plan, None, cs)
    if run.mode == DIFF:
        say(then)
        discard(cfn, cs, created_stack=True)
        return Result(plan.key, "changes", cs)
    if run.mode == REVIEW:
        say(f"change set {cs.name} (IMPORT) left for review: {changesets.console_url(run.aws.region, cs)}; "
            f"once it is executed, deploy again for the rest ({then})", "yellow")
        return Result(plan.key, "pending review", cs)
    if run.confirm is not None and not run.confirm(plan, cs):
        discard(cfn, cs, created_stack=True)
        raise DeployError(f"{plan.name}: not confirmed; import change set deleted, nothing changed")
    execute_and_stream(run, import_plan, cs)
    say("adopted " + ", ".join(a.describe() for a in found) + f"; {then}", "green")
    return None


def pseudo(run: Run, plan: StackPlan) -> dict[str, str]:
    return {"AWS::Region": run.aws.region, "AWS::AccountId": run.account, "AWS::StackName": plan.name,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def protect(run: Run, plan: StackPlan, deployed: stacks.Deployed | None) -> None:
    """Termination protection on protected environments' stacks (one call, only when it is off)."""
    if not plan.termination_protection or (deployed is not None and deployed.termination_protection):
        return
    run.aws.cfn.update_termination_protection(StackName=plan.name, EnableTerminationProtection=True)
    run.out.line("termination protection on", plan.key)


def discard(cfn, cs: ChangeSet, created_stack: bool) -> None:
    """Delete a change set we will not execute; if creating it also created the (empty,
    REVIEW_IN_PROGRESS) stack, delete that too, so a diff leaves nothing behind."""
    if created_stack:
        cfn.delete_stack(StackName=cs.stack_id)
    else:
        changesets.delete(cfn, cs)


def failure_message(plan: StackPlan, final: str, seen: list[dict], region: str) -> str:
    found = events.causes(seen, plan.name)
    lines = [f"{plan.name} failed: {final}"]
    if found:
        lines.append("caused by: " + events.describe_event(found[0]))
        lines += ["also: " + events.describe_event(e) for e in found[1:5]]
    step = stacks.next_step(plan.name, final, region)
    if step:
        lines.append("next: " + step)
    return "\n".join(lines)


def show_event(run: Run, plan: StackPlan, event: dict) -> None:
    run.out.line(events.describe_event(event), plan.key, status_colour(event.get("ResourceStatus", "")))


def parameter_changes(plan: StackPlan, deployed: stacks.Deployed | None) -> list[list[str]]:
    old = deployed.parameters if deployed else {}
    return [[k, old.get(k, "(new)"), v] for k, v in plan.parameters.items() if old.get(k) != v]


def show_change_set(run: Run, plan: StackPlan, deployed: stacks.Deployed | None, cs: ChangeSet) -> None:
    headers = ["Action", "Logical id", "Type", "Replacement"]
    rows = [[c.action, c.logical_id, c.resource_type, c.replacement] for c in cs.changes]
    params = parameter_changes(plan, deployed)
    lines = [f"change set {cs.name} ({cs.type}): {len(rows)} resource change(s)"]
    lines += ["  " + x for x in table(headers, rows)] if rows else []
    if params:
        lines.append("parameters:")
        lines += ["  " + x for x in table(["Parameter", "Deployed", "New"], params)]
    run.out.block(lines, plan.key)
    md = [f"### {plan.name}: {cs.type} change set `{cs.name}`", "", markdown_table(headers, rows) if rows else
          "_no resource changes_"]
    if params:
        md += ["", markdown_table(["Parameter", "Deployed", "New"], params)]
    run.out.summary("\n".join(md))


def inspect(run: Run, plan: StackPlan) -> Result | None:
    """Read-only first look: "unchanged" (DescribeStacks + GetTemplate), else None.

    It needs nothing from other stacks, so every stack does it at once,
    instead of level after level: a no-op deploy costs one round of calls.
    """
    deployed = stacks.describe(run.aws.cfn, plan.name)
    if deployed is None or not stacks.unchanged(run.aws.cfn, plan, deployed):
        return None
    run.out.line("unchanged", plan.key, "green")
    if run.mode == EXECUTE:
        protect(run, plan, deployed)
    return Result(plan.key, "unchanged")


def run_graph(run: Run, plans: list[StackPlan], work: Callable[[Run, StackPlan], Result] = deploy_stack,
              first_look: Callable[[Run, StackPlan], Result | None] | None = inspect) -> list[Result]:
    """Every plan at once: ``first_look`` (may settle it), then, once the plans it depends on
    succeeded, ``work``. Stacks that do not depend on each other change at the same time.

    After a failure nothing new starts (stacks already changing finish: a
    CloudFormation operation cannot be abandoned halfway); the rest are "not started".
    """
    results: dict[str, Result] = {}
    finished = {p.key: threading.Event() for p in plans}
    failed = threading.Event()

    def one(p: StackPlan) -> None:
        try:
            result = _guarded(first_look, run, p) if first_look else None
            if result is None:
                for dep in p.depends_on:
                    finished[dep].wait()
                if failed.is_set() or not all(results[d].ok for d in p.depends_on):
                    result = Result(p.key, "not started")
                else:
                    result = _guarded(work, run, p)
        except BaseException:
            result = Result(p.key, "failed", message="unexpected error")
            raise
        finally:
            results[p.key] = result
            if result.outcome == "failed":
                failed.set()
            finished[p.key].set()

    with ThreadPoolExecutor(max_workers=max(1, len(plans))) as pool:
        for future in [pool.submit(one, p) for p in plans]:
            future.result()  # re-raises a bug (anything _guarded does not turn into a Result)
    return [results[p.key] for p in plans]


def _guarded(work, run: Run, plan: StackPlan) -> Result:
    """A stack's failure as a Result (printed once, here), so that other threads carry on."""
    try:
        return work(run, plan)
    except DeployError as exc:
        message = str(exc)
    except WaiterError as exc:
        message = f"{plan.name}: gave up waiting: {exc}"
    except (ClientError, BotoCoreError) as exc:
        message = f"{plan.name}: AWS error: {exc}"
    for text in message.splitlines():
        run.out.error(text, plan.key)
    return Result(plan.key, "failed", message=message)


def image_gate(run: Run, deferred: bool) -> Callable[[StackPlan], None]:
    """The ``before_change`` hook: stacks that run the image check it again right before they change,
    strictly when pre-flight could not (the repository did not exist yet)."""

    def check(plan: StackPlan) -> None:
        if plan.key in preflight.IMAGE_STACKS and deferred:
            preflight.check_image(run.aws, run.params, run.account, strict=True)

    return check
