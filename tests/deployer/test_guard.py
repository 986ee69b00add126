"""The export-in-use guard, piece by piece: how it reads export names and their dependencies from a template,
what it counts as breaking an export, and how it pages ListExports / ListImports (Stubber, AWS's real shapes:
LocalStack neither tracks imports nor refuses a change to an export in use)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from deployer import aws as aws_module
from deployer.engine import guard
from deployer.engine.changesets import Change, ChangeSet
from deployer.errors import DeployError

REGION = "us-east-1"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/ia-comafi-network/1"
PARAMS = {"ProjectName": "ia-comafi", "Environment": "prod"}
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": "123456789012"}
SESSION = boto3.session.Session(region_name=REGION)


pytestmark = pytest.mark.usefixtures("stubbed_aws_env")


def client():
    return SESSION.client("cloudformation", region_name=REGION, config=aws_module.config())


# --- export names --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "resolved"), [
    ("literal-VpcId", "literal-VpcId"),
    ({"Ref": "ProjectName"}, "ia-comafi"),
    ({"Ref": "AWS::Region"}, "us-east-1"),
    ({"Ref": "Unknown"}, None),
    ({"Fn::Sub": "${ProjectName}-${AWS::Region}-VpcId"}, "ia-comafi-us-east-1-VpcId"),
    ({"Fn::Sub": ["${Prefix}-${Environment}", {"Prefix": {"Ref": "ProjectName"}}]}, "ia-comafi-prod"),
    ({"Fn::Sub": ["${Prefix}-VpcId", {"Prefix": {"Fn::GetAtt": ["Vpc", "Id"]}}]}, None),
    ({"Fn::Sub": "${Vpc.Id}-x"}, None),
    ({"Fn::Join": ["-", [{"Ref": "ProjectName"}, "VpcId"]]}, "ia-comafi-VpcId"),
    ({"Fn::Join": [":", [{"Ref": "ProjectName"}, {"Fn::GetAtt": ["Vpc", "Id"]}]]}, None),
    ({"Fn::ImportValue": "x"}, None),
    ({"Ref": "ProjectName", "Extra": 1}, None),
    (["not", "a", "name"], None),
    (None, None),
])
def test_export_names_resolve_from_literals_refs_sub_and_join(name, resolved):
    assert guard.resolve(name, PARAMS, PSEUDO) == resolved


def test_references_and_conditions_are_found_anywhere_in_a_value():
    value = {"Fn::If": ["HasNat", {"Fn::Join": [",", [{"Ref": "NatA"}, {"Fn::GetAtt": "NatB.Id"}]]},
                        {"Fn::Sub": ["${Vpc.CidrBlock}/${Local}-${AWS::Region}", {"Local": {"Ref": "Subnet"}}]}]}
    names, conditions = guard.references_and_conditions([value, {"Condition": "IsProd"}, {"Ref": ["not", "a"]}])
    assert names == {"NatA", "NatB", "Vpc", "Subnet", "AWS::Region"}
    assert conditions == {"HasNat", "IsProd"}
    assert guard.references({"Fn::GetAtt": ["Alb", "Arn"]}) == {"Alb"}
    assert guard.references_and_conditions({"Fn::If": []}) == (set(), set())


def test_declared_exports_map_each_export_to_what_its_value_is_built_from():
    template = {"Outputs": {
        "VpcId": {"Value": {"Ref": "Vpc"}, "Export": {"Name": {"Fn::Sub": "${ProjectName}-VpcId"}}},
        "Subnets": {"Value": {"Fn::Join": [",", [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]]},
                    "Export": {"Name": "ia-comafi-SubnetIds"}},
        "Internal": {"Value": {"Ref": "Role"}},  # not exported: not the guard's business
        "ByAttribute": {"Value": {"Ref": "Alb"}, "Export": {"Name": {"Fn::GetAtt": ["Alb", "Name"]}}},
    }}
    assert guard.declared_exports(template, PARAMS, PSEUDO) == {
        "ia-comafi-VpcId": {"Vpc"}, "ia-comafi-SubnetIds": {"SubnetA", "SubnetB"}, None: {"Alb"}}
    assert guard.declared_exports({"Outputs": None}, PARAMS, PSEUDO) == {}
    assert guard.declared_exports({}, PARAMS, PSEUDO) == {}


# --- what breaks an export -----------------------------------------------------------------------------------

def change_set(*changes: Change) -> ChangeSet:
    return ChangeSet(id="cs-arn", name="deploy-x", stack_id=STACK_ID, type="UPDATE", changes=changes)


VPC_EXPORT = {"Outputs": {"VpcId": {"Value": {"Ref": "Vpc"}, "Export": {"Name": "ia-comafi-VpcId"}}}}


def test_an_export_is_at_risk_when_removed_or_when_its_resource_is_replaced_or_removed():
    current = {"ia-comafi-VpcId", "ia-comafi-Gone"}
    assert guard.at_risk(current, VPC_EXPORT, PARAMS, PSEUDO, change_set()) == {
        "ia-comafi-Gone": "removed or renamed by this change"}
    replaced = change_set(Change("Modify", "Vpc", "AWS::EC2::VPC", "True"))
    assert guard.at_risk({"ia-comafi-VpcId"}, VPC_EXPORT, PARAMS, PSEUDO, replaced) == {
        "ia-comafi-VpcId": "its value changes: Vpc is replaced"}
    removed = change_set(Change("Remove", "Vpc", "AWS::EC2::VPC", ""))
    assert guard.at_risk({"ia-comafi-VpcId"}, VPC_EXPORT, PARAMS, PSEUDO, removed) == {
        "ia-comafi-VpcId": "its value changes: Vpc is removed"}


def test_a_change_that_keeps_the_resource_or_touches_a_new_export_is_no_risk():
    for kept in ("False", "Conditional"):
        modified = change_set(Change("Modify", "Vpc", "AWS::EC2::VPC", kept))
        assert guard.at_risk({"ia-comafi-VpcId"}, VPC_EXPORT, PARAMS, PSEUDO, modified) == {}
    # A new export (not among the stack's current ones) nobody can import yet, replaced or not.
    replaced = change_set(Change("Modify", "Vpc", "AWS::EC2::VPC", "True"))
    assert guard.at_risk(set(), VPC_EXPORT, PARAMS, PSEUDO, replaced) == {}


def test_with_an_export_name_it_cannot_resolve_nothing_counts_as_removed():
    """The unresolved name may be the current export itself: calling it "removed" would refuse a good change."""
    template = {"Outputs": {**VPC_EXPORT["Outputs"], "Alb": {
        "Value": {"Ref": "Alb"}, "Export": {"Name": {"Fn::GetAtt": ["Alb", "Name"]}}}}}
    assert guard.at_risk({"ia-comafi-VpcId", "ia-comafi-Alb"}, template, PARAMS, PSEUDO, change_set()) == {}


# --- AWS: who exports, who imports ---------------------------------------------------------------------------

def test_exports_are_paged_and_only_this_stack_s_count():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("list_exports", {"Exports": [
            {"ExportingStackId": STACK_ID, "Name": "ia-comafi-VpcId", "Value": "vpc-1"},
            {"ExportingStackId": "arn:other", "Name": "ia-comafi-AlbArn", "Value": "arn"}], "NextToken": "t2"}, {})
        stub.add_response("list_exports", {"Exports": [
            {"ExportingStackId": STACK_ID, "Name": "ia-comafi-SubnetIds", "Value": "s-1"}]}, {"NextToken": "t2"})
        assert guard.exports_of(cfn, STACK_ID) == {"ia-comafi-VpcId", "ia-comafi-SubnetIds"}
        stub.assert_no_pending_responses()


def test_importers_are_paged_and_any_other_error_is_raised():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("list_imports", {"Imports": ["ia-comafi-compute"], "NextToken": "t2"},
                          {"ExportName": "ia-comafi-VpcId"})
        stub.add_response("list_imports", {"Imports": ["ia-comafi-waf"]},
                          {"ExportName": "ia-comafi-VpcId", "NextToken": "t2"})
        assert guard.importers(cfn, "ia-comafi-VpcId") == ["ia-comafi-compute", "ia-comafi-waf"]
        stub.add_client_error("list_imports", "AccessDenied",
                              "User: arn:aws:iam::123456789012:user/x is not authorized to perform: "
                              "cloudformation:ListImports", 403)
        with pytest.raises(ClientError):
            guard.importers(cfn, "ia-comafi-VpcId")
        stub.assert_no_pending_responses()


def test_a_stack_with_no_exports_asks_nobody_who_imports():
    cfn = client()
    with Stubber(cfn) as stub:
        stub.add_response("list_exports", {"Exports": []})
        assert guard.check(cfn, "ia-comafi-network", STACK_ID, {}, PARAMS, PSEUDO, change_set()) is None
        stub.assert_no_pending_responses()


def test_the_refusal_names_every_importer_of_every_export_and_what_to_do():
    cfn = client()
    template = {"Outputs": {"VpcId": {"Value": {"Ref": "Vpc"}, "Export": {"Name": "ia-comafi-VpcId"}}}}
    with Stubber(cfn) as stub:
        stub.add_response("list_exports", {"Exports": [
            {"ExportingStackId": STACK_ID, "Name": "ia-comafi-SubnetIds", "Value": "s"},
            {"ExportingStackId": STACK_ID, "Name": "ia-comafi-VpcId", "Value": "vpc-1"}]})
        stub.add_response("list_imports", {"Imports": ["ia-comafi-compute", "ia-comafi-waf"]},
                          {"ExportName": "ia-comafi-SubnetIds"})
        stub.add_response("list_imports", {"Imports": ["ia-comafi-compute"]}, {"ExportName": "ia-comafi-VpcId"})
        with pytest.raises(DeployError) as err:
            guard.check(cfn, "ia-comafi-network", STACK_ID, template, PARAMS, PSEUDO,
                        change_set(Change("Modify", "Vpc", "AWS::EC2::VPC", "True")))
        stub.assert_no_pending_responses()
    assert str(err.value) == (
        "refusing to change ia-comafi-network: "
        "export ia-comafi-SubnetIds is imported by ia-comafi-compute, ia-comafi-waf and removed or renamed by "
        "this change; export ia-comafi-VpcId is imported by ia-comafi-compute and its value changes: Vpc is "
        "replaced. Change the importing stack(s) first so that they stop importing it, deploy them, then this one.")
