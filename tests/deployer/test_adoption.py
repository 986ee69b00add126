"""Adoption of retained resources (deployer/adoption.py) when a stack is created again after `destroy`.

LocalStack (2026.3, community) does not implement IMPORT change sets: CreateChangeSet with
ChangeSetType=IMPORT answers 501 InternalFailure ("not yet been emulated") on an existing stack and
"Stack ... does not exist" on a new one. So:
- LocalStack shows the real part it can: deploy, destroy (the bucket is retained), deploy again -> the
  deployer finds the bucket and asks CloudFormation for an IMPORT with the right identifier (where
  LocalStack stops); and the existence checks against its S3 and Secrets Manager.
- botocore's Stubber replays AWS for the rest, with AWS's request and response shapes: CreateChangeSet
  (IMPORT, ResourcesToImport), DescribeChangeSet, ExecuteChangeSet, the events to IMPORT_COMPLETE, then the
  UPDATE of the full template.
- The import template is derived from the real data stack and checked as data.
"""

from __future__ import annotations

import datetime
import io
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from troposphere import Output, Sub, Template
from troposphere.s3 import Bucket
from troposphere.ssm import Parameter as SsmParameter

import contract
import templates
from deployer import aws as aws_module
from deployer.engine import adoption, flow, plan, stack_policy, stacks
from deployer.engine.outcome import Mode
from deployer.errors import DeployError
from deployer.output import Printer
from templates import params
from templates.params import load_params
from testkit import fakes, harness

REGION = "us-east-1"
ACCOUNT = "123456789012"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
RETAINED = ["ApiRepository", "AppSecret", "UnhandledQueriesBucket"]


def data_plan(env: str = "prod") -> plan.StackPlan:
    return plan.build(load_params(env), [s for s in templates.STACKS if s.key == "data"], templates.STACKS)[0]


# --- the import template, from the real data stack -----------------------------------------------------------

def test_the_data_stack_adopts_exactly_its_three_retained_resources_by_their_resolved_names():
    p = data_plan()
    found = {c.logical_id: (c.resource_type, c.name) for c in adoption.candidates(p.template, p.parameters, PSEUDO)}
    assert found == {
        "AppSecret": ("AWS::SecretsManager::Secret", contract.resource_name("secret", "ia-comafi")),
        "UnhandledQueriesBucket": ("AWS::S3::Bucket",
                                   contract.resource_name("unhandled_bucket", "ia-comafi", ACCOUNT, REGION)),
        "ApiRepository": ("AWS::ECR::Repository", contract.resource_name("repository", "ia-comafi")),
    }


def test_import_template_holds_only_the_imported_resources_verbatim_and_what_they_use():
    p = data_plan()
    t = adoption.import_template(p.template, RETAINED)
    assert sorted(t["Resources"]) == RETAINED  # not the bucket policy: an import creates nothing
    for logical_id in RETAINED:  # verbatim: the UPDATE that follows sees no change to them
        assert t["Resources"][logical_id] == p.template["Resources"][logical_id]
        assert t["Resources"][logical_id]["DeletionPolicy"] == "Retain"
    # the secret's GenerateSecretString is carried over as is: a changed one would regenerate the value on AWS
    assert t["Resources"]["AppSecret"]["Properties"]["GenerateSecretString"] == \
        p.template["Resources"]["AppSecret"]["Properties"]["GenerateSecretString"]
    assert sorted(t["Parameters"]) == ["ProjectName", "UnhandledExpiryDays"]  # the names; the bucket's expiry
    assert t["Parameters"]["ProjectName"] == p.template["Parameters"]["ProjectName"]
    assert "Outputs" not in t and "Conditions" not in t
    assert json.loads(adoption.render(t)) == t
    assert adoption.render(t) == adoption.render(adoption.import_template(p.template, list(reversed(RETAINED))))


def test_import_template_of_the_secret_alone_keeps_only_the_parameter_it_uses():
    t = adoption.import_template(data_plan().template, ["AppSecret"])
    assert list(t["Resources"]) == ["AppSecret"] and list(t["Parameters"]) == ["ProjectName"]


