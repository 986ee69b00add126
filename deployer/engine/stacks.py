"""A stack's current state, and getting it to a state a change set can start from.

CloudFormation accepts a change set only on a stack that is not busy and not
broken. ``prepare`` turns whatever is there into one of two answers, CREATE or
UPDATE, or stops with the exact command the operator has to run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from contract import TEMPLATE_DIGEST_PARAMETER, TEMPLATE_DIGEST_UNRECORDED
from deployer.engine.stack_status import BUSY, STABLE
from deployer.errors import DeployError

# Waiter delay: CloudFormation's stock waiters poll every 30 s, which adds up
# to half a minute to every stack; 3 s is cheap and feels immediate.
WAIT_DELAY = 3
WAIT_MAX_ATTEMPTS = 1200  # one hour at 3 s: the longest a stack operation plausibly takes

# A custom botocore waiter: "until the stack is no longer busy", whatever it ends
# in. The stock waiters each expect one outcome (stack_update_complete fails on
# UPDATE_ROLLBACK_COMPLETE...), but before a deploy any settled state will do:
# prepare() decides what to make of it.
def _settled_waiter_model() -> WaiterModel:
    busy = json.dumps(sorted(BUSY))
    return WaiterModel(
        {
            "version": 2,
            "waiters": {
                "StackSettled": {
                    "operation": "DescribeStacks",
                    "delay": WAIT_DELAY,
                    "maxAttempts": WAIT_MAX_ATTEMPTS,
                    "acceptors": [
                        {"matcher": "path", "argument": f"contains(`{busy}`, Stacks[0].StackStatus)",
                         "expected": False, "state": "success"},
                        # Deleted while we waited: settled too (into "no stack").
                        {"matcher": "error", "expected": "ValidationError", "state": "success"},
                    ],
                }
            },
        }
    )


@dataclass(frozen=True)
class Deployed:
    """What DescribeStacks says about a stack (None of this when it does not exist)."""

    stack_id: str
    status: str
    parameters: dict[str, str]
    tags: dict[str, str]
    termination_protection: bool
    outputs: dict[str, str]
    reason: str = ""
    updated: str = ""  # last update (or creation) time, ISO, to the second


def describe(cfn, name: str) -> Deployed | None:
    """The one reader of DescribeStacks: the stack as deployed, or None when there is none."""
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    when = stack.get("LastUpdatedTime") or stack.get("CreationTime")
    return Deployed(
        stack_id=stack["StackId"],
        status=stack["StackStatus"],
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
        tags={t["Key"]: t["Value"] for t in stack.get("Tags", [])},
        termination_protection=bool(stack.get("EnableTerminationProtection")),
        outputs={o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])},
        reason=stack.get("StackStatusReason", ""),
        updated=when.isoformat(timespec="seconds") if hasattr(when, "isoformat") else "",
    )


def is_missing(exc: ClientError) -> bool:
    """AWS's answer for a stack that does not exist: ValidationError "Stack with id X does not exist".
    Any other error (access denied, throttling past the retries...) is not an answer about the stack."""
    err = exc.response.get("Error", {})
    return err.get("Code") == "ValidationError" and "does not exist" in err.get("Message", "")


def wait_settled(cfn, name: str) -> None:
    create_waiter_with_client("StackSettled", _settled_waiter_model(), cfn).wait(StackName=name)


def start_delete(cfn, stack: str, protected: bool, say=None) -> None:
    """DeleteStack, with termination protection turned off first when it is on (AWS refuses to delete a
    protected stack: ValidationError "Stack [NAME] cannot be deleted while TerminationProtection is enabled")."""
    if protected:
        cfn.update_termination_protection(StackName=stack, EnableTerminationProtection=False)
        if say:
            say("termination protection off")
    cfn.delete_stack(StackName=stack)


def wait_deleted(cfn, stack: str, name: str, region: str, delay: float | None = None,
                 attempts: int | None = None) -> None:
    """Wait until ``stack`` (name or id) is gone; DeployError naming the status and the next step if not."""
    delay = WAIT_DELAY if delay is None else delay
    try:
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack, WaiterConfig={"Delay": delay, "MaxAttempts": attempts or WAIT_MAX_ATTEMPTS})
    except WaiterError:
        # Look again before giving up: a DELETE_FAILED seen while the delete
        # is still settling is not final (LocalStack shows one for an instant).
        time.sleep(delay)
        now = describe(cfn, stack)
        if now is None or now.status == "DELETE_COMPLETE":
            return
        reason = f" ({now.reason})" if now.reason else ""
        step = next_step(name, now.status, region) or "see the stack's events in the CloudFormation console"
        raise DeployError(f"{name} was not deleted: {now.status}{reason}; next: {step}") from None


def delete_and_wait(cfn, stack: str, name: str, region: str, protected: bool = False, say=None) -> None:
    start_delete(cfn, stack, protected, say)
    wait_deleted(cfn, stack, name, region)


def next_step(name: str, status: str, region: str) -> str | None:
    """The command that unblocks a stack CloudFormation will not change, or None if it is not blocked."""
    where = f"--stack-name {name} --region {region}"
    steps = {
        "UPDATE_ROLLBACK_FAILED": (
            f"aws cloudformation continue-update-rollback {where}  "
            "(if a resource cannot roll back, fix it or add --resources-to-skip LOGICAL_ID), then deploy again"
        ),
        "DELETE_FAILED": (
            f"remove what blocks the delete (see the DELETE_FAILED events: aws cloudformation describe-stack-events "
            f"{where}), then aws cloudformation delete-stack {where} (add --retain-resources LOGICAL_ID to keep "
            "one), then deploy again"
        ),
        "ROLLBACK_FAILED": (
            f"aws cloudformation delete-stack {where}  (add --retain-resources LOGICAL_ID for a resource that "
            "cannot be deleted), then deploy again"
        ),
        "CREATE_FAILED": f"aws cloudformation delete-stack {where}, then deploy again",
        "UPDATE_FAILED": f"aws cloudformation rollback-stack {where}, then deploy again",
        # A failed adoption (deploy imports retained resources into a new stack): the stack is left empty.
        "IMPORT_ROLLBACK_COMPLETE": "fix the cause above, then deploy again (the empty stack is deleted and the "
                                    "retained resources are adopted again)",
        "IMPORT_ROLLBACK_FAILED": (
            f"aws cloudformation continue-update-rollback {where}, then deploy again"
        ),
    }
    return steps.get(status)


def prepare(cfn, name: str, region: str, say) -> tuple[str, Deployed | None]:
    """Bring the stack to where a change set can start: returns ("CREATE", None|stack) or ("UPDATE", stack).

    ``say`` prints one progress line.
    """
    stack = describe(cfn, name)
    if stack is not None and stack.status in BUSY:
        say(f"{stack.status}: waiting for the operation already running to finish")
        wait_settled(cfn, name)
        stack = describe(cfn, name)
    if stack is None or stack.status == "DELETE_COMPLETE":
        return "CREATE", None
    if stack.status == "REVIEW_IN_PROGRESS":
        # Created by a change set never executed (a --no-execute or an interrupted
        # run): it has no resources, a CREATE change set goes on from there.
        return "CREATE", stack
    if stack.status == "ROLLBACK_COMPLETE":
        # A first create that failed and rolled back: CloudFormation cannot update
        # it, but it holds no resources, so deleting it loses nothing.
        say("ROLLBACK_COMPLETE (its first create failed): deleting it to create it again")
        delete_and_wait(cfn, name, name, region, stack.termination_protection)
        return "CREATE", None
    if stack.status == "IMPORT_ROLLBACK_COMPLETE" and not has_resources(cfn, name):
        # A first adoption (IMPORT into a new stack) that rolled back: the stack is empty, and an UPDATE
        # would create the retained resources again ("already exists"). Like ROLLBACK_COMPLETE, start over.
        say("IMPORT_ROLLBACK_COMPLETE with no resources (its adoption failed): deleting it to adopt again")
        delete_and_wait(cfn, name, name, region, stack.termination_protection)
        return "CREATE", None
    if stack.status in STABLE:
        return "UPDATE", stack
    step = next_step(name, stack.status, region)
    reason = f" ({stack.reason})" if stack.reason else ""
    raise DeployError(f"{name} is {stack.status}{reason}; CloudFormation cannot change it until you run: "
                      f"{step or 'see the stack in the CloudFormation console'}")


def has_resources(cfn, name: str) -> bool:
    page = cfn.list_stack_resources(StackName=name)
    return bool(page.get("StackResourceSummaries"))


def template_hash(body: str | dict) -> str:
    if not isinstance(body, str):  # botocore parses JSON bodies; ours are YAML, but be safe
        body = json.dumps(body, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def deployed_body(cfn, name: str) -> str | dict:
    # "Original" is the template as submitted, before transforms: what we compare with.
    return cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]


def unchanged(cfn, plan, stack: Deployed | None) -> bool:
    """True when the deployed stack already has this template, these parameters and these tags.

    DescribeStacks (already made) is the only call when the stack records its template's digest (the
    TemplateDigest parameter, templates/digest.py): the digest is one of the parameters compared. A stack an
    older deployer left records none: its template is fetched (GetTemplate) and compared, and the change set
    that follows records the digest.
    """
    if stack is None or stack.status not in STABLE or stack.tags != plan.tags:
        return False
    digest = plan.parameters.get(TEMPLATE_DIGEST_PARAMETER)
    recorded = stack.parameters.get(TEMPLATE_DIGEST_PARAMETER, TEMPLATE_DIGEST_UNRECORDED)
    if digest is not None and recorded != TEMPLATE_DIGEST_UNRECORDED:
        return stack.parameters == plan.parameters  # the digest among them: same digest, same template
    if _without_digest(stack.parameters) != _without_digest(plan.parameters):
        return False
    return template_hash(deployed_body(cfn, plan.name)) == template_hash(plan.body)


def _without_digest(parameters: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in parameters.items() if k != TEMPLATE_DIGEST_PARAMETER}
