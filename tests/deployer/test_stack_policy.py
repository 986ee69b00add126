"""The data stack's policy, the refusal of a change set that would replace or delete a protected resource, and
the --allow-replace override.

LocalStack community emulates neither SetStackPolicy/GetStackPolicy nor a policy refusing an update, so these
use botocore's Stubber with AWS's DescribeChangeSet shapes. ``testkit.fakes.StackPolicies`` answers the two policy
calls at the HTTP boundary for the LocalStack runs (everything else reaches LocalStack); its test is below.
"""

from __future__ import annotations

import datetime
import json

import boto3
import pytest
from botocore.stub import Stubber

import contract
from deployer.engine import changesets, stack_policy
from deployer.errors import BadInput, DeployError
from testkit import fakes

REGION = "us-east-1"
STACK = "ia-comafi-data"
STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/5f0e8c20-e6a1-11f0-8c1d-0e9f8a7b6c5d"
CS_ID = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/deploy-20260101-120000-abc123/7c3e1a2b"
BUCKET = contract.UNHANDLED_BUCKET_RESOURCE
SECRET = contract.SECRET_RESOURCE
REPOSITORY = contract.REPOSITORY_RESOURCE


pytestmark = pytest.mark.usefixtures("stubbed_aws_env")


def cfn_client():
    return boto3.session.Session(region_name=REGION).client("cloudformation", region_name=REGION)


# --- the policy ---------------------------------------------------------------------------------------------

def denied(document: dict) -> set[str]:
    return {r.removeprefix("LogicalResourceId/") for s in document["Statement"] if s["Effect"] == "Deny"
            for r in s["Resource"]}


def test_the_data_policy_denies_replace_and_delete_of_each_protected_resource_and_allows_the_rest():
    doc = stack_policy.policy(contract.DATA)
    (deny,) = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert sorted(deny["Action"]) == ["Update:Delete", "Update:Replace"]
    assert denied(doc) == {SECRET, BUCKET, REPOSITORY}
    (allow,) = [s for s in doc["Statement"] if s["Effect"] == "Allow"]
    assert allow["Action"] == "Update:*" and allow["Resource"] == "*"


def test_a_spared_resource_is_left_out_of_the_deny_and_nothing_spared_when_all_are():
    assert denied(stack_policy.policy(contract.DATA, [BUCKET])) == {SECRET, REPOSITORY}
    everything = stack_policy.policy(contract.DATA, [SECRET, BUCKET, REPOSITORY])
    assert [s["Effect"] for s in everything["Statement"]] == ["Allow"]


def test_a_stack_that_protects_nothing_has_no_policy():
    assert stack_policy.policy(contract.NETWORK) is None


def test_the_policy_body_is_deterministic():
    # Same input, same bytes: the resources in the contract's order whatever order --allow-replace gave them in.
    one = stack_policy.body(stack_policy.policy(contract.DATA, [REPOSITORY, SECRET]))
    assert one == stack_policy.body(stack_policy.policy(contract.DATA, (SECRET, REPOSITORY)))
    protective = stack_policy.policy(contract.DATA)["Statement"][0]["Resource"]
    assert protective == [f"LogicalResourceId/{r}" for r in contract.PROTECTED_RESOURCES[contract.DATA]]


# --- ensure -------------------------------------------------------------------------------------------------

def test_ensure_sets_the_policy_on_a_stack_that_has_none():
    cfn = cfn_client()
    with Stubber(cfn) as stub:
        stub.add_response("get_stack_policy", {}, {"StackName": STACK})
        stub.add_response("set_stack_policy", {}, {
            "StackName": STACK, "StackPolicyBody": stack_policy.body(stack_policy.policy(contract.DATA))})
        assert stack_policy.ensure(cfn, STACK, contract.DATA) is True
        stub.assert_no_pending_responses()


def test_ensure_leaves_a_current_policy_alone():
    cfn = cfn_client()
    with Stubber(cfn) as stub:  # AWS returns the body as stored: other spacing and key order, same policy
        stub.add_response("get_stack_policy", {
            "StackPolicyBody": json.dumps(stack_policy.policy(contract.DATA), indent=2)}, {"StackName": STACK})
        assert stack_policy.ensure(cfn, STACK, contract.DATA) is False
        stub.assert_no_pending_responses()


def test_ensure_puts_back_a_policy_left_lifted():
    cfn = cfn_client()
    with Stubber(cfn) as stub:
        stub.add_response("get_stack_policy", {
            "StackPolicyBody": stack_policy.body(stack_policy.policy(contract.DATA, [BUCKET]))})
        stub.add_response("set_stack_policy", {}, {
            "StackName": STACK, "StackPolicyBody": stack_policy.body(stack_policy.policy(contract.DATA))})
        assert stack_policy.ensure(cfn, STACK, contract.DATA) is True