def test_import_template_keeps_conditions_filters_depends_on_and_refuses_a_reference_it_cannot_import():
    template = {
        "Parameters": {"Env": {"Type": "String"}, "Unused": {"Type": "String"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                       "Keep": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "IsProd"}]}},
        "Resources": {
            "Kept": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Condition": "Keep",
                     "DependsOn": ["Other"], "Properties": {"BucketName": "b"}},
            "Other": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "x"}},
            "Needy": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
                      "Properties": {"BucketName": {"Fn::GetAtt": ["Other", "Value"]}}},
        },
        "Outputs": {"B": {"Value": {"Ref": "Kept"}}},
    }
    t = adoption.import_template(template, ["Kept"])
    assert t["Resources"] == {"Kept": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Condition": "Keep",
                                       "Properties": {"BucketName": "b"}}}
    assert sorted(t["Conditions"]) == ["IsProd", "Keep"] and list(t["Parameters"]) == ["Env"]
    assert "Outputs" not in t
    with pytest.raises(DeployError, match="refers to Other"):
        adoption.import_template(template, ["Needy"])
    # a name computed from another resource is not a fixed name: nothing to adopt
    assert [c.logical_id for c in adoption.candidates(template, {"Env": "prod"}, PSEUDO)] == ["Kept"]


# --- existence checks (Stubber: AWS's answers) -------------------------------------------------------------

def client(service: str):
    return boto3.session.Session(region_name=REGION).client(service, region_name=REGION, config=aws_module.config())


@pytest.fixture
def aws(stubbed_aws_env, monkeypatch):
    monkeypatch.setattr(stacks, "WAIT_DELAY", 0)
    clients = {s: client(s) for s in ("cloudformation", "s3", "ecr", "secretsmanager", "logs")}
    return aws_module.Aws(REGION, clients=clients)


BUCKET = contract.resource_name("unhandled_bucket", "ia-comafi", ACCOUNT, REGION)
REPOSITORY = contract.resource_name("repository", "ia-comafi")
SECRET = contract.resource_name("secret", "ia-comafi")
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET}-AbCdEf"


def stub_checks(stubs: dict, bucket=True, repository=True, secret: dict | None = None, secret_exists=True) -> None:
    if bucket:
        stubs["s3"].add_response("head_bucket", {"BucketRegion": REGION}, {"Bucket": BUCKET})
    else:
        stubs["s3"].add_client_error("head_bucket", "404", "Not Found", 404, expected_params={"Bucket": BUCKET})
    if repository:
        stubs["ecr"].add_response("describe_repositories", {"repositories": [{
            "repositoryName": REPOSITORY, "registryId": ACCOUNT,
            "repositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPOSITORY}"}]},
            {"repositoryNames": [REPOSITORY]})
    else:
        stubs["ecr"].add_client_error(
            "describe_repositories", "RepositoryNotFoundException",
            f"The repository with name '{REPOSITORY}' does not exist in the registry with id '{ACCOUNT}'",
            expected_params={"repositoryNames": [REPOSITORY]})
    if secret_exists:
        stubs["secretsmanager"].add_response("describe_secret", secret or {"ARN": SECRET_ARN, "Name": SECRET},
                                             {"SecretId": SECRET})
    else:
        stubs["secretsmanager"].add_client_error("describe_secret", "ResourceNotFoundException",
                                                 "Secrets Manager can't find the specified secret.",
                                                 expected_params={"SecretId": SECRET})


def stubs_for(aws) -> fakes.Stubbers:
    services = ("cloudformation", "s3", "ecr", "secretsmanager", "logs")
    return fakes.Stubbers({name: Stubber(aws.client(name)) for name in services})


def test_what_exists_is_adopted_by_its_import_identifier(aws):
    p = data_plan()
    with stubs_for(aws) as stubs:
        stub_checks(stubs, bucket=True, repository=False)
        found = adoption.existing(aws, p.template, p.parameters, PSEUDO, pytest.fail)
    assert [a.to_import() for a in found] == [
        {"ResourceType": "AWS::SecretsManager::Secret", "LogicalResourceId": "AppSecret",
         "ResourceIdentifier": {"Id": SECRET_ARN}},  # the secret's primary identifier: its ARN
        {"ResourceType": "AWS::S3::Bucket", "LogicalResourceId": "UnhandledQueriesBucket",
         "ResourceIdentifier": {"BucketName": BUCKET}},
    ]


