"""One stack's deploy: unchanged? -> prepare -> [adopt retained resources] -> change set -> guard -> review
-> confirm -> execute -> events.

``change_set_flow`` is the one path every change set takes (a deploy's CREATE or UPDATE, an adoption's
IMPORT, a rollback's UPDATE): create, wait, show, guard, then by ``Mode`` delete it (diff), leave it
(review), or confirm and execute it. ``deploy_stack`` decides which change sets a stack needs; ``inspect``
is the read-only first look (every stack at once); scheduling over the graph is ``schedule.run_graph``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

import contract
from deployer.aws import Aws
from deployer.engine import (
    adoption,
    cfn_events,
    changesets,
    events,
    guard,
    image,
    preflight,
    rollback_triggers,
    stack_policy,
    stack_status,
    stacks,
)
from deployer.engine import plan as plan_module
from deployer.engine.changesets import ChangeSet
from deployer.engine.outcome import Mode, Outcome, Result
from deployer.engine.plan import StackPlan
from deployer.engine.report import Reporter, markdown_table, table
from deployer.errors import DeployError
from templates.params import Params


@dataclass
class Run:
    aws: Aws
    params: Params
    out: Reporter
    account: str
    mode: Mode = Mode.EXECUTE
    # Asked before executing a change set; None = no confirmation (--yes, or not executing).
    confirm: Callable[[StackPlan, ChangeSet], bool] | None = None
    # The risk gate: called with each computed change set before it is confirmed and executed; raises
    # DeployError to refuse it (the change set is then deleted).
    gate: Callable[[StackPlan, ChangeSet, stacks.Deployed | None], None] | None = None
    # Seconds between event polls; tests shorten it.
    poll_delay: float = events.POLL_DELAY
    # The image the operator asked for (--image-tag or --image-digest); None keeps the running one.
    image_request: image.Request | None = None
    # The image the stacks that run it deploy, resolved once (settle_image; with_image when its repository did
    # not exist yet), and the one a change set moves them from (looked up to show it).
    image: image.ImageRef | None = None
    previous_image: image.ImageRef | None = None
    # The promotion gate (an environment with a promotion source: verbs.verb.Promotion), told the image once it
    # is resolved and the stack that runs it as it stands (None: not read, or not deployed); raises DeployError
    # (or BadInput) to refuse it before any change set of the stack that runs it is made.
    promote: Callable[[image.ImageRef, stacks.Deployed | None], None] | None = None
    # A new image's ECR scan gates it (a deploy that executes; a kept image was gated when first deployed).
    gate_scan: bool = False
    allow_vulnerable: bool = False
    # Protected resources (--allow-replace) a change set may replace or delete.
    allow_replace: frozenset[str] = frozenset()
    _access: list = field(default_factory=list, repr=False)
    # DescribeStacks answers the pre-flight got before the stacks are scheduled (the stack that runs the image),
    # by stack name: that stack's first look takes its answer instead of asking again (once).
    _first_looks: dict[str, stacks.Deployed | None] = field(default_factory=dict, repr=False)
    _access_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _image_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ci_access(self) -> preflight.CiAccess:
        """The CI access stack's role and boundary, read once per run: when a plan takes the boundary, before
        the first look at any stack (settle_access); otherwise on the first change set (a no-op deploy of
        stacks with no roles never needs it)."""
        with self._access_lock:
            if not self._access:
                self._access.append(preflight.ci_access(self.aws, self.params))
            return self._access[0]

    def first_look(self, name: str) -> stacks.Deployed | None:
        """Stack ``name`` as deployed: the pre-flight's DescribeStacks answer when it has one (taken once), else
        one DescribeStacks."""
        if name in self._first_looks:
            return self._first_looks.pop(name)
        return stacks.describe(self.aws.cfn, name)

    def role_for(self, plan: StackPlan) -> str | None:
        """The execution role CloudFormation should act as for ``plan``; never for the stack that creates it."""
        return None if plan.key == contract.CI_ACCESS else self.ci_access().execution_role


def deploy_stack(run: Run, plan: StackPlan) -> Result:
    cfn = run.aws.cfn
    change_type, deployed = stacks.prepare(cfn, plan.name, run.aws.region, _say(run, plan))
    plan = with_image(run, plan, deployed)
    if change_type == "UPDATE" and stacks.unchanged(cfn, plan, deployed):
        run.out.line("unchanged", plan.key, "green")
        keep_guards(run, plan, deployed)
        return Result(plan.key, Outcome.UNCHANGED)

    adopted = False
    if change_type == "CREATE":
        found = adoption.existing(run.aws, plan.template, plan.parameters, pseudo(run, plan),
                                  lambda text: run.out.line(text, plan.key, "yellow"))
        if found:
            imported = adopt(run, plan, deployed, found)
            if imported.outcome != Outcome.ADOPTED:  # diff, --no-execute: the import is where this run stops
                return imported
            adopted = True
            change_type, deployed = "UPDATE", stacks.describe(cfn, plan.name)

    result = change_set_flow(run, plan, change_type, deployed,
                             declined=" after the adoption (the stack holds the adopted resources)" if adopted else "")
    if result.outcome == Outcome.NO_CHANGES:
        keep_guards(run, plan, deployed)
        return Result(plan.key, Outcome.ADOPTED if adopted else Outcome.NO_CHANGES)
    if result.outcome in (Outcome.CREATED, Outcome.UPDATED):
        keep_guards(run, plan, deployed)  # an update keeps the stack's protection as it was
        if adopted:
            result.outcome = Outcome.ADOPTED_UPDATED
    return result


def change_set_flow(run: Run, plan: StackPlan, change_type: str, deployed: stacks.Deployed | None, *,
                    importing: list[adoption.Adoption] | None = None, then: str = "", declined: str = ""
                    ) -> Result:
    """One change set from creation to its end: diff -> review -> confirm -> execute.

    Returns NO_CHANGES (deleted), CHANGES (diff: shown and deleted), PENDING_REVIEW (--no-execute: left in
    the console), or CREATED / UPDATED / ADOPTED once executed and the stack settled. Raises DeployError
    when the change set fails, the guard refuses it (it is deleted: nobody should execute it from the
    console), the operator declines it (deleted), or the stack fails.

    ``importing``: an IMPORT of these retained resources (``then`` says what follows it). ``declined`` is
    added to the message when the operator says no.
    """
    cfn = run.aws.cfn
    created_stack = deployed is None  # creating the change set also made the (empty) stack: discard deletes it
    # The alarms that watch the update (an IMPORT takes none: CloudFormation refuses a rollback configuration
    # on an import).
    triggers = None if importing else rollback_triggers.configuration(
        deployed.outputs if deployed is not None and change_type == "UPDATE" else None, plan.key,
        run.params["rollback_monitoring_minutes"])
    cs = changesets.create(run.aws, plan, change_type, run.account, run.role_for(plan),
                           resources_to_import=[a.to_import() for a in importing] if importing else None,
                           rollback_configuration=triggers)
    try:
        computed = changesets.wait(cfn, cs)
    except DeployError as exc:
        failed = DeployError("\n".join([str(exc), *validation_lines(run, plan, cs)]))
        if run.mode == Mode.DIFF:  # a diff leaves nothing behind; a deploy leaves the failed change set to look at
            discard(cfn, cs, created_stack)
        raise failed from None
    if computed is None and not importing:  # an import always has changes
        run.out.line("no changes", plan.key, "green")
        changesets.delete(cfn, cs)
        return Result(plan.key, Outcome.NO_CHANGES)
    cs = computed or cs
    show_change_set(run, plan, deployed, cs)
    warnings = validation_warnings(run, plan, cs)

    if deployed is not None and change_type == "UPDATE":
        try:
            stack_policy.check(cs.changes, plan.key, plan.name, run.allow_replace)
            guard.check(cfn, plan.name, deployed.stack_id, plan.template, plan.parameters, pseudo(run, plan), cs)
        except DeployError:
            discard(cfn, cs, created_stack)
            raise

    if run.mode == Mode.DIFF:
        if then:
            run.out.line(then, plan.key)
        discard(cfn, cs, created_stack)
        return Result(plan.key, Outcome.CHANGES, cs, validation=warnings)
    if run.mode == Mode.REVIEW:
        what = f"{cs.name} (IMPORT)" if importing else cs.name
        rest = f"; once it is executed, deploy again for the rest ({then})" if importing else ""
        run.out.line(f"change set {what} left for review: {changesets.console_url(run.aws.region, cs)}{rest}",
                     plan.key, "yellow")
        return Result(plan.key, Outcome.PENDING_REVIEW, cs, validation=warnings)
    if run.gate is not None:
        try:
            run.gate(plan, cs, deployed)
        except DeployError:
            discard(cfn, cs, created_stack)
            raise
    if run.confirm is not None and not run.confirm(plan, cs):
        discard(cfn, cs, created_stack)
        what = "import change set" if importing else "change set"
        raise DeployError(f"{plan.name}: not confirmed; {what} deleted, nothing changed{declined}")

    # --allow-replace: the stack policy spares what this change set replaces, for as long as it runs (not atomic:
    # see stack_policy). Nothing to spare, nothing is called.
    spared = set() if importing else stack_policy.to_spare(cs.changes, plan.key, run.allow_replace)
    with stack_policy.lifted(cfn, plan.name, plan.key, spared):
        seen = execute_and_stream(run, plan, cs, triggers)
    outcome = {"CREATE": Outcome.CREATED, "UPDATE": Outcome.UPDATED, "IMPORT": Outcome.ADOPTED}[cs.type]
    return Result(plan.key, outcome, cs, events=seen, validation=warnings)


def validation_lines(run: Run, plan: StackPlan, cs: ChangeSet) -> list[str]:
    """Why a change set FAILED, in CloudFormation's own words (DescribeEvents: FAIL-mode validation, name
    conflicts); nothing more where the API cannot be asked (the change set's StatusReason is all there is)."""
    found = cfn_events.change_set_findings(run.aws.cfn, cs.id)
    lines = [f"{f.severity}: {f.text}" for f in found or []]
    if lines:
        run.out.summary("\n".join([f"### {plan.name}: change set `{cs.name}` failed", ""]
                                   + [f"- {line}" for line in lines]))
    return lines


def validation_warnings(run: Run, plan: StackPlan, cs: ChangeSet) -> list[cfn_events.Found]:
    """What CloudFormation's WARN-mode validation noticed on a change set that succeeded, shown beside it."""
    found = cfn_events.change_set_findings(run.aws.cfn, cs.id) or []
    for f in found:
        run.out.line(f"CloudFormation {f.severity}: {f.text}", plan.key, "yellow")
    if found:
        run.out.summary("\n".join(f"- CloudFormation {f.severity}: {f.text}" for f in found))
    return found


def execution_lines(run: Run, seen: list[dict]) -> list[str]:
    """The provisioning and hook errors DescribeEvents holds for a failed execution (by the operation id its
    stack events carry); the stack events already printed are the fallback."""
    operation = next((e["OperationId"] for e in seen if e.get("OperationId")), None)
    found = cfn_events.operation_findings(run.aws.cfn, operation) if operation else None
    return [f"CloudFormation {f.severity}: {f.text}" for f in found or []]


def execute_and_stream(run: Run, plan: StackPlan, cs: ChangeSet, triggers: dict | None = None) -> list[dict]:
    """Execute ``cs`` and print the stack's events until it settles; DeployError unless it succeeded.
    ``triggers``: the rollback configuration ``cs`` carries, to say which alarm rolled it back."""
    cfn = run.aws.cfn
    since = events.latest_event_id(cfn, plan.name)
    run.out.tracker.begin(plan.key, f"executing {cs.type}", [c.logical_id for c in cs.changes])
    changesets.execute(cfn, cs)
    # Above the live view (and in CI's log): which image the stack that runs it is moving to.
    shown = f": image {run.image.show()}" if plan.key in preflight.IMAGE_STACKS and run.image is not None else ""
    run.out.line(f"executing {cs.name}{shown}", plan.key)
    final, seen = events.stream(cfn, plan.name, since, lambda e: show_event(run, plan, e), run.poll_delay)
    if final not in stack_status.SUCCEEDED:
        cause = trigger_message(run, plan, final, seen, triggers) or failure_message(plan, final, seen,
                                                                                      run.aws.region)
        raise DeployError("\n".join([cause, *execution_lines(run, seen)]))
    run.out.line(final, plan.key, "green")
    return seen


def adopt(run: Run, plan: StackPlan, deployed: stacks.Deployed | None, found: list[adoption.Adoption]) -> Result:
    """The IMPORT change set that brings ``found`` (retained by an earlier destroy) into the stack about to be
    created. ADOPTED once executed (the caller goes on with the UPDATE of the full template); otherwise
    (diff, --no-execute) the Result says where this run stops."""
    say = _say(run, plan)
    verb = "adopting" if run.mode == Mode.EXECUTE else "would adopt"
    for a in found:
        say(f"{verb} retained {a.resource_type} {a.name} ({a.logical_id}): it outlived an earlier destroy")
    rest = sorted(set(plan.template.get("Resources") or {}) - {a.logical_id for a in found})
    then = f"then an UPDATE with the full template ({', '.join(rest) or 'no other resources'} to add)"

    if deployed is not None:  # REVIEW_IN_PROGRESS: an empty stack, with change sets someone left for review
        if run.mode == Mode.DIFF:  # a diff must not touch them; what the existence checks found is the answer
            run.out.line(f"{plan.name} has change sets pending review: no IMPORT change set made; {then}",
                         plan.key, "yellow")
            return Result(plan.key, Outcome.CHANGES)
        say("REVIEW_IN_PROGRESS (never executed): deleting the empty stack and its change sets to import into it")
        stacks.delete_and_wait(run.aws.cfn, deployed.stack_id, plan.name, run.aws.region)

    body = adoption.import_template(plan.template, [a.logical_id for a in found])
    declared = body.get("Parameters") or {}
    import_plan = dataclasses.replace(plan, body=adoption.render(body), template=body,
                                      parameters={k: v for k, v in plan.parameters.items() if k in declared})
    result = change_set_flow(run, import_plan, "IMPORT", None, importing=found, then=then)
    if result.outcome == Outcome.ADOPTED:
        run.out.line("adopted " + ", ".join(a.describe() for a in found) + f"; {then}", plan.key, "green")
    return result


def _say(run: Run, plan: StackPlan) -> Callable[[str], None]:
    return lambda text: run.out.line(text, plan.key)


def pseudo(run: Run, plan: StackPlan) -> dict[str, str]:
    return {"AWS::Region": run.aws.region, "AWS::AccountId": run.account, "AWS::StackName": plan.name,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def with_image(run: Run, plan: StackPlan, deployed: stacks.Deployed | None) -> StackPlan:
    """``plan`` with the digest of the run's image, for a stack that runs it and has none yet: settle_image
    found no repository at pre-flight (the data stack creates it), so the image is resolved now, strictly, right
    before the stack changes. Every other plan is returned as it is."""
    if plan.key not in preflight.IMAGE_STACKS or image.DIGEST_PARAMETER in plan.parameters:
        return plan
    with run._image_lock:  # noqa: SLF001 (the run's own lock)
        if run.image is None:
            _settle(run, deployed, _say(run, plan))
    return dataclasses.replace(plan, parameters={**plan.parameters, image.DIGEST_PARAMETER: run.image.digest})


def keep_guards(run: Run, plan: StackPlan, deployed: stacks.Deployed | None) -> None:
    """A stack a deploy leaves as it should be (unchanged, no changes, or executed): its termination protection
    and its stack policy kept as they are meant to be. A diff or a review changes nothing."""
    if run.mode == Mode.EXECUTE:
        protect(run, plan, deployed)
        keep_policy(run, plan)


def keep_policy(run: Run, plan: StackPlan) -> None:
    """The stack policy of a stack that protects resources, set when it is missing or differs (a first create,
    or a policy a killed run left lifted).

    Read (GetStackPolicy) on every deploy, an unchanged stack's too: the policy is no part of what DescribeStacks
    returns, and a digest recorded beside the template would say which policy a deploy set, not the one the
    stack has now, after a run killed while the policy was lifted (stack_policy.lifted) or a SetStackPolicy by
    hand; putting that right is this call's purpose. One call, only on a stack that protects resources (data)."""
    if stack_policy.protected(plan.key) and stack_policy.ensure(run.aws.cfn, plan.name, plan.key):
        run.out.line("stack policy set: replacing or deleting " + ", ".join(stack_policy.protected(plan.key))
                     + " is denied", plan.key)


def trigger_message(run: Run, plan: StackPlan, final: str, seen: list[dict], triggers: dict | None) -> str:
    """When a rollback trigger rolled the update back: which alarm, its reason, the rollback events ("" when the
    rollback had another cause, or the alarm cannot be read: failure_message says what it can)."""
    if final != "UPDATE_ROLLBACK_COMPLETE" or triggers is None:  # no rollback configuration: nothing to blame
        return ""
    arns = [t["Arn"] for t in triggers["RollbackTriggers"]]
    try:
        return "\n".join(rollback_triggers.explain(run.aws.client("cloudwatch"), plan.name, seen, arns))
    except (ClientError, BotoCoreError) as exc:
        run.out.error(f"could not read the rollback-trigger alarms: {exc}", plan.key)
        return ""


def protect(run: Run, plan: StackPlan, deployed: stacks.Deployed | None) -> None:
    """Termination protection on protected environments' stacks (one call, only when it is off)."""
    if not plan.termination_protection or (deployed is not None and deployed.termination_protection):
        return
    try:
        run.aws.cfn.update_termination_protection(StackName=plan.name, EnableTerminationProtection=True)
    except ClientError as exc:
        # The CI deploy role holds no UpdateTerminationProtection (so CI cannot lift it and delete prod), and
        # the first-time setup creates every prod stack as an admin, who sets it. A protected environment's
        # stack left unprotected is a failure of the run: the deploy went through, the stack is not safe.
        if exc.response.get("Error", {}).get("Code") != "AccessDenied":
            raise
        raise DeployError(f"{plan.name}: termination protection is off and these credentials may not turn it on "
                          f"(AccessDenied); an admin must run: "
                          f"{enable_protection_command(plan.name, run.aws.region)}") from None
    run.out.line("termination protection on", plan.key)


def enable_protection_command(stack: str, region: str) -> str:
    return (f"aws cloudformation update-termination-protection --enable-termination-protection "
            f"--stack-name {stack} --region {region}")


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
    run.out.event(plan.key, event, events.describe_event(event))


def parameter_changes(run: Run, plan: StackPlan, deployed: stacks.Deployed | None) -> list[list[str]]:
    """Parameter, deployed value, new value: each that changes, and the image when it is kept, so a reviewer
    sees which image the update runs. The image shows as ``tag (sha256:abcd1234...)``."""
    old = deployed.parameters if deployed else {}
    rows = []
    for k, v in plan.parameters.items():
        if k == image.DIGEST_PARAMETER and run.image is not None and v == run.image.digest:
            new = run.image.show()
            if old.get(k) != v:
                rows.append([k, _show_image(run, old[k]) if old.get(k) else "(new)", new])
            elif run.image.source == image.KEPT:
                rows.append([k, new, f"{new} (kept)"])
        elif old.get(k) != v:
            rows.append([k, old.get(k, "(new)"), v])
    return rows


def _show_image(run: Run, digest: str) -> str:
    """The image a stack ran before this change, as ``tag (sha256:...)``: looked up (one DescribeImages) only
    when a change set moves the stack to another image."""
    if not image.is_digest(digest):
        return digest
    if run.previous_image is None or run.previous_image.digest != digest:
        repository = contract.resource_name("repository", run.params.project)
        run.previous_image = image.describe(run.aws.client("ecr"), repository, digest) or image.ImageRef(digest)
    return run.previous_image.show()


def show_change_set(run: Run, plan: StackPlan, deployed: stacks.Deployed | None, cs: ChangeSet) -> None:
    headers = ["Action", "Logical id", "Type", "Replacement"]
    rows = [[c.action, c.logical_id, c.resource_type, c.replacement] for c in cs.changes]
    params = parameter_changes(run, plan, deployed)
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
    """Read-only first look: "unchanged" (one DescribeStacks, or the pre-flight's; GetTemplate only for a stack
    that records no template digest), else None.

    It needs nothing from other stacks, so every stack does it at once,
    instead of level after level: a no-op deploy costs one round of calls.
    """
    deployed = run.first_look(plan.name)
    if deployed is None or not stacks.unchanged(run.aws.cfn, plan, deployed):
        return None
    run.out.line("unchanged", plan.key, "green")
    keep_guards(run, plan, deployed)
    return Result(plan.key, Outcome.UNCHANGED)


def settle_access(run: Run, plans: list[StackPlan]) -> list[StackPlan]:
    """Look up the CI access stack once, before the first look at any stack, when a plan takes the permissions
    boundary: say which mode the run deploys in, and give every plan that declares it the boundary's ARN
    (the "unchanged" check compares parameters, so the value must be known before ``inspect``). Without the CI
    stack the plans keep the declared default "" (admin mode: roles unbounded). The execution role found is
    the run's (``role_for`` does not look again)."""
    if not any(plan_module.declares(p, contract.PERMISSIONS_BOUNDARY_PARAMETER) for p in plans):
        return plans
    access = run.ci_access()
    run.out.line(access.mode())
    if not access.boundary:
        return plans
    return plan_module.with_parameter(plans, contract.PERMISSIONS_BOUNDARY_PARAMETER, access.boundary)


def settle_image(run: Run, plans: list[StackPlan], strict: bool = False) -> list[StackPlan]:
    """Resolve the run's image once, before the first look at any stack, when a plan runs it (one DescribeImages;
    one DescribeStacks of that stack to keep its image, none when the image is given), gate a new image on its
    ECR scan (``run.gate_scan``), and give every plan that takes it the digest (the "unchanged" check compares
    parameters, so the value must be known before ``inspect``). A repository that does not exist yet (the data
    stack creates it) defers the resolution to right before the stack that runs the image (``with_image``),
    unless ``strict``; an image not in ECR stops the run here, before anything changed."""
    runs_image = [p for p in plans if p.key in preflight.IMAGE_STACKS]
    if not runs_image:
        return plans
    name = runs_image[0].name
    try:  # asked for: checked in ECR before any stack is read; kept: the stack says which
        _settle(run, None if run.image_request is not None else _settled(run, name), run.out.line)
    except image.NotInEcr as exc:
        if strict or exc.state != preflight.NO_REPOSITORY:
            raise
        run.out.line("image: repository not created yet; resolved before the stacks that run it")
        return plans
    return plan_module.with_parameter(plans, image.DIGEST_PARAMETER, run.image.digest)


def _settled(run: Run, name: str) -> stacks.Deployed | None:
    """The stack that runs the image, as deployed; when it is busy, as it settles (the image it keeps is the one
    it ends up running)."""
    deployed = stacks.describe(run.aws.cfn, name)
    if deployed is not None and deployed.status in stack_status.BUSY:
        run.out.line(f"{name} is {deployed.status}: waiting for it to settle, to keep the image it runs")
        stacks.wait_settled(run.aws.cfn, name)
        deployed = stacks.describe(run.aws.cfn, name)
    run._first_looks[name] = deployed  # noqa: SLF001 (the run's own record)
    return deployed


def _settle(run: Run, deployed: stacks.Deployed | None, say: Callable[[str], None]) -> None:
    """Resolve, gate and say the run's image: ``run.image`` once done (NotInEcr, or DeployError when it may not
    run)."""
    repository = contract.resource_name("repository", run.params.project)
    registry = f"{run.account}.dkr.ecr.{run.aws.region}.amazonaws.com"
    ref = image.resolve(run.aws.client("ecr"), repository, run.image_request, deployed, run.params["image_tag"],
                        registry)
    why = {image.GIVEN: f"given: {run.image_request}",
           image.KEPT: "kept: the one running; --image-tag to change it",
           image.FIRST_CREATE: "the first create's, params' image_tag"}[ref.source]
    legacy_tag = image.running(deployed)[1]
    if legacy_tag:
        why += f"; pinned by digest from tag {legacy_tag}, which an older deploy.py ran"
    say(f"image {ref.show()} ({why}): in ECR")
    if run.promote is not None:  # before the scan: an image prod may not run needs no verdict on its findings
        run.promote(ref, deployed)
    if run.gate_scan and ref.source != image.KEPT:
        preflight.check_scan(run.aws, run.params, ref.digest, ref.show(), run.allow_vulnerable, say)
    run.image = ref


def keep_released(run: Run, results: list[Result]) -> None:
    """After an executed run in which a stack that runs the image ended well: the image it runs gets its
    environment's release tag (once), which the repository's lifecycle never expires. DeployError when ECR
    refuses: the stacks are deployed, but the image is not protected until a deploy tags it."""
    if run.mode != Mode.EXECUTE or run.image is None:
        return
    done = [r for r in results if r.key in preflight.IMAGE_STACKS and r.ok]
    if not done:
        return
    repository = contract.resource_name("repository", run.params.project)
    try:
        tag = image.mark_released(run.aws.client("ecr"), repository, run.image, run.params["environment"])
    except (ClientError, BotoCoreError, DeployError) as exc:
        raise DeployError(f"{done[0].key} runs image {run.image.show()}, but giving it its release tag failed: "
                          f"{exc}\nuntil it has one, the repository's lifecycle may expire it; deploy again to "
                          "retry (a deploy tags the image it keeps)") from None
    if tag:
        run.out.line(f"image {run.image.show()} tagged {tag}: the repository's lifecycle keeps it", done[0].key)
