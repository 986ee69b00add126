"""Change sets as CloudFormation takes and answers them, and the S3 bucket for templates too big to send
inline: the exact requests (Stubber's expected parameters) and AWS's real answers, including the ones
LocalStack does not give (a FAILED change set's reason, a template over 51,200 bytes, paged changes)."""

from __future__ import annotations

import dataclasses
import re

import boto3
import pytest
from botocore.stub import ANY, Stubber

import contract
from deployer import aws as aws_module
from deployer.engine import changesets
from deployer.engine.plan import MAX_BODY_BYTES, StackPlan
from deployer.errors import DeployError

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/ia-comafi-network/1"
CS_ARN = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/deploy-x/1"
SESSION = boto3.session.Session(region_name=REGION)
PLAN = StackPlan(key="network", name="ia-comafi-network", depends_on=(), level=0, body="Resources: {}\n",
                 parameters={"ProjectName": "ia-comafi", "NatGateways": "1"},
                 tags={"Project": "ia-comafi", "Environment": "prod"}, termination_protection=True)
BUCKET = f"ia-comafi-deploy-{ACCOUNT}-{REGION}"


@pytest.fixture(autouse=True)
def _no_waiting(stubbed_aws_env, monkeypatch):
    monkeypatch.setattr(changesets, "CHANGE_SET_WAIT_DELAY", 0)


def client(service: str, **kwargs):
    return SESSION.client(service, region_name=REGION, config=aws_module.config(), **kwargs)


def test_names_are_ours_sortable_and_unique():
    a, b = changesets.new_name(), changesets.new_name()
    assert re.fullmatch(rf"{contract.CHANGE_SET_PREFIX}\d{{8}}-\d{{6}}-[0-9a-f]{{6}}", a) and a != b


# --- create ----------------------------------------------------------------------------------------------------

def test_create_sends_the_template_values_tags_capabilities_and_role():
    cfn = client("cloudformation")
    aws = aws_module.Aws(REGION, clients={"cloudformation": cfn})
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": CS_ARN, "StackId": STACK_ID}, {
            "StackName": "ia-comafi-network", "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "Parameters": [{"ParameterKey": "ProjectName", "ParameterValue": "ia-comafi"},
                           {"ParameterKey": "NatGateways", "ParameterValue": "1"}],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            "Tags": [{"Key": "Project", "Value": "ia-comafi"}, {"Key": "Environment", "Value": "prod"}],
            "Description": "deploy.py prod network",
            "TemplateBody": PLAN.body,
            "RoleARN": "arn:aws:iam::123456789012:role/cfn-exec",
        })
        cs = changesets.create(aws, PLAN, "UPDATE", ACCOUNT, role_arn="arn:aws:iam::123456789012:role/cfn-exec")
        stub.assert_no_pending_responses()
    assert (cs.id, cs.stack_id, cs.type) == (CS_ARN, STACK_ID, "UPDATE")
    assert cs.name.startswith(contract.CHANGE_SET_PREFIX)


def test_an_import_change_set_lists_its_resources_and_no_role_means_the_caller():
    cfn = client("cloudformation")
    aws = aws_module.Aws(REGION, clients={"cloudformation": cfn})
    to_import = [{"ResourceType": "AWS::S3::Bucket", "LogicalResourceId": "Bucket",
                  "ResourceIdentifier": {"BucketName": "b"}}]
    untagged = dataclasses.replace(PLAN, tags={"Project": "ia-comafi"})
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": CS_ARN}, {
            "StackName": "ia-comafi-network", "ChangeSetName": ANY, "ChangeSetType": "IMPORT",
            "Parameters": ANY, "Capabilities": ANY, "Tags": ANY,
            "Description": "deploy.py  network", "TemplateBody": PLAN.body, "ResourcesToImport": to_import,
        })
        cs = changesets.create(aws, untagged, "IMPORT", ACCOUNT, resources_to_import=to_import)
        stub.assert_no_pending_responses()
    assert cs.stack_id == "" and cs.type == "IMPORT"


# --- big templates: S3 -----------------------------------------------------------------------------------------

def test_a_template_that_fits_goes_inline():
    fits = dataclasses.replace(PLAN, body="#" * MAX_BODY_BYTES)
    assert changesets.template_source(None, fits, ACCOUNT) == {"TemplateBody": fits.body}


