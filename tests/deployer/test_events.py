"""Stack events as DescribeStackEvents pages them (newest first, NextToken), replayed with botocore's Stubber:
what the operator sees while a stack changes, when the stream stops, and which event is named as the cause."""

from __future__ import annotations

import datetime

import boto3
import pytest
from botocore.stub import Stubber

from deployer import aws as aws_module
from deployer.engine import events
from deployer.engine.report import NULL, Tracker

REGION = "us-east-1"
STACK = "ia-comafi-compute"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/ia-comafi-compute/1"
T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


pytestmark = pytest.mark.usefixtures("stubbed_aws_env")


# One session for the module: its loader parses the service model once, not once a test.
SESSION = boto3.session.Session(region_name=REGION)


def client():
    return SESSION.client("cloudformation", region_name=REGION, config=aws_module.config())


def event(n: int, logical: str, status: str, rtype: str = "AWS::ECS::Service", reason: str | None = None) -> dict:
    """One StackEvent as AWS returns it (ResourceStatusReason is absent when there is none)."""
    e = {"StackId": STACK_ID, "EventId": f"e{n}", "StackName": STACK, "LogicalResourceId": logical,
         "ResourceType": rtype, "Timestamp": T0 + datetime.timedelta(seconds=n), "ResourceStatus": status}
    if reason is not None:
        e["ResourceStatusReason"] = reason
    return e


def stack_event(n: int, status: str, reason: str | None = None) -> dict:
    return event(n, STACK, status, "AWS::CloudFormation::Stack", reason)


def stack_status(status: str) -> dict:
    return {"Stacks": [{"StackId": STACK_ID, "StackName": STACK, "StackStatus": status, "CreationTime": T0}]}


# --- reading events ----------------------------------------------------------------------------------------

def test_the_latest_event_is_the_first_of_the_newest_first_page():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": [event(2, "Service", "UPDATE_COMPLETE"),
                                                                    event(1, "Service", "UPDATE_IN_PROGRESS")]},
                          {"StackName": STACK})
        assert events.latest_event_id(cfn, STACK) == "e2"
        stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK})
        assert events.latest_event_id(cfn, STACK) is None


def test_new_events_follow_next_token_until_the_last_seen_one_and_come_oldest_first():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events",
                          {"StackEvents": [event(5, "Service", "UPDATE_COMPLETE"),
                                           event(4, "Service", "UPDATE_IN_PROGRESS")],
                           "NextToken": "page2"}, {"StackName": STACK})
        stub.add_response("describe_stack_events",
                          {"StackEvents": [event(3, "Role", "UPDATE_COMPLETE"), event(2, "Role", "UPDATE_IN_PROGRESS")],
                           "NextToken": "page3"}, {"StackName": STACK, "NextToken": "page2"})
        # e2 was the newest before we acted: page3 is never asked for.
        found = events.new_events(cfn, STACK, "e2")
        stub.assert_no_pending_responses()
    assert [e["EventId"] for e in found] == ["e3", "e4", "e5"]


def test_without_a_last_seen_event_only_the_newest_page_is_read():
    """A stack with no events before we acted (its first create): older pages cannot exist yet, and a stack
    with a long history would otherwise be paged to its first event."""
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events",
                          {"StackEvents": [event(2, "Service", "CREATE_COMPLETE"),
                                           event(1, "Service", "CREATE_IN_PROGRESS")],
                           "NextToken": "older"}, {"StackName": STACK})
        found = events.new_events(cfn, STACK, None)
        stub.assert_no_pending_responses()
    assert [e["EventId"] for e in found] == ["e1", "e2"]


# --- streaming ---------------------------------------------------------------------------------------------

def test_stream_shows_each_event_once_and_stops_when_describe_stacks_confirms_the_stack_event():
    cfn = client()
    shown = []
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": [event(2, "Service", "UPDATE_IN_PROGRESS"),
                                                                    stack_event(1, "UPDATE_IN_PROGRESS"),
                                                                    stack_event(0, "UPDATE_COMPLETE")]},
                          {"StackName": STACK})
        # Second poll asks only for what follows e2: the API has no "since", the page stops at it.
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(4, "UPDATE_COMPLETE"),
                                                                    event(3, "Service", "UPDATE_COMPLETE"),
                                                                    event(2, "Service", "UPDATE_IN_PROGRESS")]},
                          {"StackName": STACK})
        stub.add_response("describe_stacks", stack_status("UPDATE_COMPLETE"), {"StackName": STACK})
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(4, "UPDATE_COMPLETE")]},
                          {"StackName": STACK})
        status, seen = events.stream(cfn, STACK, "e0", shown.append, delay=0)
        stub.assert_no_pending_responses()
    assert status == "UPDATE_COMPLETE"
    assert [e["EventId"] for e in shown] == ["e1", "e2", "e3", "e4"] == [e["EventId"] for e in seen]


