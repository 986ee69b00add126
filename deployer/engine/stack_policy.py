"""The stack policy that keeps the stateful resources (the secret, the bucket, the repository) from being replaced
or deleted by an update, and the deployer's refusal of a change set that would try.

The policy denies ``Update:Replace`` and ``Update:Delete`` on ``contract.PROTECTED_RESOURCES[stack_key]`` and
allows every other update. CloudFormation enforces it only once the update runs (it fails mid-update and rolls
back), so ``refusals`` reads the change set first and refuses it before execution, naming the resource and the
property that forces its replacement.

``--allow-replace LOGICAL_ID`` lets one through. ExecuteChangeSet takes no temporary policy (only UpdateStack
has StackPolicyDuringUpdateBody), so ``lifted`` sets a policy that spares that resource, lets the caller execute
and wait, and puts the protective policy back whatever happens. That is three calls, not one atomic operation:
while the policy is lifted, any update of the stack (another operator's, a console change set) may replace that
resource too, and a process killed outright (SIGKILL, lost runner) leaves it lifted until the next deploy,
which puts it back (``ensure``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

import contract
from deployer.engine.changesets import Change
from deployer.errors import BadInput, DeployError

# Details[].Target.RequiresRecreation values that mean the property change may recreate the resource.


def protected(stack_key: str) -> tuple[str, ...]:
    return contract.PROTECTED_RESOURCES.get(stack_key, ())


def policy(stack_key: str, spared: Iterable[str] = ()) -> dict | None:
    """The stack policy of ``stack_key`` (None: the stack protects nothing). ``spared``: protected logical ids
    the policy lets be replaced or deleted (``--allow-replace``)."""
    if not protected(stack_key):
        return None
    guarded = [r for r in protected(stack_key) if r not in set(spared)]
    statements = []
    if guarded:
        statements.append({"Effect": "Deny", "Action": ["Update:Replace", "Update:Delete"], "Principal": "*",
                           "Resource": [f"LogicalResourceId/{r}" for r in guarded]})
    # An explicit Deny wins over this Allow; without an Allow, a stack policy denies every update.
    statements.append({"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"})
    return {"Statement": statements}


def body(document: dict) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def current(cfn, stack_name: str) -> dict | None:
    """The stack's policy now (GetStackPolicy), None when it has none."""
    text = cfn.get_stack_policy(StackName=stack_name).get("StackPolicyBody")
    return json.loads(text) if text else None


def ensure(cfn, stack_name: str, stack_key: str) -> bool:
    """Set the protective policy when the stack's differs (or it has none); True when it was set.

    Call it once the stack exists (CreateChangeSet takes no policy) and after every deploy that leaves the stack
    stable, so that a policy left lifted by a killed run, or an old one, is put right.
    """
    wanted = policy(stack_key)
    if wanted is None or current(cfn, stack_name) == wanted:
        return False
    cfn.set_stack_policy(StackName=stack_name, StackPolicyBody=body(wanted))
    return True


def validate_allowed(allowed: Iterable[str]) -> None:
    """BadInput (exit 2, before any AWS call) for an --allow-replace that names no protected resource."""
    known = sorted({r for ids in contract.PROTECTED_RESOURCES.values() for r in ids})
    for name in sorted(set(allowed)):
        if name not in known:
            raise BadInput(f"--allow-replace {name}: not a protected resource; allowed: {', '.join(known)}")


def _refused(changes: Iterable[Change], stack_key: str, allowed: Iterable[str]) -> list[tuple[str, str]]:
    guarded = set(protected(stack_key)) - set(allowed)
    found = []
    for change in changes:
        if change.logical_id not in guarded:
            continue
        what = f"{change.logical_id} ({change.resource_type})"
        if change.action == "Remove":
            found.append((change.logical_id, f"it would delete {what}: it is no longer in the template"))
        elif change.action == "Modify" and change.replacement in ("True", "Conditional"):
            verb = "replace" if change.replacement == "True" else "maybe replace (Replacement: Conditional)"
            forcing = ", ".join(f"{name} (requires recreation: {when})" for name, when in change.recreating)
            found.append((change.logical_id, f"it would {verb} {what}" + (f", forced by {forcing}" if forcing else "")))
    return found


def refusals(changes: Iterable[Change], stack_key: str, allowed: Iterable[str] = ()) -> list[str]:
    """Why the change set must not run: one sentence per protected resource it would replace (certainly or
    conditionally) or delete, unless ``allowed`` names it. ``changes``: the change set's (changesets.describe)."""
    return [text for _, text in _refused(changes, stack_key, allowed)]


def to_spare(changes: Iterable[Change], stack_key: str, allowed: Iterable[str]) -> set[str]:
    """The ``allowed`` ids this change set needs spared: what to pass to ``lifted`` (nothing wider)."""
    return {logical_id for logical_id, _ in _refused(changes, stack_key, ())} & set(allowed)


def check(changes: Iterable[Change], stack_key: str, stack_name: str, allowed: Iterable[str] = ()) -> None:
    """DeployError naming every refusal (the caller discards the change set on it, as on guard.check's)."""
    found = _refused(changes, stack_key, allowed)
    if found:
        ids = sorted({logical_id for logical_id, _ in found})
        raise DeployError(
            f"refusing to change {stack_name}: " + "; ".join(text for _, text in found)
            + ". Its stack policy protects these resources (a replaced bucket or secret loses what it holds). "
            "If that is what you mean, deploy again with " + " ".join(f"--allow-replace {i}" for i in ids)
        )


@contextmanager
def lifted(cfn, stack_name: str, stack_key: str, allowed: Iterable[str]) -> Iterator[None]:
    """Inside the block, the stack's policy spares ``allowed`` (the caller executes the change set and waits for
    the stack to settle there); on the way out, normal or not (an exception, Ctrl-C), the protective policy is put
    back. Not atomic: see the module's docstring."""
    spared = [r for r in protected(stack_key) if r in set(allowed)]
    if not spared:
        yield
        return
    cfn.set_stack_policy(StackName=stack_name, StackPolicyBody=body(policy(stack_key, spared)))
    try:
        yield
    except BaseException as exc:
        _restore(cfn, stack_name, stack_key, spared, pending=exc)
        raise
    _restore(cfn, stack_name, stack_key, spared, pending=None)


def _restore(cfn, stack_name: str, stack_key: str, spared: list[str], pending: BaseException | None) -> None:
    try:
        cfn.set_stack_policy(StackName=stack_name, StackPolicyBody=body(policy(stack_key)))
    except (ClientError, BotoCoreError) as exc:
        message = (f"the stack policy of {stack_name} is still lifted for {', '.join(spared)} ({exc}); put it back "
                   "by deploying again (any deploy restores it), before anything else updates the stack")
        if pending is None:
            raise DeployError(message) from exc
        pending.add_note(message)  # the execution's own failure stays the error; this rides along