# --- refusals -----------------------------------------------------------------------------------------------

def bucket_name_change() -> dict:
    """DescribeChangeSet's item for a new BucketName: the bucket is replaced (it is retained, so the old one stays)."""
    return {"Type": "Resource", "ResourceChange": {
        "PolicyAction": "ReplaceAndRetain", "Action": "Modify", "LogicalResourceId": BUCKET,
        "PhysicalResourceId": "ia-comafi-unhandled-123456789012-us-east-1", "ResourceType": "AWS::S3::Bucket",
        "Replacement": "True", "Scope": ["Properties"],
        "Details": [{"Target": {"Attribute": "Properties", "Name": "BucketName", "RequiresRecreation": "Always"},
                     "Evaluation": "Static", "ChangeSource": "DirectModification"}]}}


def repository_conditional_change() -> dict:
    """A RepositoryName computed from a parameter CloudFormation resolves only at execution: Conditional."""
    return {"Type": "Resource", "ResourceChange": {
        "PolicyAction": "ReplaceAndRetain", "Action": "Modify", "LogicalResourceId": REPOSITORY,
        "PhysicalResourceId": "ia-comafi-api", "ResourceType": "AWS::ECR::Repository",
        "Replacement": "Conditional", "Scope": ["Properties"],
        "Details": [{"Target": {"Attribute": "Properties", "Name": "RepositoryName", "RequiresRecreation": "Always"},
                     "Evaluation": "Dynamic", "ChangeSource": "ParameterReference", "CausingEntity": "ProjectName"}]}}


def secret_removed() -> dict:
    return {"Type": "Resource", "ResourceChange": {
        "PolicyAction": "Retain", "Action": "Remove", "LogicalResourceId": SECRET,
        "PhysicalResourceId": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:ia-comafi/app-secrets-AbCdEf",
        "ResourceType": "AWS::SecretsManager::Secret", "Scope": [], "Details": []}}


def bucket_tag_change() -> dict:
    return {"Type": "Resource", "ResourceChange": {
        "Action": "Modify", "LogicalResourceId": BUCKET, "PhysicalResourceId": "b", "ResourceType": "AWS::S3::Bucket",
        "Replacement": "False", "Scope": ["Tags"],
        "Details": [{"Target": {"Attribute": "Tags", "RequiresRecreation": "Never"}, "Evaluation": "Static",
                     "ChangeSource": "DirectModification"}]}}


def describe_change_set(changes: list[dict]) -> dict:
    return {"ChangeSetName": "deploy-20260101-120000-abc123", "ChangeSetId": CS_ID, "StackId": STACK_ID,
            "StackName": STACK, "CreationTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE", "Changes": changes}


def parsed(*items: dict) -> list[changesets.Change]:
    """DescribeChangeSet's Changes items, as changesets.describe reads them."""
    return [changesets.parse_change(item) for item in items]


def test_a_new_bucket_name_is_refused_naming_the_resource_and_the_property():
    changes = parsed(bucket_name_change(), bucket_tag_change())
    (problem,) = stack_policy.refusals(changes, contract.DATA, set())
    assert problem == (f"it would replace {BUCKET} (AWS::S3::Bucket), "
                       "forced by BucketName (requires recreation: Always)")


def test_a_conditional_replacement_and_a_removal_are_refused_too():
    problems = stack_policy.refusals(parsed(repository_conditional_change(), secret_removed()), contract.DATA, set())
    assert problems == [
        f"it would maybe replace (Replacement: Conditional) {REPOSITORY} (AWS::ECR::Repository), "
        "forced by RepositoryName (requires recreation: Always)",
        f"it would delete {SECRET} (AWS::SecretsManager::Secret): it is no longer in the template",
    ]


def test_allow_replace_lets_that_one_resource_through_only():
    changes = parsed(bucket_name_change(), repository_conditional_change())
    problems = stack_policy.refusals(changes, contract.DATA, {BUCKET})
    assert len(problems) == 1 and REPOSITORY in problems[0]
    assert stack_policy.refusals(changes, contract.DATA, {BUCKET, REPOSITORY}) == []
    # the policy is lifted only for what this change set needs, not for every id named
    assert stack_policy.to_spare(changes[:1], contract.DATA, {BUCKET, REPOSITORY, SECRET}) == {BUCKET}


def test_a_change_that_replaces_nothing_protected_passes():
    assert stack_policy.refusals(parsed(bucket_tag_change()), contract.DATA, set()) == []
    assert stack_policy.refusals(parsed(bucket_name_change()), contract.NETWORK, set()) == []


