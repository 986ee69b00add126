"""Stack events: stream them while a stack changes, and find the one that caused a failure.

No botocore waiter prints progress, so this is a poll loop: one
DescribeStackEvents per poll, and a DescribeStacks now and then in case the
stack's own final event is late. ``watch`` feeds a live view the events of an operation someone else
waits for (destroy's waiter): the polling is here, the view only draws what it is given.
"""

from __future__ import annotations

import threading
import time

from deployer.engine.report import Reporter
from deployer.engine.stack_status import is_resource_failure, is_settled

POLL_DELAY = 2  # s
STATUS_CHECK_EVERY = 5  # polls

# Failures that are consequences, not causes: CloudFormation cancels the other
# in-flight resources once one fails.
_NOT_A_CAUSE = ("cancelled", "canceled")

def latest_event_id(cfn, stack: str) -> str | None:
    """The newest event before we act, so that streaming shows only what follows."""
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    return events[0]["EventId"] if events else None


def new_events(cfn, stack: str, since_id: str | None) -> list[dict]:
    """Events after ``since_id``, oldest first (the API pages newest first)."""
    found: list[dict] = []
    kwargs = {"StackName": stack}
    while True:
        page = cfn.describe_stack_events(**kwargs)
        for event in page.get("StackEvents", []):
            if event["EventId"] == since_id:
                return found[::-1]
            found.append(event)
        if not page.get("NextToken") or since_id is None:
            return found[::-1]
        kwargs["NextToken"] = page["NextToken"]


def _is_stack_event(event: dict, stack: str) -> bool:
    return event.get("ResourceType") == "AWS::CloudFormation::Stack" and event.get("LogicalResourceId") == stack


def stream(cfn, stack: str, since_id: str | None, show, delay: float = POLL_DELAY) -> tuple[str, list[dict]]:
    """Print each new event with ``show(event)`` until the stack settles; returns (final status, events).

    A terminal-looking event of the stack itself is confirmed with DescribeStacks,
    which is the authority: a stack event can say CREATE_FAILED while the
    rollback is still to come.
    """
    seen = since_id
    collected: list[dict] = []
    polls = 0
    while True:
        fresh = new_events(cfn, stack, seen)
        for event in fresh:
            show(event)
        collected += fresh
        if fresh:
            seen = fresh[-1]["EventId"]
        polls += 1
        hint = any(_is_stack_event(e, stack) and is_settled(e["ResourceStatus"]) for e in fresh)
        if hint or polls % STATUS_CHECK_EVERY == 0:
            status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
            if is_settled(status):
                late = new_events(cfn, stack, seen)
                for event in late:
                    show(event)
                return status, collected + late
        time.sleep(delay)


def watch(cfn, key: str, stack: str, status: str, out: Reporter, delay: float = POLL_DELAY) -> None:
    """Feed ``out``'s live view ``stack``'s resources and then its events, from a thread of their own, while an
    operation with no event stream of its own runs. Without a live view it makes no AWS call at all."""
    tracker = out.tracker
    if not tracker.live:
        return
    resources = [r["LogicalResourceId"] for page in cfn.get_paginator("list_stack_resources").paginate(
        StackName=stack) for r in page.get("StackResourceSummaries", [])]
    since = latest_event_id(cfn, stack)
    tracker.begin(key, status, resources)

    def follow() -> None:
        seen = since
        try:
            while True:
                last = not tracker.following(key)  # then one more look, for the end
                for event in new_events(cfn, stack, seen):
                    seen = event["EventId"]
                    out.event(key, event, describe_event(event))
                if last:
                    return
                time.sleep(delay)
        except Exception:  # noqa: BLE001 - the view is a courtesy: the waiter, not this, decides the outcome
            return

    thread = threading.Thread(target=follow, name=f"events-{key}", daemon=True)
    tracker.keep(thread)
    thread.start()


def causes(events: list[dict], stack: str) -> list[dict]:
    """The failed resource events that explain a failure, first one first.

    The first failure is the cause; the rest of a rollback is noise (cancelled
    siblings, the stack's own "The following resource(s) failed..."). When no
    resource failed, the stack's own failure event is all there is.
    """
    failed = [e for e in events if is_resource_failure(e.get("ResourceStatus", ""))]
    resources = [e for e in failed if not _is_stack_event(e, stack)]
    real = [e for e in resources if not any(w in (e.get("ResourceStatusReason") or "").lower() for w in _NOT_A_CAUSE)]
    return real or resources or [e for e in events if _is_stack_event(e, stack) and e.get("ResourceStatusReason")][:1]


def describe_event(event: dict) -> str:
    when = event["Timestamp"].strftime("%H:%M:%S") if hasattr(event.get("Timestamp"), "strftime") else ""
    reason = " ".join((event.get("ResourceStatusReason") or "").split())  # one event, one line
    return " ".join(
        part
        for part in (when, event.get("LogicalResourceId", ""), f"({event.get('ResourceType', '')})",
                     event.get("ResourceStatus", ""), reason)
        if part
    )
