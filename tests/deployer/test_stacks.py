"""A stack as DescribeStacks returns it, and what ``prepare`` makes of every state CloudFormation can leave it in.
Stubber with AWS's real responses: LocalStack cannot be put into ROLLBACK_FAILED, DELETE_FAILED or an
IMPORT rollback on demand, and never throttles or denies."""

from __future__ import annotations

import datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import contract
from deployer import aws as aws_module
from deployer.engine import stack_status, stacks
from deployer.errors import DeployError

REGION = "eu-west-1"
NAME = "ia-comafi-network"
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/ia-comafi-network/1"
CREATED = datetime.datetime(2026, 1, 1, 9, 0, 0, 123000, tzinfo=datetime.UTC)
UPDATED = datetime.datetime(2026, 2, 3, 10, 11, 12, 456000, tzinfo=datetime.UTC)
MISSING = f"Stack with id {NAME} does not exist"
WHERE = f"--stack-name {NAME} --region {REGION}"


@pytest.fixture(autouse=True)
def _no_waiting(stubbed_aws_env, monkeypatch):
    monkeypatch.setattr(stacks, "WAIT_DELAY", 0)
    monkeypatch.setattr(stacks.time, "sleep", lambda _s: None)


# One session for the module: its loader parses the service model once, not once a test.
SESSION = boto3.session.Session(region_name=REGION)


def client():
    return SESSION.client("cloudformation", region_name=REGION, config=aws_module.config())


def desc(status: str, protected: bool = False, reason: str | None = None, **extra) -> dict:
    stack = {"StackId": STACK_ID, "StackName": NAME, "StackStatus": status, "CreationTime": CREATED,
             "EnableTerminationProtection": protected, **extra}
    if reason:
        stack["StackStatusReason"] = reason
    return {"Stacks": [stack]}


# --- DescribeStacks ----------------------------------------------------------------------------------------

def test_describe_reads_parameters_tags_outputs_protection_reason_and_the_last_change():
    cfn = client()
    answer = desc("UPDATE_COMPLETE", protected=True, reason="User Initiated", LastUpdatedTime=UPDATED,
                  Parameters=[{"ParameterKey": "ProjectName", "ParameterValue": "ia-comafi"},
                              {"ParameterKey": "NoValue"}],
                  Tags=[{"Key": "Project", "Value": "ia-comafi"}, {"Key": "Environment", "Value": "prod"}],
                  Outputs=[{"OutputKey": "VpcId", "OutputValue": "vpc-1", "ExportName": "ia-comafi-VpcId"},
                           {"OutputKey": "Empty"}])
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", answer, {"StackName": NAME})
        got = stacks.describe(cfn, NAME)
    assert got == stacks.Deployed(
        stack_id=STACK_ID, status="UPDATE_COMPLETE",
        parameters={"ProjectName": "ia-comafi", "NoValue": ""},
        tags={"Project": "ia-comafi", "Environment": "prod"},
        termination_protection=True, outputs={"VpcId": "vpc-1", "Empty": ""},
        reason="User Initiated", updated="2026-02-03T10:11:12+00:00")


def test_a_stack_never_updated_reads_its_creation_time_and_nothing_else():
    cfn = client()
    bare = {"Stacks": [{"StackId": STACK_ID, "StackName": NAME, "StackStatus": "CREATE_COMPLETE",
                        "CreationTime": CREATED}]}
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", bare)
        got = stacks.describe(cfn, NAME)
    assert got == stacks.Deployed(STACK_ID, "CREATE_COMPLETE", {}, {}, False, {}, "", "2026-01-01T09:00:00+00:00")


def test_only_aws_s_does_not_exist_answer_means_no_stack():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "ValidationError", MISSING, 400)
        assert stacks.describe(cfn, NAME) is None
        # Same code, another message (a malformed name): not an answer about the stack.
        stub.add_client_error("describe_stacks", "ValidationError",
                              "1 validation error detected: Value 'a b' at 'stackName' failed to satisfy constraint")
        with pytest.raises(ClientError):
            stacks.describe(cfn, NAME)
        stub.add_client_error("describe_stacks", "AccessDenied", f"User is not authorized ... {MISSING}", 403)
        with pytest.raises(ClientError):
            stacks.describe(cfn, NAME)