def stub_new_bucket(stub, region_kwargs):
    owner = {"ExpectedBucketOwner": ACCOUNT}  # every call that takes it: a squatted name is refused
    stub.add_client_error("head_bucket", "404", "Not Found", 404, expected_params={"Bucket": BUCKET, **owner})
    stub.add_response("create_bucket", {}, {"Bucket": BUCKET, **region_kwargs})
    stub.add_response("put_public_access_block", {}, {"Bucket": BUCKET, **owner, "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
    stub.add_response("put_bucket_encryption", {}, {"Bucket": BUCKET, **owner, "ServerSideEncryptionConfiguration": {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}})
    stub.add_response("put_bucket_lifecycle_configuration", {}, {"Bucket": BUCKET, **owner, "LifecycleConfiguration": {
        "Rules": [{"ID": "expire-templates", "Status": "Enabled", "Filter": {"Prefix": "templates/"},
                   "Expiration": {"Days": 30}}]}})


def test_a_big_template_goes_to_a_private_encrypted_expiring_bucket_made_on_first_need():
    s3 = client("s3")
    aws = aws_module.Aws(REGION, clients={"s3": s3})
    big = dataclasses.replace(PLAN, body="#" * (MAX_BODY_BYTES + 1))
    key = "templates/ia-comafi-network/" + changesets.hashlib.sha256(big.body.encode()).hexdigest()[:16] + ".yaml"
    with Stubber(s3) as stub:
        stub_new_bucket(stub, {"CreateBucketConfiguration": {"LocationConstraint": REGION}})
        stub.add_response("put_object", {}, {"Bucket": BUCKET, "Key": key, "Body": big.body.encode(),
                                             "ContentType": "application/x-yaml", "ExpectedBucketOwner": ACCOUNT})
        source = changesets.template_source(aws, big, ACCOUNT)
        stub.assert_no_pending_responses()
    assert source == {"TemplateURL": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{key}"}


def test_in_us_east_1_the_bucket_is_created_without_a_location_and_an_existing_one_is_kept():
    s3 = client("s3")
    with Stubber(s3) as stub:
        stub_new_bucket(stub, {})
        changesets.ensure_bucket(s3, BUCKET, "us-east-1", ACCOUNT)
        stub.add_response("head_bucket", {}, {"Bucket": BUCKET, "ExpectedBucketOwner": ACCOUNT})
        changesets.ensure_bucket(s3, BUCKET, REGION, ACCOUNT)  # there: nothing else is sent
        stub.add_client_error("head_bucket", "403", "Forbidden", 403)
        with pytest.raises(DeployError, match="bucket squatting"):
            changesets.ensure_bucket(s3, BUCKET, REGION, ACCOUNT)  # not ours, or no access: not created over
        stub.assert_no_pending_responses()


def test_against_an_emulator_the_template_url_is_path_style():
    s3 = client("s3", endpoint_url="http://127.0.0.1:4566")
    aws = aws_module.Aws(REGION, clients={"s3": s3})
    with Stubber(s3) as stub:
        stub.add_response("head_bucket", {})
        stub.add_response("put_object", {})
        url = changesets.upload_template(aws, BUCKET, PLAN, ACCOUNT)
    assert url.startswith(f"http://127.0.0.1:4566/{BUCKET}/templates/ia-comafi-network/")


# --- wait, read, execute, delete -------------------------------------------------------------------------------

CS = changesets.ChangeSet(id=CS_ARN, name="deploy-x", stack_id=STACK_ID, type="UPDATE")


def described(status: str, reason: str = "", changes=(), token: str | None = None) -> dict:
    page = {"ChangeSetId": CS_ARN, "ChangeSetName": "deploy-x", "StackId": STACK_ID, "StackName": "ia-comafi-network",
            "Status": status, "ExecutionStatus": "AVAILABLE", "Changes": list(changes)}
    if reason:
        page["StatusReason"] = reason
    if token:
        page["NextToken"] = token
    return page


def change(action: str, logical: str, replacement: str | None = None, physical: str | None = None) -> dict:
    rc = {"Action": action, "LogicalResourceId": logical, "ResourceType": "AWS::EC2::VPC"}
    if replacement:
        rc["Replacement"] = replacement
    if physical:
        rc["PhysicalResourceId"] = physical
    return {"Type": "Resource", "ResourceChange": rc}


def test_a_change_set_with_nothing_to_do_is_none_on_aws_and_on_localstack():
    cfn = client("cloudformation")
    for reason in ("The submitted information didn't contain changes. Submit different information to create a "
                   "change set.", "No updates are to be performed."):
        with Stubber(cfn) as stub:
            stub.add_response("describe_change_set", described("FAILED", reason), {"ChangeSetName": CS_ARN})
            assert changesets.wait(cfn, CS) is None


def test_a_failed_change_set_names_itself_and_aws_s_reason():
    cfn = client("cloudformation")
    reason = "Parameters: [VpcCidr] must have values"
    with Stubber(cfn) as stub:
        stub.add_response("describe_change_set", described("CREATE_PENDING"), {"ChangeSetName": CS_ARN})
        stub.add_response("describe_change_set", described("FAILED", reason), {"ChangeSetName": CS_ARN})
        with pytest.raises(DeployError) as err:
            changesets.wait(cfn, CS)
    assert str(err.value) == f"change set deploy-x failed: {reason}"


def test_a_change_set_that_never_completes_fails_with_the_waiter_s_reason(monkeypatch):
    monkeypatch.setattr(changesets, "CHANGE_SET_WAIT_ATTEMPTS", 2)
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("describe_change_set", described("CREATE_IN_PROGRESS"))
        stub.add_response("describe_change_set", described("CREATE_IN_PROGRESS"))
        with pytest.raises(DeployError, match=r"^change set deploy-x failed: Waiter ChangeSetCreateComplete failed: "
                                              r"Max attempts exceeded"):
            changesets.wait(cfn, CS)


# The reader asks for the property values before and after (a plan shows them, its risk classes judge them).
DESCRIBE = {"ChangeSetName": CS_ARN, "IncludePropertyValues": True}


def test_changes_are_read_across_pages_with_replacement_only_for_a_modify():
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("describe_change_set", described("CREATE_COMPLETE"), {"ChangeSetName": CS_ARN})  # waiter
        stub.add_response("describe_change_set", described("CREATE_COMPLETE", changes=[
            change("Modify", "Vpc", "True", "vpc-1"), change("Add", "Subnet", "False")], token="p2"),
            DESCRIBE)
        stub.add_response("describe_change_set", described("CREATE_COMPLETE", changes=[
            change("Remove", "Old", physical="sg-1")]), DESCRIBE | {"NextToken": "p2"})
        cs = changesets.wait(cfn, CS)
        stub.assert_no_pending_responses()
    assert cs == dataclasses.replace(CS, status="CREATE_COMPLETE", changes=(
        changesets.Change("Modify", "Vpc", "AWS::EC2::VPC", "True", "vpc-1"),
        changesets.Change("Add", "Subnet", "AWS::EC2::VPC", "", ""),
        changesets.Change("Remove", "Old", "AWS::EC2::VPC", "", "sg-1")))


def test_a_new_stack_s_id_comes_from_the_change_set():
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("describe_change_set", {"Changes": [{"Type": "Resource", "ResourceChange": {}}]})
        cs = changesets.describe(cfn, dataclasses.replace(CS, stack_id="from-create"))
        assert (cs.stack_id, cs.status, cs.changes) == ("from-create", "", (changesets.Change("", "", "", ""),))
        stub.add_response("describe_change_set", described("CREATE_COMPLETE"))
        assert changesets.describe(cfn, dataclasses.replace(CS, stack_id="")).stack_id == STACK_ID


def test_execute_and_delete_name_the_change_set_by_its_arn():
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN})
        stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
        changesets.execute(cfn, CS)
        changesets.delete(cfn, CS)
        stub.assert_no_pending_responses()


def test_the_console_link_opens_this_change_set():
    assert changesets.console_url(REGION, CS) == (
        "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/changesets/changes"
        "?stackId=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012%3Astack%2Fia-comafi-network%2F1"
        "&changeSetId=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012%3AchangeSet%2Fdeploy-x%2F1")


def test_each_change_says_which_property_forces_its_replacement_across_pages():
    """stack_policy names, from each change's Details, the property that forces a replacement."""
    detail = {"Target": {"Attribute": "Properties", "Name": "BucketName", "RequiresRecreation": "Always"},
              "Evaluation": "Static", "ChangeSource": "DirectModification"}
    first = change("Modify", "Vpc")  # a Modify that names no Replacement: shown as ""
    first["ResourceChange"]["Details"] = [detail]
    second = change("Add", "Subnet")
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("describe_change_set", described("CREATE_COMPLETE", changes=[first], token="p2"),
                          DESCRIBE)
        last = described("CREATE_COMPLETE", changes=[second])
        stub.add_response("describe_change_set", last, DESCRIBE | {"NextToken": "p2"})
        cs = changesets.describe(cfn, CS)
        page_without_changes = {k: v for k, v in described("CREATE_COMPLETE").items() if k != "Changes"}
        stub.add_response("describe_change_set", page_without_changes, DESCRIBE)
        empty = changesets.describe(cfn, CS)
    assert cs.changes == (
        changesets.Change("Modify", "Vpc", "AWS::EC2::VPC", "", "", recreating=(("BucketName", "Always"),)),
        changesets.Change("Add", "Subnet", "AWS::EC2::VPC", "", ""))
    assert empty.changes == ()


SQUATTED = ("deploy-artifacts bucket {bucket} is not owned by account {account} ({answer}): another account may "
            "hold that name (bucket squatting), and whoever owns it could read or replace the templates uploaded "
            "there; refusing to upload any template. Delete or rename that bucket if it is yours in another "
            "account, or keep every template under CloudFormation's 51,200-byte inline limit")


@pytest.mark.parametrize("code", ["403", "AccessDenied", "Forbidden"])  # HEAD has no body: botocore says "403"
def test_a_bucket_another_account_owns_is_refused_whatever_the_403_is_called(code):
    s3 = client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", code, "Forbidden", 403,
                              expected_params={"Bucket": BUCKET, "ExpectedBucketOwner": ACCOUNT})
        with pytest.raises(DeployError) as err:
            changesets.ensure_bucket(s3, BUCKET, REGION, ACCOUNT)
        stub.assert_no_pending_responses()  # nothing created, nothing uploaded
    answer = ("HeadBucket with ExpectedBucketOwner answered 403 Forbidden; also the answer when these credentials "
              "lack s3:ListBucket on it")
    assert str(err.value) == SQUATTED.format(bucket=BUCKET, account=ACCOUNT, answer=answer)


