"""Drift detection: every stack at once, bounded, and each drifted property shown expected vs actual.

LocalStack does not detect drift, so AWS's responses are replayed with botocore's Stubber (the order of the
stubbed calls is the order the code must make them in: every detection starts before any is waited for).
"""

from __future__ import annotations

import datetime
import json
import uuid

import boto3
import pytest
from botocore.stub import Stubber

from deployer.engine import drift

REGION = "us-east-1"
ACCOUNT = "123456789012"
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
NETWORK, COMPUTE, DATA = "ia-comafi-network", "ia-comafi-compute", "ia-comafi-data"


def stack_id(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def detection_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


@pytest.fixture
def cfn(stubbed_aws_env):
    return boto3.session.Session(region_name=REGION).client("cloudformation", region_name=REGION)


def started(stub: Stubber, name: str) -> None:
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": detection_id(name)}, {"StackName": name})


def status(stub: Stubber, name: str, detection: str, drift_status: str | None = None, reason: str = "",
           drifted: int = 0) -> None:
    body = {"StackId": stack_id(name), "StackDriftDetectionId": detection_id(name), "DetectionStatus": detection,
            "Timestamp": T0}
    if drift_status:
        body["StackDriftStatus"] = drift_status
        body["DriftedStackResourceCount"] = drifted
    if reason:
        body["DetectionStatusReason"] = reason
    stub.add_response("describe_stack_drift_detection_status", body, {"StackDriftDetectionId": detection_id(name)})


OPEN_SSH = json.dumps({"CidrIp": "0.0.0.0/0", "FromPort": 22, "IpProtocol": "tcp", "ToPort": 22})


def security_group_drift() -> dict:
    """Someone opened SSH to the world on the service's security group, and changed the app port's rule."""
    expected = {"GroupDescription": "API tasks", "SecurityGroupIngress": [
        {"FromPort": 8000, "IpProtocol": "tcp", "SourceSecurityGroupId": "sg-0a1b2c3d4e5f60718", "ToPort": 8000}]}
    actual = {"GroupDescription": "API tasks", "SecurityGroupIngress": [
        {"FromPort": 80, "IpProtocol": "tcp", "SourceSecurityGroupId": "sg-0a1b2c3d4e5f60718", "ToPort": 8000},
        json.loads(OPEN_SSH)]}
    return {"StackResourceDrifts": [{
        "StackId": stack_id(COMPUTE), "LogicalResourceId": "ServiceSecurityGroup",
        "PhysicalResourceId": "sg-0f1e2d3c4b5a69788", "ResourceType": "AWS::EC2::SecurityGroup",
        "ExpectedProperties": json.dumps(expected), "ActualProperties": json.dumps(actual),
        "PropertyDifferences": [
            {"PropertyPath": "/SecurityGroupIngress/0/FromPort", "ExpectedValue": "8000", "ActualValue": "80",
             "DifferenceType": "NOT_EQUAL"},
            {"PropertyPath": "/SecurityGroupIngress/1", "ExpectedValue": "null", "ActualValue": OPEN_SSH,
             "DifferenceType": "ADD"}],
        "StackResourceDriftStatus": "MODIFIED", "Timestamp": T0}]}


def drifts(stub: Stubber, name: str, body: dict) -> None:
    stub.add_response("describe_stack_resource_drifts", body,
                      {"StackName": name, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]})


def test_in_sync_stacks_exit_0(cfn):
    with Stubber(cfn) as stub:
        started(stub, NETWORK)
        started(stub, DATA)
        status(stub, NETWORK, "DETECTION_COMPLETE", "IN_SYNC")
        status(stub, DATA, "DETECTION_COMPLETE", "IN_SYNC")
        results = drift.detect(cfn, [NETWORK, DATA], timeout=5, poll=0)
        stub.assert_no_pending_responses()
    assert [r.status for r in results.values()] == ["IN_SYNC", "IN_SYNC"]
    assert drift.exit_code(results) == 0
    assert drift.render(results) == [f"{NETWORK}: IN_SYNC", f"{DATA}: IN_SYNC"]