# --- what prepare makes of each state ----------------------------------------------------------------------

@pytest.mark.parametrize("status", sorted(stack_status.STABLE - {"IMPORT_ROLLBACK_COMPLETE"}))  # that one: below
def test_a_stable_stack_is_updated(status):
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc(status))
        change_type, deployed = stacks.prepare(cfn, NAME, REGION, pytest.fail)
    assert change_type == "UPDATE" and deployed.status == status


def test_no_stack_or_a_deleted_one_is_created():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "ValidationError", MISSING)
        assert stacks.prepare(cfn, NAME, REGION, pytest.fail) == ("CREATE", None)
        stub.add_response("describe_stacks", desc("DELETE_COMPLETE"))
        assert stacks.prepare(cfn, NAME, REGION, pytest.fail) == ("CREATE", None)


def test_a_review_in_progress_stack_is_created_through_and_kept():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc("REVIEW_IN_PROGRESS"))
        change_type, deployed = stacks.prepare(cfn, NAME, REGION, pytest.fail)
    assert change_type == "CREATE" and deployed.stack_id == STACK_ID


def test_a_failed_first_create_is_deleted_protection_first_then_created_again():
    cfn = client()
    said = []
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc("ROLLBACK_COMPLETE", protected=True))
        stub.add_response("update_termination_protection", {"StackId": STACK_ID},
                          {"StackName": NAME, "EnableTerminationProtection": False})
        stub.add_response("delete_stack", {}, {"StackName": NAME})
        stub.add_client_error("describe_stacks", "ValidationError", MISSING)  # the delete waiter: gone
        assert stacks.prepare(cfn, NAME, REGION, said.append) == ("CREATE", None)
        stub.assert_no_pending_responses()
    assert said == ["ROLLBACK_COMPLETE (its first create failed): deleting it to create it again"]


def test_an_empty_stack_left_by_a_failed_adoption_is_deleted_and_adopted_again():
    cfn = client()
    said = []
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc("IMPORT_ROLLBACK_COMPLETE"))
        stub.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": NAME})
        stub.add_response("delete_stack", {}, {"StackName": NAME})
        stub.add_response("describe_stacks", desc("DELETE_COMPLETE"))  # the delete waiter: done
        assert stacks.prepare(cfn, NAME, REGION, said.append) == ("CREATE", None)
        stub.assert_no_pending_responses()
    assert said == ["IMPORT_ROLLBACK_COMPLETE with no resources (its adoption failed): deleting it to adopt again"]


def test_an_import_rolled_back_over_a_stack_with_resources_is_updated():
    summary = {"LogicalResourceId": "Vpc", "ResourceType": "AWS::EC2::VPC", "ResourceStatus": "IMPORT_COMPLETE",
               "LastUpdatedTimestamp": CREATED}
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc("IMPORT_ROLLBACK_COMPLETE"))
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [summary]}, {"StackName": NAME})
        assert stacks.prepare(cfn, NAME, REGION, pytest.fail)[0] == "UPDATE"


def test_a_busy_stack_that_is_deleted_meanwhile_is_created():
    """The settle waiter takes ValidationError (deleted while we waited) as settled, not as a failure."""
    cfn = client()
    said = []
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc("DELETE_IN_PROGRESS"))
        stub.add_client_error("describe_stacks", "ValidationError", MISSING)
        stub.add_client_error("describe_stacks", "ValidationError", MISSING)
        assert stacks.prepare(cfn, NAME, REGION, said.append) == ("CREATE", None)
        stub.assert_no_pending_responses()
    assert said == ["DELETE_IN_PROGRESS: waiting for the operation already running to finish"]