def test_a_secret_scheduled_for_deletion_stops_with_the_restore_command(aws):
    p = data_plan()
    with stubs_for(aws) as stubs, pytest.raises(DeployError) as err:
        stub_checks(stubs, secret={"ARN": SECRET_ARN, "Name": SECRET, "DeletedDate": NOW})
        adoption.existing(aws, p.template, p.parameters, PSEUDO, pytest.fail)
    assert f"aws secretsmanager restore-secret --secret-id {SECRET} --region {REGION}" in str(err.value)


def test_a_check_that_is_denied_warns_and_goes_on_as_a_create(aws):
    p = data_plan()
    warned = []
    with stubs_for(aws) as stubs:
        stubs["s3"].add_client_error("head_bucket", "403", "Forbidden", 403)
        stubs["ecr"].add_client_error("describe_repositories", "RepositoryNotFoundException", "no such repository")
        stubs["secretsmanager"].add_client_error(
            "describe_secret", "AccessDeniedException",
            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ci/x is not authorized to perform: "
            "secretsmanager:DescribeSecret on resource: " + SECRET)
        assert adoption.existing(aws, p.template, p.parameters, PSEUDO, warned.append) == []
    assert len(warned) == 2
    assert any(SECRET in w and "secretsmanager:DescribeSecret" in w for w in warned)
    assert any(BUCKET in w and "s3:ListBucket" in w for w in warned)


# --- the whole flow through the engine (Stubber: CloudFormation as AWS answers) ------------------------------

STACK = "ia-comafi-data"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/11111111-2222-3333-4444-555555555555"
IMPORT_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-import/1"
UPDATE_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-update/2"


def missing(stub: Stubber, name: str) -> None:
    stub.add_client_error("describe_stacks", "ValidationError", f"Stack with id {name} does not exist",
                          expected_params={"StackName": name})


def stack(status: str, parameters: dict, tags: dict, protected=False) -> dict:
    return {"Stacks": [{"StackId": STACK_ID, "StackName": STACK, "StackStatus": status, "CreationTime": NOW,
                        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                        "EnableTerminationProtection": protected}]}


def event(n: int, logical: str, rtype: str, status: str) -> dict:
    return {"StackId": STACK_ID, "EventId": f"e{n}", "StackName": STACK, "LogicalResourceId": logical,
            "ResourceType": rtype, "ResourceStatus": status, "Timestamp": NOW}


def change(action: str, logical: str, rtype: str, physical: str = "") -> dict:
    rc = {"Action": action, "LogicalResourceId": logical, "ResourceType": rtype}
    if physical:
        rc["PhysicalResourceId"] = physical
    return {"Type": "Resource", "ResourceChange": rc}


def create_change_set_params(p: plan.StackPlan, change_type: str, body: str, parameters: dict, imports=None):
    expected = {"StackName": p.name, "ChangeSetName": ANY, "ChangeSetType": change_type,
                "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                "Capabilities": ANY, "Tags": [{"Key": k, "Value": v} for k, v in p.tags.items()],
                "Description": ANY, "TemplateBody": body}
    if imports:
        expected["ResourcesToImport"] = imports
    return expected


IMPORTS = [
    {"ResourceType": "AWS::ECR::Repository", "LogicalResourceId": "ApiRepository",
     "ResourceIdentifier": {"RepositoryName": REPOSITORY}},
    {"ResourceType": "AWS::SecretsManager::Secret", "LogicalResourceId": "AppSecret",
     "ResourceIdentifier": {"Id": SECRET_ARN}},
    {"ResourceType": "AWS::S3::Bucket", "LogicalResourceId": "UnhandledQueriesBucket",
     "ResourceIdentifier": {"BucketName": BUCKET}},
]


