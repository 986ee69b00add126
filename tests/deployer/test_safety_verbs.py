"""What LocalStack cannot show of the release safety net, through deploy.py's real main() (testkit/harness.py) with
botocore's Stubber replaying AWS: a rollback trigger firing (UPDATE_ROLLBACK_COMPLETE) and `drift` finding changes.
The order of the stubbed calls is the order the deployer must make them in.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from troposphere import Template
from troposphere.ssm import Parameter as SsmParameter

import contract
import templates
from templates import compute, params
from testkit import fakes, harness
from testkit.placeholders import PROD
from tests.deployer import test_drift as d
from tests.deployer import test_rollback_triggers as rt

PROJECT = "ia-comafi"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def _no_step_summary(stubbed_aws_env, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def client(service: str):
    return boto3.session.Session(region_name=rt.REGION).client(service, region_name=rt.REGION)


def stubs(*services: str) -> fakes.Stubbers:
    return fakes.Stubbers({name: Stubber(client(name)) for name in services})


# --- a rollback trigger fires -------------------------------------------------------------------------------

def compute_graph() -> list[templates.Stack]:
    def build() -> Template:
        t = Template(Description="deployer test: compute")
        params.add_parameters(t, contract.COMPUTE)
        compute.add_image_digest_parameter(t)
        t.add_resource(SsmParameter("Value", Type="String", Value="v"))
        return t

    return [templates.Stack(contract.COMPUTE, (), build)]


V1, V2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def deployed_compute(status: str, digest: str) -> dict:
    return {"Stacks": [{
        "StackId": rt.STACK_ID, "StackName": rt.STACK, "StackStatus": status, "CreationTime": rt.T0,
        "Parameters": [{"ParameterKey": contract.IMAGE_DIGEST_PARAMETER, "ParameterValue": digest}],
        "Tags": [{"Key": k, "Value": v} for k, v in contract.stack_tags(PROJECT, "prod").items()],
        "Outputs": [{"OutputKey": contract.RELEASE_HEALTH_ALARM_ARN, "OutputValue": rt.ALARM_ARN}]}]}


def test_a_release_its_alarm_rolls_back_names_the_alarm_and_its_reason_and_exits_1():
    cs_id = f"arn:aws:cloudformation:{rt.REGION}:{ACCOUNT}:changeSet/deploy-x/1"
    seen = rt.rolled_back_update(f"Rollback triggered by alarm(s) in ALARM state: [{rt.ALARM_ARN}]")
    before = rt.event(rt.STACK, "UPDATE_COMPLETE", -600)
    with stubs("sts", "ecr", "cloudformation", "cloudwatch", "s3") as s:
        s["sts"].add_response("get_caller_identity", {"Account": ACCOUNT, "UserId": "AIDA",
                                                      "Arn": f"arn:aws:iam::{ACCOUNT}:user/ops"})
        s["ecr"].add_response("describe_images", {"imageDetails": [{"imageDigest": V2, "imageTags": ["v2"]}]})
        s["ecr"].add_response("describe_image_scan_findings", {  # the scan gate: complete, nothing found
            "repositoryName": contract.resource_name("repository", PROJECT), "imageId": {"imageDigest": V2},
            "imageScanStatus": {"status": "COMPLETE"}, "imageScanFindings": {"findings": []}})
        # The change set's table shows the image it ran.
        s["ecr"].add_response("describe_images", {"imageDetails": [{"imageDigest": V1, "imageTags": ["v1"]}]},
                              {"repositoryName": contract.resource_name("repository", PROJECT),
                               "imageIds": [{"imageDigest": V1}]})
        # No release ledger (no CI access stack): the run says it is not recorded.
        s["s3"].add_client_error("head_bucket", "404", "Not Found", 404)
        cfn = s["cloudformation"]
        cfn.add_response("describe_stacks", deployed_compute("UPDATE_COMPLETE", V1))  # first look: a new image
        cfn.add_response("describe_stacks", deployed_compute("UPDATE_COMPLETE", V1))  # prepare
        cfn.add_client_error("describe_stacks", "ValidationError",
                             f"Stack with id {contract.stack_name(PROJECT, contract.CI_ACCESS)} does not exist")
        # The update is watched by the alarm the stack holds now.
        cfn.add_response("create_change_set", {"Id": cs_id, "StackId": rt.STACK_ID}, {
            "StackName": rt.STACK, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "Parameters": ANY,
            "Capabilities": ANY, "Tags": ANY, "Description": ANY, "TemplateBody": ANY,
            "RollbackConfiguration": {"RollbackTriggers": [{"Arn": rt.ALARM_ARN, "Type": "AWS::CloudWatch::Alarm"}],
                                      "MonitoringTimeInMinutes": 5}})
        cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"})
        cfn.add_response("describe_change_set", {"ChangeSetId": cs_id, "StackId": rt.STACK_ID,
                                                 "Status": "CREATE_COMPLETE", "Changes": [{
                                                     "Type": "Resource", "ResourceChange": {
                                                         "Action": "Modify", "LogicalResourceId": "Service",
                                                         "ResourceType": "AWS::ECS::Service",
                                                         "Replacement": "False"}}]})
        cfn.add_response("describe_events", {"OperationEvents": []})
        cfn.add_response("list_exports", {"Exports": []})
        cfn.add_response("describe_stack_events", {"StackEvents": [before]})
        cfn.add_response("execute_change_set", {}, {"ChangeSetName": cs_id})
        cfn.add_response("describe_stack_events", {"StackEvents": seen[::-1] + [before]})
        cfn.add_response("describe_stacks", deployed_compute("UPDATE_ROLLBACK_COMPLETE", V1))
        cfn.add_response("describe_stack_events", {"StackEvents": seen[::-1] + [before]})
        rt.stub_alarm(s["cloudwatch"])
        result = harness.run([*PROD, "--yes", "--image-tag", "v2"],
                             graph=compute_graph(), clients=s.clients)
        for stub in s.values():
            stub.assert_no_pending_responses()
    assert result.code == 1, result.out + result.err
    assert f"alarm {rt.ALARM}: ALARM at 12:05:10: {rt.STATE_REASON}" in result.err
    assert f"{rt.STACK} was rolled back by its rollback trigger(s)" in result.err
    assert "UPDATE_ROLLBACK_IN_PROGRESS" in result.err and "rollback events:" in result.err


# --- drift --------------------------------------------------------------------------------------------------

def graph_of(*keys: str) -> list[templates.Stack]:
    return [templates.Stack(k, (), lambda: Template()) for k in keys]


def test_drift_prints_each_changed_property_and_exits_3():
    with stubs("cloudformation") as s:
        cfn = s["cloudformation"]
        d.started(cfn, d.NETWORK)
        d.started(cfn, d.COMPUTE)
        d.status(cfn, d.NETWORK, "DETECTION_COMPLETE", "IN_SYNC")
        d.status(cfn, d.COMPUTE, "DETECTION_COMPLETE", "DRIFTED", drifted=1)
        d.drifts(cfn, d.COMPUTE, d.security_group_drift())
        result = harness.run([*PROD, "drift"], graph=graph_of("network", "compute"),
                             clients=s.clients)
    assert result.code == 3, result.out + result.err
    assert f"{d.NETWORK}: IN_SYNC" in result.out and f"{d.COMPUTE}: DRIFTED" in result.out
    [row] = [line.split() for line in result.out.splitlines() if "/SecurityGroupIngress/0/FromPort" in line]
    assert row[:2] == [d.COMPUTE, "ServiceSecurityGroup"] and row[-2:] == ["8000", "80"]
    assert result.err == ""


def test_drift_json_is_the_only_stdout_and_a_failed_detection_exits_1():
    with stubs("cloudformation") as s:
        cfn = s["cloudformation"]
        d.started(cfn, d.NETWORK)
        d.started(cfn, d.COMPUTE)
        d.status(cfn, d.NETWORK, "DETECTION_COMPLETE", "IN_SYNC")
        d.status(cfn, d.COMPUTE, "DETECTION_FAILED", "DRIFTED", drifted=1,
                 reason="Failed to detect drift on resource [Service]: not authorized to perform ecs:DescribeServices")
        d.drifts(cfn, d.COMPUTE, d.security_group_drift())
        result = harness.run([*PROD, "drift", "--json"],
                             graph=graph_of("network", "compute"), clients=s.clients)
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["exit_code"] == 1
    assert [x["status"] for x in doc["stacks"]] == ["IN_SYNC", "FAILED"]
    assert doc["stacks"][1]["resources"][0]["logical_id"] == "ServiceSecurityGroup"  # found is still shown
    assert result.err.startswith(f"deploy.py: error: drift detection did not finish for {d.COMPUTE}: FAILED")