def test_the_settle_waiter_stops_on_any_state_but_the_busy_ones():
    acceptors = stacks._settled_waiter_model().get_waiter("StackSettled")
    assert (acceptors.operation, acceptors.delay, acceptors.max_attempts) == ("DescribeStacks", 0, 1200)
    cfn = client()
    for busy in sorted(stack_status.BUSY):
        with Stubber(cfn) as stub:
            stub.add_response("describe_stacks", desc(busy))
            stub.add_response("describe_stacks", desc("UPDATE_ROLLBACK_FAILED"))
            stacks.wait_settled(cfn, NAME)
            stub.assert_no_pending_responses()


def test_the_settle_waiter_passes_other_errors_on():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "AccessDenied", "not authorized", 403)
        with pytest.raises(Exception, match="AccessDenied"):
            stacks.wait_settled(cfn, NAME)


@pytest.mark.parametrize(("status", "reason", "next_step"), [
    ("UPDATE_ROLLBACK_FAILED", "Resource Bucket failed to roll back",
     f"aws cloudformation continue-update-rollback {WHERE}  (if a resource cannot roll back, fix it or add "
     "--resources-to-skip LOGICAL_ID), then deploy again"),
    ("DELETE_FAILED", None,
     f"remove what blocks the delete (see the DELETE_FAILED events: aws cloudformation describe-stack-events "
     f"{WHERE}), then aws cloudformation delete-stack {WHERE} (add --retain-resources LOGICAL_ID to keep one), "
     "then deploy again"),
    ("ROLLBACK_FAILED", None,
     f"aws cloudformation delete-stack {WHERE}  (add --retain-resources LOGICAL_ID for a resource that cannot be "
     "deleted), then deploy again"),
    ("CREATE_FAILED", None, f"aws cloudformation delete-stack {WHERE}, then deploy again"),
    ("UPDATE_FAILED", None, f"aws cloudformation rollback-stack {WHERE}, then deploy again"),
    ("IMPORT_ROLLBACK_FAILED", None, f"aws cloudformation continue-update-rollback {WHERE}, then deploy again"),
    ("UNKNOWN_NEW_STATE", None, "see the stack in the CloudFormation console"),
])
def test_a_stuck_stack_stops_with_the_exact_command_that_unblocks_it(status, reason, next_step):
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc(status, reason=reason))
        with pytest.raises(DeployError) as err:
            stacks.prepare(cfn, NAME, REGION, pytest.fail)
    because = f" ({reason})" if reason else ""
    assert str(err.value) == (f"{NAME} is {status}{because}; CloudFormation cannot change it until you run: "
                              f"{next_step}")


def test_the_adoption_that_rolled_back_says_what_to_do_and_a_healthy_stack_has_no_next_step():
    assert stacks.next_step(NAME, "IMPORT_ROLLBACK_COMPLETE", REGION) == (
        "fix the cause above, then deploy again (the empty stack is deleted and the retained resources are "
        "adopted again)")
    assert stacks.next_step(NAME, "UPDATE_COMPLETE", REGION) is None


# --- deleting ----------------------------------------------------------------------------------------------

def test_an_unprotected_stack_is_deleted_without_touching_protection():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("delete_stack", {}, {"StackName": NAME})
        stacks.start_delete(cfn, NAME, protected=False, say=pytest.fail)
        stub.add_response("update_termination_protection", {"StackId": STACK_ID},
                          {"StackName": NAME, "EnableTerminationProtection": False})
        stub.add_response("delete_stack", {}, {"StackName": NAME})
        stacks.start_delete(cfn, NAME, protected=True)  # no say: nothing printed, no error
        stub.assert_no_pending_responses()


def test_wait_deleted_polls_with_the_given_delay_and_attempts():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc("DELETE_IN_PROGRESS"), {"StackName": STACK_ID})
        stub.add_response("describe_stacks", desc("DELETE_IN_PROGRESS"), {"StackName": STACK_ID})
        stub.add_response("describe_stacks", desc("DELETE_IN_PROGRESS"), {"StackName": STACK_ID})
        # Out of attempts: one last look, which finds it still deleting.
        stub.add_response("describe_stacks", desc("DELETE_IN_PROGRESS"), {"StackName": STACK_ID})
        with pytest.raises(DeployError) as err:
            stacks.wait_deleted(cfn, STACK_ID, NAME, REGION, delay=0, attempts=3)
        stub.assert_no_pending_responses()
    assert str(err.value) == (f"{NAME} was not deleted: DELETE_IN_PROGRESS; next: see the stack's events in the "
                              "CloudFormation console")