def stub_import_change_set(cfn: Stubber, p: plan.StackPlan, body: str) -> None:
    missing(cfn, "ia-comafi-github-oidc")  # the execution role's stack: not deployed, the caller acts
    cfn.add_response("create_change_set", {"Id": IMPORT_CS, "StackId": STACK_ID},
                     create_change_set_params(p, "IMPORT", body, {"ProjectName": "ia-comafi",
                                                                  "UnhandledExpiryDays": "90"}, IMPORTS))
    cfn.add_response("describe_change_set", {"ChangeSetId": IMPORT_CS, "StackId": STACK_ID, "Status": "CREATE_COMPLETE",
                                             "ExecutionStatus": "AVAILABLE"}, {"ChangeSetName": IMPORT_CS})
    cfn.add_response("describe_change_set", {
        "ChangeSetId": IMPORT_CS, "ChangeSetName": "deploy-import", "StackId": STACK_ID, "StackName": STACK,
        "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE",
        "Changes": [change("Import", "ApiRepository", "AWS::ECR::Repository", REPOSITORY),
                    change("Import", "AppSecret", "AWS::SecretsManager::Secret", SECRET_ARN),
                    change("Import", "UnhandledQueriesBucket", "AWS::S3::Bucket", BUCKET)]},
        {"ChangeSetName": IMPORT_CS, "IncludePropertyValues": True})
    cfn.add_response("describe_events", {"OperationEvents": []}, {"ChangeSetName": IMPORT_CS})


def run_for(aws, mode=Mode.EXECUTE) -> tuple[flow.Run, io.StringIO]:
    buf = io.StringIO()
    return flow.Run(aws=aws, params=load_params("prod"), out=Printer(buf, colour=False, summary_path=""),
                      account=ACCOUNT, mode=mode, poll_delay=0), buf