def test_a_terminal_looking_stack_event_is_not_believed_until_describe_stacks_agrees():
    """CREATE_FAILED on the stack, then the rollback: DescribeStacks says ROLLBACK_IN_PROGRESS, so it goes on,
    and a resource's own terminal event is no hint at all (no DescribeStacks for it)."""
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": [event(1, "Service", "CREATE_COMPLETE")]})
        stub.add_response("describe_stack_events", {"StackEvents": [
            stack_event(3, "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [Service]."),
            stack_event(2, "CREATE_FAILED"), event(1, "Service", "CREATE_COMPLETE")]})
        stub.add_response("describe_stacks", stack_status("ROLLBACK_IN_PROGRESS"), {"StackName": STACK})
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(4, "ROLLBACK_COMPLETE"),
                                                                    stack_event(3, "ROLLBACK_IN_PROGRESS")]})
        stub.add_response("describe_stacks", stack_status("ROLLBACK_COMPLETE"), {"StackName": STACK})
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(4, "ROLLBACK_COMPLETE")]})
        status, seen = events.stream(cfn, STACK, None, lambda _e: None, delay=0)
        stub.assert_no_pending_responses()
    assert status == "ROLLBACK_COMPLETE"
    assert [e["EventId"] for e in seen] == ["e1", "e2", "e3", "e4"]


def test_without_a_stack_event_describe_stacks_is_asked_every_fifth_poll(monkeypatch):
    """The stack's own final event can be late: DescribeStacks now and then ends the stream anyway, with
    the events that arrived meanwhile."""
    cfn = client()
    sleeps = []
    monkeypatch.setattr(events.time, "sleep", sleeps.append)
    with Stubber(cfn) as stub:
        for _ in range(events.STATUS_CHECK_EVERY - 1):
            stub.add_response("describe_stack_events", {"StackEvents": []})
        stub.add_response("describe_stack_events", {"StackEvents": [event(1, "Service", "DELETE_COMPLETE")]})
        stub.add_response("describe_stacks", stack_status("UPDATE_COMPLETE"), {"StackName": STACK})
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(2, "UPDATE_COMPLETE"),
                                                                    event(1, "Service", "DELETE_COMPLETE")]})
        shown = []
        status, seen = events.stream(cfn, STACK, "e0", shown.append, delay=0.5)
        stub.assert_no_pending_responses()
    assert status == "UPDATE_COMPLETE"
    assert [e["EventId"] for e in seen] == ["e1", "e2"] == [e["EventId"] for e in shown]  # the late one shown too
    assert sleeps == [0.5] * (events.STATUS_CHECK_EVERY - 1)


def test_a_busy_describe_stacks_check_keeps_polling():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(1, "UPDATE_COMPLETE")]})
        stub.add_response("describe_stacks", stack_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"))
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(2, "UPDATE_COMPLETE"),
                                                                    stack_event(1, "UPDATE_COMPLETE")]})
        stub.add_response("describe_stacks", stack_status("UPDATE_COMPLETE"))
        stub.add_response("describe_stack_events", {"StackEvents": [stack_event(2, "UPDATE_COMPLETE")]})
        status, _ = events.stream(cfn, STACK, "e0", lambda _e: None, delay=0)
        stub.assert_no_pending_responses()
    assert status == "UPDATE_COMPLETE"


# --- the cause of a failure --------------------------------------------------------------------------------

def test_the_cause_is_the_first_failed_resource_not_the_cancelled_ones_nor_the_stack():
    seen = [
        event(1, "Service", "UPDATE_IN_PROGRESS"),
        event(2, "TaskRole", "UPDATE_FAILED", "AWS::IAM::Role",
              "User: x is not authorized to perform: iam:PutRolePolicy"),
        event(3, "Service", "UPDATE_FAILED", reason="Resource update cancelled"),
        event(4, "Alarm", "UPDATE_FAILED", "AWS::CloudWatch::Alarm", "Resource creation Canceled"),
        stack_event(5, "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [TaskRole]."),
        event(6, "TaskRole", "UPDATE_COMPLETE", "AWS::IAM::Role"),
    ]
    assert [e["EventId"] for e in events.causes(seen, STACK)] == ["e2"]


def test_only_cancelled_failures_are_still_named():
    seen = [event(1, "Service", "CREATE_FAILED", reason="Resource creation cancelled"),
            stack_event(2, "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [Service].")]
    assert [e["EventId"] for e in events.causes(seen, STACK)] == ["e1"]


