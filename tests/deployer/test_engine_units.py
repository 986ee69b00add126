"""What LocalStack cannot show: AWS's own refusals and states, replayed with botocore's Stubber (or, for
retries, a before-send hook, since Stubber short-circuits botocore's retry loop) using AWS's real error codes
and messages. Plus the graph scheduling, which needs no AWS at all."""

from __future__ import annotations

import dataclasses
import datetime
import io
import threading
import time

import boto3
import pytest
from botocore.stub import Stubber

import contract
import templates
from deployer import aws as aws_module
from deployer.context import Context
from deployer.engine import changesets, flow, guard, image, plan, preflight, schedule, stacks
from deployer.engine.outcome import Mode, Result
from deployer.errors import DeployError
from deployer.output import Printer
from templates.params import load_params
from testkit import fakes

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/ia-comafi-network/1"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _no_waiting(stubbed_aws_env, monkeypatch):
    monkeypatch.setattr(stacks, "WAIT_DELAY", 0)


def client(service: str):
    return boto3.session.Session(region_name=REGION).client(service, region_name=REGION,
                                                            config=aws_module.config())


def stack_desc(status: str, params=None, tags=None, protected=False, name="ia-comafi-network") -> dict:
    return {"Stacks": [{
        "StackId": STACK_ID, "StackName": name, "StackStatus": status, "CreationTime": NOW,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in (params or {}).items()],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        "EnableTerminationProtection": protected,
    }]}


# --- graph --------------------------------------------------------------------------------------------------

def test_levels_and_selection_follow_the_graph():
    levels = plan.levels(templates.STACKS)
    assert levels["network"] == levels["data"] == 0
    assert levels["compute"] == 1 and levels["waf"] == 2
    default = [s.key for s in plan.select(templates.STACKS, None)]
    assert default == [s.key for s in templates.STACKS if not s.optional]
    assert [s.key for s in plan.select(templates.STACKS, "waf,network")] == ["network", "waf"]


def fake_plan(key, deps=()):
    return plan.StackPlan(key=key, name=f"p-{key}", depends_on=deps, level=0, body="", parameters={}, tags={},
                          termination_protection=False)


def test_independent_stacks_run_together_and_dependents_wait():
    both_running = threading.Barrier(2, timeout=5)  # network and data must be in flight at the same time
    order = []

    def work(run, p):
        if p.key in ("network", "data"):
            both_running.wait()
        order.append(p.key)
        return Result(p.key, "created")

    plans = [fake_plan("network"), fake_plan("data"), fake_plan("compute", ("network", "data")),
             fake_plan("waf", ("compute",))]
    results = schedule.run_graph(None, plans, work, first_look=None)
    assert [r.outcome for r in results] == ["created"] * 4
    assert order[2:] == ["compute", "waf"]


def test_a_failure_starts_nothing_after_it():
    def work(run, p):
        if p.key == "data":
            raise DeployError("p-data failed: ROLLBACK_COMPLETE")
        time.sleep(0.2)  # network is still running when data fails: it finishes
        return Result(p.key, "created")

    run = flow.Run(aws=None, params=None, out=Printer(io.StringIO(), colour=False, summary_path=""), account="1")
    plans = [fake_plan("network"), fake_plan("data"), fake_plan("compute", ("network", "data")),
             fake_plan("waf", ("compute",))]
    outcomes = {r.key: r.outcome for r in schedule.run_graph(run, plans, work, first_look=None)}
    assert outcomes == {"network": "created", "data": "failed", "compute": "not started", "waf": "not started"}


# --- stack states -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "command"),
    [
        ("UPDATE_ROLLBACK_FAILED",
         "aws cloudformation continue-update-rollback --stack-name ia-comafi-network --region us-east-1"),
        ("DELETE_FAILED", "aws cloudformation delete-stack --stack-name ia-comafi-network --region us-east-1"),
    ],
)
def test_stuck_stacks_stop_with_the_exact_next_step(status, command):
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", stack_desc(status), {"StackName": "ia-comafi-network"})
        with pytest.raises(DeployError) as err:
            stacks.prepare(cfn, "ia-comafi-network", REGION, lambda _t: None)
    assert command in str(err.value)
    assert status in str(err.value)


def test_a_busy_stack_is_waited_for_with_a_waiter():
    cfn = client("cloudformation")
    said = []
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", stack_desc("UPDATE_IN_PROGRESS"))
        stub.add_response("describe_stacks", stack_desc("UPDATE_IN_PROGRESS"))  # waiter: still busy
        stub.add_response("describe_stacks", stack_desc("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"))
        stub.add_response("describe_stacks", stack_desc("UPDATE_COMPLETE"))  # waiter: settled
        stub.add_response("describe_stacks", stack_desc("UPDATE_COMPLETE"))  # prepare reads it again
        change_type, deployed = stacks.prepare(cfn, "ia-comafi-network", REGION, said.append)
        stub.assert_no_pending_responses()
    assert change_type == "UPDATE" and deployed.status == "UPDATE_COMPLETE"
    assert "waiting" in said[0]