def test_a_name_taken_in_another_account_is_refused_at_create():
    s3 = client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "404", "Not Found", 404)
        stub.add_client_error("create_bucket", "BucketAlreadyExists", "The requested bucket name is not available.",
                              409)
        with pytest.raises(DeployError) as err:
            changesets.ensure_bucket(s3, BUCKET, REGION, ACCOUNT)
        stub.assert_no_pending_responses()
    assert str(err.value) == SQUATTED.format(bucket=BUCKET, account=ACCOUNT,
                                             answer="CreateBucket answered BucketAlreadyExists")


@pytest.mark.parametrize("code", ["404", "NoSuchBucket", "NotFound"])  # AWS says 404; emulators name it
def test_a_missing_bucket_is_created_whatever_the_404_is_called(code):
    s3 = client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", code, "Not Found", 404)
        stub.add_response("create_bucket", {}, {"Bucket": BUCKET, "CreateBucketConfiguration": {
            "LocationConstraint": REGION}})
        for call in ("put_public_access_block", "put_bucket_encryption", "put_bucket_lifecycle_configuration"):
            stub.add_response(call, {})
        changesets.ensure_bucket(s3, BUCKET, REGION, ACCOUNT)
        stub.assert_no_pending_responses()


def test_any_other_error_on_the_bucket_is_not_taken_for_a_missing_one():
    s3 = client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "500", "Internal Error", 500)
        with pytest.raises(s3.exceptions.ClientError):
            changesets.ensure_bucket(s3, BUCKET, REGION, ACCOUNT)
        stub.add_client_error("head_bucket", "404", "Not Found", 404)
        stub.add_client_error("create_bucket", "InvalidBucketName", "The specified bucket is not valid.", 400)
        with pytest.raises(s3.exceptions.ClientError):
            changesets.ensure_bucket(s3, BUCKET, REGION, ACCOUNT)
        stub.assert_no_pending_responses()