def test_deploy_after_destroy_imports_the_retained_resources_then_updates_with_the_full_template(aws):
    p = data_plan()
    import_body = adoption.render(adoption.import_template(p.template, RETAINED))
    run, buf = run_for(aws)
    with stubs_for(aws) as stubs:
        cfn = stubs["cloudformation"]
        missing(cfn, STACK)  # prepare: the stack is gone (destroyed)
        stub_checks(stubs)
        stub_import_change_set(cfn, p, import_body)
        cfn.add_response("describe_stack_events", {"StackEvents": [event(1, STACK, "AWS::CloudFormation::Stack",
                                                                          "REVIEW_IN_PROGRESS")]})
        cfn.add_response("execute_change_set", {}, {"ChangeSetName": IMPORT_CS})
        imported = [event(5, STACK, "AWS::CloudFormation::Stack", "IMPORT_COMPLETE"),
                    event(4, "AppSecret", "AWS::SecretsManager::Secret", "IMPORT_COMPLETE"),
                    event(3, "UnhandledQueriesBucket", "AWS::S3::Bucket", "IMPORT_COMPLETE"),
                    event(2, STACK, "AWS::CloudFormation::Stack", "IMPORT_IN_PROGRESS")]
        cfn.add_response("describe_stack_events", {"StackEvents": imported + [event(1, STACK, "x", "x")]})
        cfn.add_response("describe_stacks", stack("IMPORT_COMPLETE", {}, p.tags))
        cfn.add_response("describe_stack_events", {"StackEvents": imported})
        # then the UPDATE with the full template, on the stack the import made
        cfn.add_response("describe_stacks", stack("IMPORT_COMPLETE", {"ProjectName": "ia-comafi",
                                                                      "UnhandledExpiryDays": "90"}, p.tags))
        cfn.add_response("create_change_set", {"Id": UPDATE_CS, "StackId": STACK_ID},
                         create_change_set_params(p, "UPDATE", p.body, p.parameters))
        cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"}, {"ChangeSetName": UPDATE_CS})
        cfn.add_response("describe_change_set", {
            "ChangeSetId": UPDATE_CS, "StackId": STACK_ID, "Status": "CREATE_COMPLETE",
            "Changes": [change("Add", "UnhandledQueriesBucketPolicy", "AWS::S3::BucketPolicy")]},
            {"ChangeSetName": UPDATE_CS, "IncludePropertyValues": True})
        cfn.add_response("describe_events", {"OperationEvents": []}, {"ChangeSetName": UPDATE_CS})
        cfn.add_response("list_exports", {"Exports": []})  # the guard: the import added no exports
        cfn.add_response("describe_stack_events", {"StackEvents": imported})
        cfn.add_response("execute_change_set", {}, {"ChangeSetName": UPDATE_CS})
        updated = [event(7, STACK, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE"),
                   event(6, "UnhandledQueriesBucketPolicy", "AWS::S3::BucketPolicy", "CREATE_COMPLETE")]
        cfn.add_response("describe_stack_events", {"StackEvents": updated + imported})
        cfn.add_response("describe_stacks", stack("UPDATE_COMPLETE", p.parameters, p.tags))
        cfn.add_response("describe_stack_events", {"StackEvents": updated})
        cfn.add_response("update_termination_protection", {"StackId": STACK_ID},
                         {"StackName": STACK, "EnableTerminationProtection": True})
        # the adopted stateful resources are protected by the stack policy from then on
        cfn.add_response("get_stack_policy", {}, {"StackName": STACK})
        cfn.add_response("set_stack_policy", {}, {
            "StackName": STACK, "StackPolicyBody": stack_policy.body(stack_policy.policy(p.key))})
        result = flow.deploy_stack(run, p)
        for s in stubs.values():
            s.assert_no_pending_responses()
    out = buf.getvalue()
    assert result.outcome == "adopted, updated", out
    assert f"adopting retained AWS::S3::Bucket {BUCKET} (UnhandledQueriesBucket)" in out
    assert f"adopting retained AWS::SecretsManager::Secret {SECRET} (AppSecret)" in out
    assert "(IMPORT): 3 resource change(s)" in out and "IMPORT_COMPLETE" in out
    assert f"adopted AWS::ECR::Repository {REPOSITORY} (ApiRepository)" in out
    assert "(UPDATE): 1 resource change(s)" in out and "UPDATE_COMPLETE" in out
    assert out.index("IMPORT_COMPLETE") < out.index("(UPDATE)")


def test_nothing_retained_exists_a_plain_create(aws):
    p = data_plan()
    run, buf = run_for(aws, Mode.DIFF)
    with stubs_for(aws) as stubs:
        cfn = stubs["cloudformation"]
        missing(cfn, STACK)
        stub_checks(stubs, bucket=False, repository=False, secret_exists=False)
        missing(cfn, "ia-comafi-github-oidc")
        cfn.add_response("create_change_set", {"Id": UPDATE_CS, "StackId": STACK_ID},
                         create_change_set_params(p, "CREATE", p.body, p.parameters))
        cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"})
        cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
            change("Add", lid, "x") for lid in sorted(p.template["Resources"])]})
        cfn.add_response("describe_events", {"OperationEvents": []})
        cfn.add_response("delete_stack", {}, {"StackName": STACK_ID})  # a diff leaves nothing behind
        result = flow.deploy_stack(run, p)
        cfn.assert_no_pending_responses()
    assert result.outcome == "changes" and "adopt" not in buf.getvalue()


def test_diff_shows_the_adoption_and_executes_nothing(aws):
    p = data_plan()
    import_body = adoption.render(adoption.import_template(p.template, RETAINED))
    run, buf = run_for(aws, Mode.DIFF)
    with stubs_for(aws) as stubs:
        cfn = stubs["cloudformation"]
        missing(cfn, STACK)
        stub_checks(stubs)
        stub_import_change_set(cfn, p, import_body)
        cfn.add_response("delete_stack", {}, {"StackName": STACK_ID})  # the REVIEW_IN_PROGRESS stack it made
        result = flow.deploy_stack(run, p)
        cfn.assert_no_pending_responses()  # and no ExecuteChangeSet: the Stubber would have refused it
    out = buf.getvalue()
    assert result.outcome == "changes"
    assert f"would adopt retained AWS::S3::Bucket {BUCKET}" in out and "(IMPORT): 3 resource change(s)" in out
    assert "then an UPDATE with the full template (UnhandledQueriesBucketPolicy to add)" in out


