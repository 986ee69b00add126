"""plan -> apply against LocalStack's CloudFormation, and the release ledger in its S3 (Object Lock).

A small data-stack stand-in (the real data stack's parameters, one SSM parameter that holds the expiry) so that
a change of ``unhandled_expiry_days`` is a real UPDATE change set. LocalStack 2026.3 does not return
IncludePropertyValues' before/after values nor PolicyAction, and has no DescribeEvents: the reader of those is
covered with Stubber in test_cfn_events.py and test_risk.py; here the parameter change carries the class.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from troposphere import Ref, Sub, Template
from troposphere.ssm import Parameter as SsmParameter

import contract
import templates
from deployer.engine import ledger
from templates import params
from testkit import harness

pytestmark = pytest.mark.usefixtures("localstack")
ACCOUNT = "000000000000"  # LocalStack's


def data_standin() -> templates.Stack:
    def build() -> Template:
        t = Template(Description="deployer test: data stand-in")
        declared = params.add_parameters(t, contract.DATA)
        t.add_resource(SsmParameter("Expiry", Type="String",
                                    Value=Sub("${d} days", d=Ref(declared["unhandled_expiry_days"]))))
        return t

    return templates.Stack(contract.DATA, (), build)


def expiry(project: str) -> str:
    stack = boto3.client("cloudformation", region_name="us-east-1").describe_stacks(
        StackName=contract.stack_name(project, contract.DATA))["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["UnhandledExpiryDays"]


def ledger_bucket(project: str) -> str:
    name = ledger.bucket_name(project, ACCOUNT, "us-east-1")
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def deployed(project):
    argv = ["dev", "-p", f"project_name={project}"]
    first = harness.run_emulated([*argv, "--yes"], graph=[data_standin()])
    assert first.code == 0, first.out + first.err
    return argv


def test_a_plan_of_a_parameter_change_is_applied_once_its_risk_is_accepted(deployed, project, tmp_path):
    bucket = ledger_bucket(project)
    plan_path = tmp_path / "plan.json"
    planned = harness.run_emulated([deployed[0], "plan", *deployed[1:], "-p", "unhandled_expiry_days=1",
                                    "--out", str(plan_path)], graph=[data_standin()])
    assert planned.code == 0, planned.out + planned.err
    assert planned.count("ExecuteChangeSet") == 0
    doc = json.loads(plan_path.read_text())
    [stack] = doc["stacks"]
    assert stack["change_set"]["type"] == "UPDATE" and stack["state"]["status"] == "CREATE_COMPLETE"
    assert {"name": "UnhandledExpiryDays", "before": "90", "after": "1"} in stack["parameter_changes"]
    assert doc["risk_classes"] == ["data-loss"]
    assert "data-loss" in (tmp_path / "plan.md").read_text() and "UnhandledExpiryDays" in (tmp_path / "plan.md"
                                                                                          ).read_text()
    apply = [deployed[0], "apply", str(plan_path), *deployed[1:]]

    refused = harness.run_emulated(apply, graph=[data_standin()])
    assert refused.code == 2 and "--accept data-loss" in refused.err, refused.err
    assert refused.count("ExecuteChangeSet") == 0 and expiry(project) == "90"

    applied = harness.run_emulated([*apply, "--accept", "data-loss"], graph=[data_standin()])
    assert applied.code == 0, applied.out + applied.err
    assert applied.count("ExecuteChangeSet") == 1 and expiry(project) == "1"
    assert applied.count("CreateChangeSet") == 0  # exactly the planned change set, none made anew

    listed = harness.run_emulated([deployed[0], "releases", "--json", *deployed[1:]], graph=[data_standin()])
    assert listed.code == 0, listed.err
    [record] = [r for r in json.loads(listed.out[listed.out.index("["):]) if r.get("verb") == "apply"]
    assert record["result"] == "succeeded" and record["plan_digest"] == doc["digest"]
    assert record["accepted"] == ["data-loss"] and record["change_sets"][0]["id"] == stack["change_set"]["id"]
    retention = boto3.client("s3", region_name="us-east-1").get_object_retention(Bucket=bucket, Key=record["key"])
    assert retention["Retention"]["Mode"] == "COMPLIANCE"

    again = harness.run_emulated([*apply, "--accept", "data-loss"], graph=[data_standin()])
    assert again.code == 1 and "plan again" in again.err, again.err  # a plan is applied once


def test_apply_refuses_when_someone_deployed_in_between(deployed, project, tmp_path):
    plan_path = tmp_path / "plan.json"
    planned = harness.run_emulated([deployed[0], "plan", *deployed[1:], "-p", "unhandled_expiry_days=30",
                                    "--out", str(plan_path)], graph=[data_standin()])
    assert planned.code == 0, planned.err
    between = harness.run_emulated([*deployed, "--yes", "-p", "unhandled_expiry_days=120"], graph=[data_standin()])
    assert between.code == 0, between.out + between.err
    refused = harness.run_emulated([deployed[0], "apply", str(plan_path), *deployed[1:], "--accept", "data-loss"],
                                   graph=[data_standin()])
    assert refused.code == 1, refused.out + refused.err
    assert "changed since the plan" in refused.err and "nothing executed" in refused.err
    assert refused.count("ExecuteChangeSet") == 0 and expiry(project) == "120"


def test_apply_refuses_a_stale_or_altered_plan(deployed, project, tmp_path):
    plan_path = tmp_path / "plan.json"
    planned = harness.run_emulated([deployed[0], "plan", *deployed[1:], "-p", "unhandled_expiry_days=120",
                                    "--out", str(plan_path)], graph=[data_standin()])
    assert planned.code == 0 and json.loads(plan_path.read_text())["risk_classes"] == [], planned.out
    time.sleep(1.5)
    stale = harness.run_emulated([deployed[0], "apply", str(plan_path), *deployed[1:], "--max-age", "0.0003"],
                                 graph=[data_standin()])
    assert stale.code == 2 and "old" in stale.err and "--max-age" in stale.err, stale.err
    doc = json.loads(plan_path.read_text())
    doc["stacks"][0]["parameters"]["UnhandledExpiryDays"] = "1"
    plan_path.write_text(json.dumps(doc))
    altered = harness.run_emulated([deployed[0], "apply", str(plan_path), *deployed[1:]], graph=[data_standin()])
    assert altered.code == 2 and "altered" in altered.err, altered.err
    assert stale.count("ExecuteChangeSet") == altered.count("ExecuteChangeSet") == 0 and expiry(project) == "90"


def test_the_ci_access_stacks_ledger_bucket_locks_what_the_deployer_writes(project):
    """The ledger bucket exactly as templates/github_oidc.py declares it, created by CloudFormation (Object Lock
    on create): its default retention, and a record that cannot be written twice nor deleted while locked."""
    from datetime import UTC, datetime

    from botocore.exceptions import ClientError

    from templates import github_oidc

    full = templates.load_yaml(templates.render(github_oidc.build()))
    body = {"Parameters": {k: full["Parameters"][k] for k in ("ProjectName", "ReleaseRetentionDays")},
            "Resources": {"ReleaseLedgerBucket": full["Resources"]["ReleaseLedgerBucket"]}}
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    name = f"{project}-ledger"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body), Parameters=[
        {"ParameterKey": "ProjectName", "ParameterValue": project},
        {"ParameterKey": "ReleaseRetentionDays", "ParameterValue": "3"}])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    bucket = ledger.bucket_name(project, ACCOUNT, "us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock == {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 3}}}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    record = {"started": datetime.now(UTC).isoformat(), "plan_digest": "ab" * 32, "result": ledger.SUCCEEDED}
    key = ledger.append(s3, bucket, ACCOUNT, "dev", record, retention_days=1)
    with pytest.raises(ClientError) as twice:  # the same key again: If-None-Match refuses it
        ledger.append(s3, bucket, ACCOUNT, "dev", {**record, "result": ledger.FAILED}, retention_days=1)
    assert twice.value.response["Error"]["Code"] in ("PreconditionFailed", "412"), twice.value.response
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError):  # COMPLIANCE: not even the bucket owner deletes a locked version
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert [r["result"] for r in ledger.records(s3, bucket, ACCOUNT, "dev")] == [ledger.SUCCEEDED]