def test_all_detections_start_before_any_is_waited_for_and_a_drifted_rule_shows_expected_vs_actual(cfn):
    with Stubber(cfn) as stub:
        started(stub, NETWORK)
        started(stub, COMPUTE)
        status(stub, NETWORK, "DETECTION_COMPLETE", "IN_SYNC")
        status(stub, COMPUTE, "DETECTION_IN_PROGRESS")  # still running: asked again on the next poll
        status(stub, COMPUTE, "DETECTION_COMPLETE", "DRIFTED", drifted=1)
        drifts(stub, COMPUTE, security_group_drift())
        results = drift.detect(cfn, [NETWORK, COMPUTE], timeout=30, poll=0)
        stub.assert_no_pending_responses()
    assert drift.exit_code(results) == 3
    (sg,) = results[COMPUTE].resources
    assert (sg.logical_id, sg.status) == ("ServiceSecurityGroup", "MODIFIED")
    assert [(d.path, d.expected, d.actual, d.kind) for d in sg.differences] == [
        ("/SecurityGroupIngress/0/FromPort", "8000", "80", "NOT_EQUAL"),
        ("/SecurityGroupIngress/1", "null", OPEN_SSH, "ADD")]
    lines = drift.render(results)
    assert lines[:2] == [f"{NETWORK}: IN_SYNC", f"{COMPUTE}: DRIFTED"]
    assert lines[3].split() == ["Stack", "Resource", "Type", "Drift", "Property", "Expected", "Actual"]
    row = next(x for x in lines if "/SecurityGroupIngress/0/FromPort" in x)
    assert row.split() == [COMPUTE, "ServiceSecurityGroup", "AWS::EC2::SecurityGroup", "MODIFIED", "NOT_EQUAL",
                           "/SecurityGroupIngress/0/FromPort", "8000", "80"]
    assert any(OPEN_SSH in x and "ADD" in x for x in lines)
    data = json.loads(drift.to_json(results))
    assert data["exit_code"] == 3
    assert data["stacks"][1]["resources"][0]["differences"][1] == {
        "path": "/SecurityGroupIngress/1", "expected": "null", "actual": OPEN_SSH, "kind": "ADD"}


def test_a_failed_detection_exits_1_and_still_shows_what_was_found(cfn):
    reason = ("Failed to detect drift on resource [ServiceSecurityGroup]: You are not authorized to perform this "
              "operation.")
    with Stubber(cfn) as stub:
        started(stub, COMPUTE)
        status(stub, COMPUTE, "DETECTION_FAILED", "DRIFTED", reason, drifted=1)
        drifts(stub, COMPUTE, security_group_drift())
        results = drift.detect(cfn, [COMPUTE], timeout=5, poll=0)
    assert results[COMPUTE].status == "FAILED" and results[COMPUTE].reason == reason
    assert len(results[COMPUTE].resources) == 1
    assert drift.exit_code(results) == 1
    assert drift.render(results)[0] == f"{COMPUTE}: FAILED ({reason})"


def test_a_stack_that_cannot_be_checked_fails_alone(cfn):
    with Stubber(cfn) as stub:
        stub.add_client_error("detect_stack_drift", "ValidationError", f"Stack with id {DATA} does not exist", 400,
                              expected_params={"StackName": DATA})
        started(stub, NETWORK)
        status(stub, NETWORK, "DETECTION_COMPLETE", "IN_SYNC")
        results = drift.detect(cfn, [DATA, NETWORK], timeout=5, poll=0)
    assert list(results) == [DATA, NETWORK]
    assert results[DATA].status == "FAILED" and "does not exist" in results[DATA].reason
    assert results[NETWORK].status == "IN_SYNC"
    assert drift.exit_code(results) == 1


def test_a_detection_past_the_timeout_exits_1(cfn):
    with Stubber(cfn) as stub:
        started(stub, NETWORK)
        started(stub, COMPUTE)
        status(stub, NETWORK, "DETECTION_COMPLETE", "IN_SYNC")
        status(stub, COMPUTE, "DETECTION_IN_PROGRESS")
        results = drift.detect(cfn, [NETWORK, COMPUTE], timeout=0, poll=0)
        stub.assert_no_pending_responses()  # one look at each, then it gives up instead of waiting on
    assert results[COMPUTE].status == "TIMED_OUT" and "after 0 s" in results[COMPUTE].reason
    assert results[NETWORK].status == "IN_SYNC"
    assert drift.exit_code(results) == 1


def test_drifted_and_failed_together_exit_1():
    results = {"a": drift.StackDrift("a", "DRIFTED"), "b": drift.StackDrift("b", "TIMED_OUT")}
    assert drift.exit_code(results) == 1


class RecordingTracker:
    """What a live view is told (deployer/progress.py's Tracker interface)."""

    def __init__(self):
        self.calls = []

    def begin(self, key, status, resources=None):
        self.calls.append(("begin", key, status))

    def finish(self, key, status, failed=False):
        self.calls.append(("finish", key, status, failed))


def test_the_live_view_sees_each_detection_start_and_end_in_sync_or_not(cfn):
    tracker = RecordingTracker()
    with Stubber(cfn) as stub:
        started(stub, NETWORK)
        started(stub, COMPUTE)
        status(stub, NETWORK, "DETECTION_COMPLETE", "IN_SYNC")
        status(stub, COMPUTE, "DETECTION_COMPLETE", "DRIFTED", drifted=1)
        drifts(stub, COMPUTE, security_group_drift())
        drift.detect(cfn, [NETWORK, COMPUTE], timeout=30, poll=0, tracker=tracker)
    assert tracker.calls == [
        ("begin", NETWORK, "DETECTION_IN_PROGRESS"), ("begin", COMPUTE, "DETECTION_IN_PROGRESS"),
        ("finish", NETWORK, "IN_SYNC", False), ("finish", COMPUTE, "DRIFTED", True)]