def test_no_execute_leaves_the_import_change_set_for_review(aws):
    p = data_plan()
    import_body = adoption.render(adoption.import_template(p.template, RETAINED))
    run, buf = run_for(aws, Mode.REVIEW)
    with stubs_for(aws) as stubs:
        cfn = stubs["cloudformation"]
        missing(cfn, STACK)
        stub_checks(stubs)
        stub_import_change_set(cfn, p, import_body)
        result = flow.deploy_stack(run, p)
        cfn.assert_no_pending_responses()
    out = buf.getvalue()
    assert result.outcome == "pending review" and result.change_set.type == "IMPORT"
    assert "(IMPORT) left for review" in out and "once it is executed, deploy again" in out


def test_a_stack_pending_review_is_left_alone_by_diff_and_replaced_by_no_execute(aws):
    """REVIEW_IN_PROGRESS (an earlier --no-execute): empty, so a diff just says what it would adopt, and a
    run that makes change sets deletes it first and imports into a fresh stack."""
    p = data_plan()
    import_body = adoption.render(adoption.import_template(p.template, RETAINED))
    run, buf = run_for(aws, Mode.DIFF)
    with stubs_for(aws) as stubs:
        cfn = stubs["cloudformation"]
        cfn.add_response("describe_stacks", stack("REVIEW_IN_PROGRESS", {}, {}))
        stub_checks(stubs)
        assert flow.deploy_stack(run, p).outcome == "changes"
        cfn.assert_no_pending_responses()  # no change set made, nothing deleted
    assert "has change sets pending review: no IMPORT change set made" in buf.getvalue()

    run, buf = run_for(aws, Mode.REVIEW)
    with stubs_for(aws) as stubs:
        cfn = stubs["cloudformation"]
        cfn.add_response("describe_stacks", stack("REVIEW_IN_PROGRESS", {}, {}))
        stub_checks(stubs)
        cfn.add_response("delete_stack", {}, {"StackName": STACK_ID})
        missing(cfn, STACK_ID)  # the waiter: gone
        stub_import_change_set(cfn, p, import_body)
        assert flow.deploy_stack(run, p).outcome == "pending review"
        cfn.assert_no_pending_responses()
    assert "deleting the empty stack" in buf.getvalue()


def test_an_empty_stack_left_by_a_failed_import_is_deleted_and_adopted_again(aws):
    with stubs_for(aws) as stubs:
        cfn = stubs["cloudformation"]
        cfn.add_response("describe_stacks", stack("IMPORT_ROLLBACK_COMPLETE", {}, {}))
        cfn.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": STACK})
        cfn.add_response("delete_stack", {}, {"StackName": STACK})
        missing(cfn, STACK)  # the waiter: gone
        said = []
        assert stacks.prepare(aws.cfn, STACK, REGION, said.append) == ("CREATE", None)
        cfn.assert_no_pending_responses()
    assert "adopt again" in said[0]


# --- LocalStack: destroy keeps the bucket, the next deploy goes for an IMPORT of it ---------------------------

def kept_bucket_stack() -> templates.Stack:
    def build() -> Template:
        t = Template(Description="deployer test: a retained bucket")
        params.add_parameters(t, "data")
        bucket = Bucket("Kept", BucketName=Sub("${ProjectName}-kept-${AWS::AccountId}-${AWS::Region}"))
        bucket.DeletionPolicy = "Retain"
        bucket.UpdateReplacePolicy = "Retain"
        t.add_resource(bucket)
        t.add_resource(SsmParameter("Value", Type="String", Value="v"))
        t.add_output(Output("KeptName", Value=Sub("${Kept}")))
        return t

    return templates.Stack("data", (), build)


