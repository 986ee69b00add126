"""DescribeEvents: what CloudFormation's pre-deployment validation found, read for every change set.

Neither moto nor community LocalStack has DescribeEvents: botocore's Stubber answers with the response shape
of AWS's API reference (OperationEvents with EventType VALIDATION_ERROR, ValidationFailureMode FAIL or WARN).
"""

from __future__ import annotations

import dataclasses
import datetime
import io

import boto3
import pytest
from botocore.stub import Stubber

from deployer import aws as aws_module
from deployer.engine import cfn_events, changesets, flow, plan, preflight, stacks
from deployer.engine.outcome import Mode
from deployer.errors import DeployError
from deployer.output import Printer
from templates.params import load_params

REGION = "us-east-1"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/ia-comafi-data/1"
CS_ARN = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/deploy-x/1"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

NAME_CONFLICT = {
    "EventId": "e-1", "StackId": STACK_ID, "OperationId": "op-1", "OperationType": "CREATE_CHANGESET",
    "EventType": "VALIDATION_ERROR", "LogicalResourceId": "UnhandledQueriesBucket",
    "ResourceType": "AWS::S3::Bucket", "Timestamp": NOW, "ValidationFailureMode": "FAIL",
    "ValidationName": "NAME_CONFLICT_VALIDATION", "ValidationStatus": "FAILED",
    "ValidationStatusReason": "Resource with name ia-comafi-unhandled-queries already exists",
    "ValidationPath": "/Resources/UnhandledQueriesBucket/Properties/BucketName"}
NOT_EMPTY = {**NAME_CONFLICT, "EventId": "e-2", "ValidationFailureMode": "WARN",
             "ValidationName": "S3_BUCKET_EMPTINESS_VALIDATION",
             "ValidationStatusReason": "Bucket is not empty; its deletion will fail", "ValidationPath": ""}


@pytest.fixture(autouse=True)
def _env(stubbed_aws_env):
    return None


def client():
    return boto3.session.Session(region_name=REGION).client("cloudformation", region_name=REGION,
                                                            config=aws_module.config())


def test_the_reader_pages_and_sorts_errors_from_warnings():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_events", {"OperationEvents": [NAME_CONFLICT], "NextToken": "t"},
                          {"ChangeSetName": CS_ARN})
        stub.add_response("describe_events", {"OperationEvents": [NOT_EMPTY]},
                          {"ChangeSetName": CS_ARN, "NextToken": "t"})
        found = cfn_events.change_set_findings(cfn, CS_ARN)
    assert [f.severity for f in found] == ["error", "warning"]
    assert found[0].text == ("validation NAME_CONFLICT_VALIDATION (FAIL): UnhandledQueriesBucket (AWS::S3::Bucket) "
                             "/Resources/UnhandledQueriesBucket/Properties/BucketName: Resource with name "
                             "ia-comafi-unhandled-queries already exists")


def test_an_endpoint_without_the_api_is_none_and_other_errors_are_raised():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_events", "InvalidAction", "Could not find operation DescribeEvents")
        assert cfn_events.change_set_findings(cfn, CS_ARN) is None
        stub.add_client_error("describe_events", "ValidationError", "ChangeSet [x] does not exist")
        with pytest.raises(Exception, match="does not exist"):
            cfn_events.change_set_findings(cfn, CS_ARN)


def test_a_progress_event_is_not_a_finding():
    progress = {"EventId": "e", "EventType": "PROGRESS_EVENT", "ResourceStatus": "CREATE_IN_PROGRESS"}
    assert cfn_events.findings([progress]) == []


def _run(cfn, summary: str) -> tuple[flow.Run, io.StringIO]:
    buf = io.StringIO()
    run = flow.Run(aws=aws_module.Aws(REGION, clients={"cloudformation": cfn}), params=load_params("prod"),
                   out=Printer(buf, colour=False, summary_path=summary), account="123456789012", mode=Mode.DIFF)
    run._access.append(preflight.CiAccess("ia-comafi-github-oidc"))  # no CI access stack: no role to look up
    return run, buf


def _plan() -> plan.StackPlan:
    return plan.StackPlan(key="data", name="ia-comafi-data", depends_on=(), level=0, body="{}",
                          parameters={}, tags={"Project": "ia-comafi"}, termination_protection=False)


def test_a_failed_change_set_says_what_validation_failed_in_the_error_and_the_summary(tmp_path):
    cfn = client()
    summary = tmp_path / "summary.md"
    run, _ = _run(cfn, str(summary))
    deployed = stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", {}, {}, False, {})
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": CS_ARN, "StackId": STACK_ID})
        stub.add_response("describe_change_set", {"Status": "FAILED", "StackId": STACK_ID,
                                                  "StatusReason": "The change set failed validation"})
        stub.add_response("describe_events", {"OperationEvents": [NAME_CONFLICT]}, {"ChangeSetName": CS_ARN})
        stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})  # a diff leaves nothing behind
        with pytest.raises(DeployError) as err:
            flow.change_set_flow(run, _plan(), "UPDATE", deployed)
        stub.assert_no_pending_responses()
    message = str(err.value)
    assert "The change set failed validation" in message
    assert "error: validation NAME_CONFLICT_VALIDATION (FAIL)" in message and "already exists" in message
    assert "ia-comafi-unhandled-queries already exists" in summary.read_text()


def test_a_warning_on_a_change_set_that_succeeded_is_shown_and_kept_on_the_result(tmp_path):
    cfn = client()
    summary = tmp_path / "summary.md"
    run, buf = _run(cfn, str(summary))
    run.mode = Mode.REVIEW
    deployed = stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", {}, {}, False, {})
    removal = {"Type": "Resource", "ResourceChange": {"Action": "Remove", "LogicalResourceId": "Old",
                                                      "ResourceType": "AWS::S3::Bucket", "PolicyAction": "Delete"}}
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": CS_ARN, "StackId": STACK_ID})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "StackId": STACK_ID})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "StackId": STACK_ID,
                                                  "Changes": [removal]},
                          {"ChangeSetName": CS_ARN, "IncludePropertyValues": True})
        stub.add_response("describe_events", {"OperationEvents": [NOT_EMPTY]}, {"ChangeSetName": CS_ARN})
        stub.add_response("list_exports", {"Exports": []})
        result = flow.change_set_flow(run, dataclasses.replace(_plan(), key="network"), "UPDATE", deployed)
        stub.assert_no_pending_responses()
    assert [f.severity for f in result.validation] == ["warning"]
    assert "CloudFormation warning: validation S3_BUCKET_EMPTINESS_VALIDATION (WARN)" in buf.getvalue()
    assert "Bucket is not empty" in summary.read_text()
    assert result.change_set.described[0]["ResourceChange"]["PolicyAction"] == "Delete"
    assert isinstance(result.change_set, changesets.ChangeSet)