def test_review_in_progress_is_created_through():
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", stack_desc("REVIEW_IN_PROGRESS"))
        assert stacks.prepare(cfn, "ia-comafi-network", REGION, lambda _t: None)[0] == "CREATE"


# --- export-in-use guard (LocalStack neither tracks imports nor refuses) ------------------------------------

# What AWS answers when an update removes an export in use - mid-update, after which it rolls back:
#   ValidationError: Export ia-comafi-VpcId cannot be deleted as it is in use by ia-comafi-compute
# The guard must refuse before that, from ListExports + ListImports.

NEW_TEMPLATE = {"Outputs": {"SubnetIds": {"Value": {"Ref": "SubnetA"},
                                          "Export": {"Name": {"Fn::Sub": "${ProjectName}-SubnetIds"}}}}}


def guard_check(cfn, template, changes=()):
    cs = changesets.ChangeSet(id="cs", name="deploy-x", stack_id=STACK_ID, type="UPDATE", changes=tuple(changes))
    guard.check(cfn, "ia-comafi-network", STACK_ID, template, {"ProjectName": "ia-comafi"},
                {"AWS::Region": REGION, "AWS::AccountId": "123456789012"}, cs)


def exports_response():
    return {"Exports": [{"ExportingStackId": STACK_ID, "Name": "ia-comafi-VpcId", "Value": "vpc-1"},
                        {"ExportingStackId": STACK_ID, "Name": "ia-comafi-SubnetIds", "Value": "subnet-1"},
                        {"ExportingStackId": "other", "Name": "ia-comafi-AlbArn", "Value": "arn"}]}


def test_guard_refuses_removing_an_imported_export_naming_the_importer():
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("list_exports", exports_response())
        stub.add_response("list_imports", {"Imports": ["ia-comafi-compute"]}, {"ExportName": "ia-comafi-VpcId"})
        with pytest.raises(DeployError) as err:
            guard_check(cfn, NEW_TEMPLATE)
    assert "ia-comafi-VpcId" in str(err.value) and "ia-comafi-compute" in str(err.value)
    assert "removed or renamed" in str(err.value)


def test_guard_refuses_replacing_the_resource_behind_an_imported_export():
    cfn = client("cloudformation")
    template = {"Outputs": {**NEW_TEMPLATE["Outputs"], "VpcId": {
        "Value": {"Ref": "Vpc"}, "Export": {"Name": {"Fn::Sub": "${ProjectName}-VpcId"}}}}}
    replaced = changesets.Change("Modify", "Vpc", "AWS::EC2::VPC", "True")
    with Stubber(cfn) as stub:
        stub.add_response("list_exports", exports_response())
        stub.add_response("list_imports", {"Imports": ["ia-comafi-compute"]}, {"ExportName": "ia-comafi-VpcId"})
        with pytest.raises(DeployError) as err:
            guard_check(cfn, template, [replaced])
    assert "Vpc is replaced" in str(err.value) and "ia-comafi-compute" in str(err.value)


def test_guard_lets_an_unused_export_go():
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("list_exports", exports_response())
        # AWS's answer for an export nobody imports is an error, not an empty list.
        stub.add_client_error("list_imports", "ValidationError",
                              "Export 'ia-comafi-VpcId' is not imported by any stack.",
                              expected_params={"ExportName": "ia-comafi-VpcId"})
        assert guard_check(cfn, NEW_TEMPLATE) is None  # no DeployError: the change may go on
        stub.assert_no_pending_responses()  # it did ask who imports the export it removes
    assert guard.importers(cfn_with_no_importer(), "ia-comafi-VpcId") == []


def cfn_with_no_importer():
    cfn = client("cloudformation")
    stub = Stubber(cfn)
    stub.add_client_error("list_imports", "ValidationError", "Export 'ia-comafi-VpcId' is not imported by any stack.")
    stub.activate()
    return cfn