@pytest.mark.usefixtures("localstack")
def test_localstack_destroy_keeps_the_bucket_and_the_next_deploy_asks_for_its_import(project):
    graph = [kept_bucket_stack()]
    argv = ["-p", f"project_name={project}"]
    bucket = f"{project}-kept-000000000000-us-east-1"
    seen = {}

    def capture(params, **_):
        seen[params["ChangeSetType"]] = params

    hooks = [("provide-client-params.cloudformation.CreateChangeSet", capture)]
    assert harness.run_emulated(["dev", "--yes", *argv], graph=graph).code == 0
    gone = harness.run_emulated(["dev", "destroy", "--yes", *argv], graph=graph)
    assert gone.code == 0 and "the next deploy adopts them again" in gone.out and bucket in gone.out, gone.out
    boto3.client("s3", region_name=REGION).head_bucket(Bucket=bucket)  # retained

    again = harness.run_emulated(["dev", "--yes", *argv], graph=graph, extra_hooks=hooks)
    assert f"adopting retained AWS::S3::Bucket {bucket} (Kept)" in again.out, again.out
    sent = seen["IMPORT"]
    assert sent["ResourcesToImport"] == [{"ResourceType": "AWS::S3::Bucket", "LogicalResourceId": "Kept",
                                          "ResourceIdentifier": {"BucketName": bucket}}]
    body = json.loads(sent["TemplateBody"])
    assert list(body["Resources"]) == ["Kept"] and "Outputs" not in body
    assert sent["Parameters"] == [{"ParameterKey": "ProjectName", "ParameterValue": project}]
    # Where LocalStack stops: it does not implement IMPORT (if this starts passing, assert the whole adoption:
    # IMPORT_COMPLETE, then UPDATE_COMPLETE, and the bucket in the stack's resources).
    assert again.code == 1
    assert "AWS error" in again.out and ("not yet been emulated" in again.out or "does not exist" in again.out)


@pytest.mark.usefixtures("localstack")
def test_localstack_existence_checks_find_a_real_bucket_and_secret(project):
    s3 = boto3.client("s3", region_name=REGION)
    sm = boto3.client("secretsmanager", region_name=REGION)
    bucket = contract.resource_name("unhandled_bucket", project, "000000000000", REGION)
    s3.create_bucket(Bucket=bucket)
    arn = sm.create_secret(Name=contract.resource_name("secret", project), SecretString="{}")["ARN"]
    a = aws_module.Aws(REGION)
    a.session.events.register("before-send.ecr.DescribeRepositories", fakes.ecr_repository(exists=False))
    p = plan.build(load_params("dev", [f"project_name={project}"]), [s for s in templates.STACKS if s.key == "data"],
                   templates.STACKS)[0]
    found = adoption.existing(a, p.template, p.parameters, {**PSEUDO, "AWS::AccountId": "000000000000"},
                              pytest.fail)
    assert [(x.logical_id, x.identifier) for x in found] == [("AppSecret", {"Id": arn}),
                                                            ("UnhandledQueriesBucket", {"BucketName": bucket})]


# --- a retained resource that this deploy's parameters do not create ------------------------------------------

def compute_plan(alb_access_logs: str) -> plan.StackPlan:
    params_ = load_params("prod", [f"alb_access_logs={alb_access_logs}"])
    return plan.build(params_, [s for s in templates.STACKS if s.key == "compute"], templates.STACKS)[0]


ALB_LOGS_BUCKET = contract.resource_name("alb_logs_bucket", "ia-comafi", ACCOUNT, REGION)


def test_the_alb_log_bucket_is_adopted_only_when_its_condition_holds():
    on = compute_plan("true")
    def buckets(p):
        return [(c.logical_id, c.name) for c in adoption.candidates(p.template, p.parameters, PSEUDO)
                if c.resource_type == "AWS::S3::Bucket"]
    assert buckets(on) == [("AlbLogsBucket", ALB_LOGS_BUCKET)]
    assert buckets(compute_plan("false")) == []  # IMPORT of it would fail