def test_a_delete_failed_seen_for_an_instant_is_not_final():
    """LocalStack (and AWS while cleaning up) can show DELETE_FAILED once: the second look decides."""
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc("DELETE_FAILED"))
        stub.add_response("describe_stacks", desc("DELETE_COMPLETE"), {"StackName": STACK_ID})
        stacks.wait_deleted(cfn, STACK_ID, NAME, REGION, delay=0, attempts=2)
        stub.add_response("describe_stacks", desc("DELETE_FAILED"))
        stub.add_client_error("describe_stacks", "ValidationError", MISSING)
        stacks.wait_deleted(cfn, STACK_ID, NAME, REGION, delay=0, attempts=2)
        stub.assert_no_pending_responses()


def test_wait_deleted_defaults_to_the_module_delay_and_an_hour_of_attempts(monkeypatch):
    cfn = client()
    asked = {}

    class Waiter:
        def wait(self, **kwargs):
            asked.update(kwargs)

    monkeypatch.setattr(cfn, "get_waiter", lambda name: asked.setdefault("waiter", name) and Waiter())
    monkeypatch.setattr(stacks, "WAIT_DELAY", 3)
    stacks.wait_deleted(cfn, STACK_ID, NAME, REGION)
    assert asked == {"waiter": "stack_delete_complete", "StackName": STACK_ID,
                     "WaiterConfig": {"Delay": 3, "MaxAttempts": 1200}}


def test_delete_and_wait_turns_protection_off_deletes_and_waits():
    cfn = client()
    said = []
    with Stubber(cfn) as stub:
        stub.add_response("update_termination_protection", {"StackId": STACK_ID},
                          {"StackName": STACK_ID, "EnableTerminationProtection": False})
        stub.add_response("delete_stack", {}, {"StackName": STACK_ID})
        stub.add_response("describe_stacks", desc("DELETE_COMPLETE"), {"StackName": STACK_ID})
        stacks.delete_and_wait(cfn, STACK_ID, NAME, REGION, protected=True, say=said.append)
        stub.assert_no_pending_responses()
    assert said == ["termination protection off"]


# --- unchanged? --------------------------------------------------------------------------------------------

class Plan:
    name = NAME
    body = "Resources: {}\n"
    parameters = {"A": "1"}
    tags = {"Project": "ia-comafi"}


def test_a_stack_that_is_not_stable_is_never_unchanged():
    cfn = client()
    with Stubber(cfn) as stub:  # no call at all
        assert not stacks.unchanged(cfn, Plan, None)
        busy = stacks.Deployed(STACK_ID, "REVIEW_IN_PROGRESS", Plan.parameters, Plan.tags, False, {})
        assert not stacks.unchanged(cfn, Plan, busy)
        stub.assert_no_pending_responses()


def test_the_deployed_template_is_the_original_one_and_a_parsed_json_body_compares_by_content():
    cfn = client()
    same = stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", Plan.parameters, Plan.tags, False, {})
    with Stubber(cfn) as stub:
        stub.add_response("get_template", {"TemplateBody": Plan.body}, {"StackName": NAME, "TemplateStage": "Original"})
        assert stacks.unchanged(cfn, Plan, same)
        stub.assert_no_pending_responses()
    assert stacks.template_hash({"b": 1, "a": [1]}) == stacks.template_hash('{"a": [1], "b": 1}')
    assert stacks.template_hash("x") != stacks.template_hash("y")


class DigestPlan:
    """A plan whose template records its digest (templates/digest.py), as every template does."""

    name = NAME
    body = "Parameters: {TemplateDigest: {Type: String}}\nResources: {}\n"
    parameters = {"A": "1", contract.TEMPLATE_DIGEST_PARAMETER: "a" * 64}
    tags = Plan.tags