def test_a_change_set_the_guard_refuses_is_deleted_so_nobody_executes_it():
    """The flow, not only the guard: the refused change set must not stay in the console."""
    cfn = client("cloudformation")
    aws = aws_module.Aws(REGION, clients={"cloudformation": cfn})
    params = load_params("dev")
    p = dataclasses.replace(fake_plan("network"), name="ia-comafi-network", body="{}", template=NEW_TEMPLATE,
                            parameters={"ProjectName": "ia-comafi"}, tags={"Project": "ia-comafi"})
    run = flow.Run(aws=aws, params=params, out=Printer(io.StringIO(), colour=False, summary_path=""),
                   account="123456789012", mode=Mode.EXECUTE)
    run._access.append(preflight.CiAccess("ia-comafi-github-oidc"))  # no CI access stack: no role to look up
    deployed = stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", {}, {}, False, {})
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": "cs-arn", "StackId": STACK_ID})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "StackId": STACK_ID, "Changes": []})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "StackId": STACK_ID, "Changes": []})
        stub.add_response("describe_events", {"OperationEvents": []}, {"ChangeSetName": "cs-arn"})
        stub.add_response("list_exports", exports_response())
        stub.add_response("list_imports", {"Imports": ["ia-comafi-compute"]}, {"ExportName": "ia-comafi-VpcId"})
        stub.add_response("delete_change_set", {}, {"ChangeSetName": "cs-arn"})
        with pytest.raises(DeployError) as err:
            flow.change_set_flow(run, p, "UPDATE", deployed)
        stub.assert_no_pending_responses()
    assert "ia-comafi-compute" in str(err.value)


def test_unchanged_compares_template_parameters_and_tags():
    cfn = client("cloudformation")
    p = dataclasses.replace(fake_plan("network"), body="Resources: {}\n", parameters={"A": "1"},
                            tags={"Project": "ia-comafi", "Environment": "prod"})

    def deployed(params, tags):
        return stacks.Deployed(STACK_ID, "UPDATE_COMPLETE", params, tags, False, {})

    with Stubber(cfn) as stub:
        stub.add_response("get_template", {"TemplateBody": p.body})
        assert stacks.unchanged(cfn, p, deployed(p.parameters, p.tags))
        # Another tag value, another parameter: changed, decided without GetTemplate.
        assert not stacks.unchanged(cfn, p, deployed(p.parameters, {**p.tags, "Environment": "dev"}))
        assert not stacks.unchanged(cfn, p, deployed({"A": "2"}, p.tags))
        stub.add_response("get_template", {"TemplateBody": "Resources: {X: 1}\n"})
        assert not stacks.unchanged(cfn, p, deployed(p.parameters, p.tags))
        stub.assert_no_pending_responses()


def test_one_aws_session_per_run():
    made = []

    def connect(region):
        made.append(region)
        aws = aws_module.Aws(region)
        aws.session.events.register("before-send.sts.GetCallerIdentity", fakes.caller_identity(ACCOUNT))
        return aws

    ctx = Context(params=load_params("prod", [f"account_id={ACCOUNT}"]), graph=templates.STACKS, selected=[],
                  plans=[], out=Printer(io.StringIO(), colour=False, summary_path=""), connect=connect)
    assert ctx.aws() is ctx.aws() and made == ["us-east-1"]
    assert ctx.identity().account == ACCOUNT  # read once, by the account check


# --- retries (LocalStack never throttles) ------------------------------------------------------------------