def test_the_refusal_reads_the_change_set_from_aws_and_says_how_to_override():
    cfn = cfn_client()
    with Stubber(cfn) as stub:  # two pages, as DescribeChangeSet returns a large change set
        first = describe_change_set([bucket_tag_change()]) | {"NextToken": "page-2"}
        stub.add_response("describe_change_set", first, {"ChangeSetName": CS_ID, "IncludePropertyValues": True})
        stub.add_response("describe_change_set", describe_change_set([bucket_name_change()]),
                          {"ChangeSetName": CS_ID, "NextToken": "page-2", "IncludePropertyValues": True})
        changes = changesets.describe(cfn, changesets.ChangeSet(CS_ID, "deploy-x", STACK_ID, "UPDATE")).changes
    with pytest.raises(DeployError) as err:
        stack_policy.check(changes, contract.DATA, STACK, set())
    message = str(err.value)
    assert message.startswith(f"refusing to change {STACK}: it would replace {BUCKET}")
    assert "BucketName" in message and message.endswith(f"deploy again with --allow-replace {BUCKET}")
    stack_policy.check(changes, contract.DATA, STACK, {BUCKET})  # with the override: no refusal


def test_allow_replace_of_an_unprotected_id_is_bad_input():
    stack_policy.validate_allowed({BUCKET})
    with pytest.raises(BadInput, match=f"--allow-replace Bukcet: not a protected resource; allowed: .*{BUCKET}"):
        stack_policy.validate_allowed({"Bukcet"})


# --- lifted -------------------------------------------------------------------------------------------------

def expect_set(stub: Stubber, spared: list[str]) -> None:
    stub.add_response("set_stack_policy", {}, {
        "StackName": STACK, "StackPolicyBody": stack_policy.body(stack_policy.policy(contract.DATA, spared))})


def test_the_override_lifts_the_policy_for_the_block_and_restores_it():
    cfn = cfn_client()
    sent: list[str] = []
    cfn.meta.events.register("provide-client-params.cloudformation.SetStackPolicy",
                             lambda params, **_: sent.append(params["StackPolicyBody"]))
    lifted, protective = (stack_policy.body(stack_policy.policy(contract.DATA, s)) for s in ([BUCKET], []))
    with Stubber(cfn) as stub:
        expect_set(stub, [BUCKET])
        expect_set(stub, [])
        with stack_policy.lifted(cfn, STACK, contract.DATA, {BUCKET}):
            assert sent == [lifted]  # lifted before the block runs (the execution), not yet restored
        assert sent == [lifted, protective]
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("failure", [DeployError("ia-comafi-data failed: UPDATE_ROLLBACK_COMPLETE"),
                                     KeyboardInterrupt()], ids=["execution failed", "ctrl-c"])
def test_the_policy_is_restored_when_the_execution_raises(failure):
    cfn = cfn_client()
    with Stubber(cfn) as stub:
        expect_set(stub, [BUCKET])
        expect_set(stub, [])
        with pytest.raises(type(failure)), stack_policy.lifted(cfn, STACK, contract.DATA, {BUCKET}):
            raise failure
        stub.assert_no_pending_responses()


def test_a_failed_restore_says_the_guard_is_still_lifted_and_keeps_the_real_error():
    cfn = cfn_client()
    with Stubber(cfn) as stub:
        expect_set(stub, [BUCKET])
        stub.add_client_error("set_stack_policy", "Throttling", "Rate exceeded", 400)
        with pytest.raises(DeployError) as err, stack_policy.lifted(cfn, STACK, contract.DATA, {BUCKET}):
            raise DeployError("ia-comafi-data failed: UPDATE_ROLLBACK_COMPLETE")
    assert str(err.value) == "ia-comafi-data failed: UPDATE_ROLLBACK_COMPLETE"
    assert any("still lifted for " + BUCKET in note for note in err.value.__notes__)


def test_an_override_that_spares_nothing_here_makes_no_call():
    cfn = cfn_client()
    with Stubber(cfn), stack_policy.lifted(cfn, STACK, contract.DATA, set()):
        pass


# --- the LocalStack runs' SetStackPolicy/GetStackPolicy, at the HTTP boundary -----------------------------------

def test_the_http_boundary_fake_answers_both_calls_as_aws_does(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: before-send answers
    session = boto3.session.Session(region_name=REGION)
    policies = fakes.StackPolicies()
    policies.attach(session)
    cfn = session.client("cloudformation", region_name=REGION)
    assert stack_policy.ensure(cfn, STACK, contract.DATA) is True  # none yet: set
    assert json.loads(policies.bodies[STACK]) == stack_policy.policy(contract.DATA)
    assert stack_policy.ensure(cfn, STACK, contract.DATA) is False  # read back through botocore's XML parser
    assert policies.calls == ["GetStackPolicy", "SetStackPolicy", "GetStackPolicy"]