def test_with_alb_access_logs_off_the_retained_log_bucket_is_not_even_looked_up(aws):
    """Stubber: no HeadBucket is stubbed for the off case, so a lookup would fail the test (and an IMPORT of a
    resource whose Condition is false is refused by CloudFormation)."""
    off = compute_plan("false")
    group = contract.resource_name("container_log_group", "ia-comafi")
    with stubs_for(aws) as stubs:
        stubs["logs"].add_response("describe_log_groups", {"logGroups": []}, {"logGroupNamePrefix": group})
        assert adoption.existing(aws, off.template, off.parameters, PSEUDO, pytest.fail) == []
        stubs["s3"].assert_no_pending_responses()
    on = compute_plan("true")
    with stubs_for(aws) as stubs:
        stubs["s3"].add_response("head_bucket", {"BucketRegion": REGION}, {"Bucket": ALB_LOGS_BUCKET})
        stubs["logs"].add_response("describe_log_groups", {"logGroups": []}, {"logGroupNamePrefix": group})
        found = adoption.existing(aws, on.template, on.parameters, PSEUDO, pytest.fail)
    assert [a.to_import() for a in found] == [{"ResourceType": "AWS::S3::Bucket", "LogicalResourceId": "AlbLogsBucket",
                                               "ResourceIdentifier": {"BucketName": ALB_LOGS_BUCKET}}]
    body = adoption.import_template(on.template, ["AlbLogsBucket"])
    assert body["Resources"]["AlbLogsBucket"]["Condition"] == "AlbAccessLogsOn"
    assert "AlbAccessLogsOn" in body["Conditions"] and "AlbAccessLogs" in body["Parameters"]


def test_conditions_are_evaluated_as_cloudformation_does():
    t = {"Parameters": {"A": {"Default": "x"}},
         "Conditions": {"IsX": {"Fn::Equals": [{"Ref": "A"}, "x"]}, "NotX": {"Fn::Not": [{"Condition": "IsX"}]},
                        "Both": {"Fn::And": [{"Condition": "IsX"}, {"Fn::Equals": [{"Ref": "AWS::Region"}, REGION]}]},
                        "Either": {"Fn::Or": [{"Condition": "NotX"}, {"Fn::Equals": ["a", "b"]}]},
                        "Unknown": {"Fn::Equals": [{"Fn::FindInMap": ["M", "k", "v"]}, "x"]}}}
    values = {"A": "x"}
    assert adoption.condition(t, "IsX", values, PSEUDO) is True
    assert adoption.condition(t, "NotX", values, PSEUDO) is False
    assert adoption.condition(t, "Both", values, PSEUDO) is True
    assert adoption.condition(t, "Either", values, PSEUDO) is False
    assert adoption.condition(t, "IsX", {"A": "y"}, PSEUDO) is False
    assert adoption.condition(t, "Unknown", values, PSEUDO) is None


# --- log groups: retained by every stack, adopted like the data stack's resources ---------------------------

def stack_plan(key: str, env: str = "prod") -> plan.StackPlan:
    return plan.build(load_params(env), [s for s in templates.STACKS if s.key == key], templates.STACKS)[0]


@pytest.mark.parametrize(("key", "logical_id", "kind"), [
    (contract.COMPUTE, "ContainerLogGroup", "container_log_group"),
    (contract.NETWORK, "FlowLogGroup", "flow_log_group"),
    (contract.WAF, "WafLogGroup", "waf_log_group"),
])
def test_every_log_group_is_a_candidate_by_its_fixed_name(key, logical_id, kind):
    p = stack_plan(key)
    found = {c.logical_id: (c.resource_type, c.name) for c in adoption.candidates(p.template, p.parameters, PSEUDO)}
    assert found[logical_id] == ("AWS::Logs::LogGroup", contract.resource_name(kind, "ia-comafi"))


def test_a_retained_log_group_is_adopted_by_its_name_and_a_prefix_match_is_not_it(stubbed_aws_env):
    logs = client("logs")
    aws = aws_module.Aws(REGION, clients={"logs": logs})
    group = contract.resource_name("container_log_group", "ia-comafi")
    with Stubber(logs) as stub:
        # DescribeLogGroups matches by prefix: "/ecs/ia-comafi/api" also lists "/ecs/ia-comafi/api-old".
        stub.add_response("describe_log_groups", {"logGroups": [{"logGroupName": group + "-old"}]},
                          {"logGroupNamePrefix": group})
        assert adoption.KINDS["AWS::Logs::LogGroup"].find(aws, group) is None
        stub.add_response("describe_log_groups", {"logGroups": [{"logGroupName": group}]},
                          {"logGroupNamePrefix": group})
        assert adoption.KINDS["AWS::Logs::LogGroup"].find(aws, group) == group
        stub.add_client_error("describe_log_groups", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(adoption._Unknown):
            adoption.KINDS["AWS::Logs::LogGroup"].find(aws, group)