def test_without_a_failed_resource_the_stacks_own_reason_is_the_cause():
    """A stack-level failure (a bad parameter, a missing export): no resource failed, and the stack's first
    event with a reason says why. Another stack's events of the same name do not count."""
    seen = [
        event(1, STACK, "UPDATE_FAILED", "AWS::CloudFormation::WaitCondition", "not the stack"),
        stack_event(2, "UPDATE_IN_PROGRESS"),
        stack_event(3, "UPDATE_ROLLBACK_IN_PROGRESS", "No export named ia-comafi-VpcId found"),
        stack_event(4, "UPDATE_ROLLBACK_COMPLETE", "later"),
    ]
    assert [e["EventId"] for e in events.causes(seen, STACK)] == ["e1"]
    assert [e["EventId"] for e in events.causes(seen[1:], STACK)] == ["e3"]
    assert [e["EventId"] for e in events.causes(seen[1:], "ia-comafi-data")] == []
    # The stack's own failure is not a resource's: the first reason the stack gave is the cause.
    stuck = [stack_event(1, "UPDATE_ROLLBACK_IN_PROGRESS", "Parameters: [VpcCidr] must have values"),
             stack_event(2, "UPDATE_ROLLBACK_FAILED", "Rollback failed")]
    assert [e["EventId"] for e in events.causes(stuck, STACK)] == ["e1"]


def test_an_event_without_a_status_is_no_failure():
    """ResourceStatus is optional in the DescribeStackEvents shape (hook invocations carry HookStatus)."""
    hook = {"EventId": "h", "StackName": STACK, "LogicalResourceId": "Service", "HookStatus": "HOOK_COMPLETE_FAILED"}
    assert events.causes([hook, event(2, "Service", "UPDATE_FAILED", reason="Invalid")], STACK)[0]["EventId"] == "e2"
    assert events.describe_event(hook) == "Service ()"


def test_an_event_reads_as_one_line_time_resource_type_status_reason():
    e = event(5, "Service", "UPDATE_FAILED", reason="Resource handler returned message:\n  \"Invalid\"  ")
    assert events.describe_event(e) == \
        '12:00:05 Service (AWS::ECS::Service) UPDATE_FAILED Resource handler returned message: "Invalid"'
    bare = {"LogicalResourceId": "Service", "ResourceStatus": "UPDATE_COMPLETE", "ResourceStatusReason": None}
    assert events.describe_event(bare) == "Service () UPDATE_COMPLETE"


# --- feeding a live view (destroy's waiter has no event stream of its own) ---------------------------------

class FollowingView(Tracker):
    """A live view that wants one stack's events until ``stop`` is set; records what it is fed."""

    live = True

    def __init__(self):
        self.begun: list[tuple] = []
        self.threads: list = []
        self.stop = False

    def begin(self, key, status, resources=None):
        self.begun.append((key, status, sorted(resources)))

    def following(self, key):
        return not self.stop

    def keep(self, thread):
        self.threads.append(thread)


class Lines:
    def __init__(self, tracker):
        self.tracker = tracker
        self.events: list[tuple[str, str, str]] = []

        self.stop_on_first = None

    def event(self, stack, event, text):
        self.events.append((stack, event["EventId"], text))
        if self.stop_on_first is not None:
            self.stop_on_first.stop = True


def test_watch_counts_the_resources_then_feeds_each_new_event_once_and_ends_after_one_more_look():
    cfn = client()
    view = FollowingView()
    out = Lines(view)
    with Stubber(cfn) as stub:
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": lid, "ResourceType": "AWS::ECS::Service", "ResourceStatus": "CREATE_COMPLETE",
             "LastUpdatedTimestamp": T0} for lid in ("Service", "Cluster")]}, {"StackName": STACK_ID})
        stub.add_response("describe_stack_events", {"StackEvents": [event(1, "Service", "UPDATE_COMPLETE")]},
                          {"StackName": STACK_ID})
        stub.add_response("describe_stack_events", {"StackEvents": [event(2, "Service", "DELETE_IN_PROGRESS"),
                                                                    event(1, "Service", "UPDATE_COMPLETE")]},
                          {"StackName": STACK_ID})
        stub.add_response("describe_stack_events", {"StackEvents": [event(3, "Service", "DELETE_COMPLETE"),
                                                                    event(2, "Service", "DELETE_IN_PROGRESS")]},
                          {"StackName": STACK_ID})
        out.stop_on_first = view  # the waiter ends while the first event shows: one more look must still come
        events.watch(cfn, "compute", STACK_ID, "DELETE_IN_PROGRESS", out, delay=0)
        for thread in view.threads:
            thread.join(timeout=5)
        stub.assert_no_pending_responses()
    assert view.begun == [("compute", "DELETE_IN_PROGRESS", ["Cluster", "Service"])]
    assert [(key, eid) for key, eid, _ in out.events] == [("compute", "e2"), ("compute", "e3")]
    assert "Service (AWS::ECS::Service) DELETE_COMPLETE" in out.events[-1][2]


def test_watch_without_a_live_view_makes_no_aws_call():
    cfn = client()
    with Stubber(cfn) as stub:  # any call would find no response queued, and fail
        events.watch(cfn, "compute", STACK_ID, "DELETE_IN_PROGRESS", Lines(NULL), delay=0)
        stub.assert_no_pending_responses()