def test_throttling_is_retried_not_fatal(monkeypatch):
    """AWS's throttling answer, twice, then the real one: the factory's retry policy absorbs it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: before-send answers
    aws = aws_module.Aws(REGION)
    calls = fakes.Calls()
    calls.attach(aws.session)
    attempts = []

    def throttle_then_missing(request, **_):
        attempts.append(1)
        if len(attempts) <= 2:
            return fakes.cfn_error("Throttling", "Rate exceeded")
        return fakes.cfn_error("ValidationError", "Stack with id ia-comafi-network does not exist")

    aws.session.events.register("before-send.cloudformation.DescribeStacks", throttle_then_missing)
    assert stacks.describe(aws.cfn, "ia-comafi-network") is None
    assert len(attempts) == 3 and calls.count("DescribeStacks") == 1


# --- pre-flight (ECR is not in community LocalStack) --------------------------------------------------------

DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("error", "strict", "expect"),
    [
        (None, False, "resolved"),
        ("RepositoryNotFoundException", False, "deferred"),  # the data stack creates it: resolved before compute
        ("RepositoryNotFoundException", True, "deploy the data stack first"),
        ("ImageNotFoundException", False, "image ia-comafi-api:abc123 is not in ECR"),
    ],
)
def test_image_preflight(error, strict, expect):
    """settle_image: a given tag is checked in ECR before any stack is read; resolved, every plan that runs the
    image carries its digest; no repository yet defers it (unless strict); a tag not in ECR stops the run."""
    ecr, cfn = client("ecr"), client("cloudformation")
    run = flow.Run(aws=aws_module.Aws(REGION, clients={"ecr": ecr, "cloudformation": cfn}), params=load_params("prod"),
                   out=Printer(io.StringIO(), colour=False, summary_path=""), account="123456789012",
                   image_request=image.Request(tag="abc123"))
    plans = [plan.StackPlan(key="compute", name="ia-comafi-compute", depends_on=(), level=1, body="",
                            parameters={"FargateCpu": "512"}, tags={}, termination_protection=True,
                            template={"Parameters": {"FargateCpu": {}, "ImageDigest": {}}})]
    expected = {"repositoryName": "ia-comafi-api", "imageIds": [{"imageTag": "abc123"}]}
    with Stubber(ecr) as stub, Stubber(cfn) as stacks_stub:
        if error is None:
            stub.add_response("describe_images", {"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["abc123"]}]},
                              expected)  # and no stack read: the image was given
        else:
            stub.add_client_error("describe_images", error, "The image with imageId {imageTag:'abc123'} does not "
                                  "exist within the repository with name 'ia-comafi-api'", expected_params=expected)
        if expect == "resolved":
            assert flow.settle_image(run, plans, strict)[0].parameters == {"FargateCpu": "512", "ImageDigest": DIGEST}
            assert run.image.show() == "abc123 (sha256:cccccccc...)"
        elif expect == "deferred":
            assert flow.settle_image(run, plans, strict) == plans and run.image is None
        else:
            with pytest.raises(DeployError) as err:
                flow.settle_image(run, plans, strict)
            assert expect in str(err.value)
        stub.assert_no_pending_responses()
        stacks_stub.assert_no_pending_responses()


def test_the_stack_that_runs_the_image_is_read_once_for_the_image_it_keeps_and_its_first_look():
    """A no-op deploy: settle_image's DescribeStacks of compute (the image it keeps) is the one its first look
    uses (its template digest matches: no GetTemplate either); the stack is read afresh after that."""
    ecr, cfn = client("ecr"), client("cloudformation")
    run = flow.Run(aws=aws_module.Aws(REGION, clients={"ecr": ecr, "cloudformation": cfn}), params=load_params("dev"),
                   out=Printer(io.StringIO(), colour=False, summary_path=""), account="123456789012", mode=Mode.DIFF)
    compute = plan.build(run.params, [templates.BY_KEY["compute"]], templates.STACKS)[0]
    deployed = stack_desc("UPDATE_COMPLETE", {**compute.parameters, image.DIGEST_PARAMETER: DIGEST}, compute.tags,
                          name=compute.name)
    with Stubber(ecr) as ecr_stub, Stubber(cfn) as stub:
        stub.add_response("describe_stacks", deployed, {"StackName": compute.name})
        ecr_stub.add_response("describe_images", {"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["abc"]}]},
                              {"repositoryName": contract.resource_name("repository", run.params.project),
                               "imageIds": [{"imageDigest": DIGEST}]})
        [settled] = flow.settle_image(run, [compute])
        assert flow.inspect(run, settled).outcome == "unchanged"
        stub.assert_no_pending_responses()
        ecr_stub.assert_no_pending_responses()
        stub.add_response("describe_stacks", deployed, {"StackName": compute.name})
        assert run.first_look(compute.name).parameters[image.DIGEST_PARAMETER] == DIGEST
        stub.assert_no_pending_responses()


# --- termination protection (LocalStack stores the flag, but never refuses a delete) ------------------------

def test_prod_stacks_get_termination_protection_once():
    cfn = client("cloudformation")
    aws = aws_module.Aws(REGION, clients={"cloudformation": cfn})
    params = load_params("prod")
    net = [s for s in templates.STACKS if s.key == "network"]
    p = plan.build(params, net, templates.STACKS)[0]
    assert p.termination_protection
    run = flow.Run(aws=aws, params=params, out=Printer(io.StringIO(), colour=False, summary_path=""),
                     account="123456789012")
    with Stubber(cfn) as stub:
        # Unchanged (it records this template's digest) but unprotected: one UpdateTerminationProtection, no
        # change set.
        stub.add_response("describe_stacks", stack_desc("UPDATE_COMPLETE", p.parameters, p.tags, protected=False))
        stub.add_response("update_termination_protection", {"StackId": STACK_ID},
                          {"StackName": p.name, "EnableTerminationProtection": True})
        assert flow.deploy_stack(run, p).outcome == "unchanged"
        # Already protected: one call, nothing else.
        stub.add_response("describe_stacks", stack_desc("UPDATE_COMPLETE", p.parameters, p.tags, protected=True))
        assert flow.deploy_stack(run, p).outcome == "unchanged"
        stub.assert_no_pending_responses()