def test_a_stack_that_records_the_template_s_digest_is_judged_from_describe_stacks_alone():
    cfn = client()
    with Stubber(cfn) as stub:  # no GetTemplate: the digest is among the parameters DescribeStacks listed
        same = stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", DigestPlan.parameters, Plan.tags, False, {})
        assert stacks.unchanged(cfn, DigestPlan, same)
        other_template = {**DigestPlan.parameters, contract.TEMPLATE_DIGEST_PARAMETER: "b" * 64}
        assert not stacks.unchanged(
            cfn, DigestPlan, stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", other_template, Plan.tags, False, {}))
        other_value = {**DigestPlan.parameters, "A": "2"}
        assert not stacks.unchanged(
            cfn, DigestPlan, stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", other_value, Plan.tags, False, {}))
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("recorded", [None, contract.TEMPLATE_DIGEST_UNRECORDED])
def test_a_stack_that_records_no_digest_is_compared_by_its_template_once(recorded):
    """Deployed by an older deploy.py (no such parameter) or by something else (the default): GetTemplate
    decides; the other parameters still have to match, and a parameter change costs no GetTemplate."""
    cfn = client()
    old = {"A": "1"} if recorded is None else {"A": "1", contract.TEMPLATE_DIGEST_PARAMETER: recorded}
    deployed = stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", old, Plan.tags, False, {})
    with Stubber(cfn) as stub:
        stub.add_response("get_template", {"TemplateBody": DigestPlan.body},
                          {"StackName": NAME, "TemplateStage": "Original"})
        assert stacks.unchanged(cfn, DigestPlan, deployed)
        stub.add_response("get_template", {"TemplateBody": "Resources: {}\n"},
                          {"StackName": NAME, "TemplateStage": "Original"})
        assert not stacks.unchanged(cfn, DigestPlan, deployed)  # the older template: a change set records it
        moved = stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", {**old, "A": "2"}, Plan.tags, False, {})
        assert not stacks.unchanged(cfn, DigestPlan, moved)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(("status", "resources"), [("ROLLBACK_COMPLETE", None), ("IMPORT_ROLLBACK_COMPLETE", [])])
def test_a_restart_whose_delete_fails_names_the_stack_and_the_command_for_its_region(status, resources):
    """prepare deletes a failed first create (or an empty failed adoption), protected or not; when that delete
    fails, the operator gets the stack's name, why, and the command with this stack and region."""
    cfn = client()
    failed = desc("DELETE_FAILED", reason="The following resource(s) failed to delete: [Bucket].")
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", desc(status, protected=True))
        if resources is not None:
            stub.add_response("list_stack_resources", {"StackResourceSummaries": resources})
        stub.add_response("update_termination_protection", {"StackId": STACK_ID},
                          {"StackName": NAME, "EnableTerminationProtection": False})
        stub.add_response("delete_stack", {}, {"StackName": NAME})
        stub.add_response("describe_stacks", failed)  # the waiter: DELETE_FAILED is its failure state
        stub.add_response("describe_stacks", failed, {"StackName": NAME})  # the second look
        with pytest.raises(DeployError) as err:
            stacks.prepare(cfn, NAME, REGION, lambda _t: None)
        stub.assert_no_pending_responses()
    assert str(err.value) == (
        f"{NAME} was not deleted: DELETE_FAILED (The following resource(s) failed to delete: [Bucket].); next: "
        + stacks.next_step(NAME, "DELETE_FAILED", REGION))
    assert f"--region {REGION}" in str(err.value)


def test_an_explicit_delay_wins_over_the_module_s(monkeypatch):
    cfn = client()
    asked = {}

    class Waiter:
        def wait(self, **kwargs):
            asked.update(kwargs)

    monkeypatch.setattr(cfn, "get_waiter", lambda _name: Waiter())
    monkeypatch.setattr(stacks, "WAIT_DELAY", 3)
    stacks.wait_deleted(cfn, STACK_ID, NAME, REGION, delay=1, attempts=5)
    assert asked["WaiterConfig"] == {"Delay": 1, "MaxAttempts": 5}
