"""`destroy`: reverse graph order, the typed project name, termination protection, what was retained.

moto's CloudFormation creates and deletes the stacks and honours DeletionPolicy: Retain (the bucket stays).
It does not implement UpdateTerminationProtection: the conftest answers it as AWS does and records it.
"""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.stub import ANY, Stubber
from troposphere import Template, s3, ssm

import templates
from deployer.engine import plan, stacks
from deployer.errors import DeployError
from deployer.verbs import destroy
from testkit.placeholders import PROD
from tests.operator.conftest import PROJECT, REGION, Tty, answer_termination_protection, client, run

BUCKET = "kept-queries-bucket-test"


def marker(key: str):
    def build() -> Template:
        t = Template()
        t.add_resource(ssm.Parameter("Marker", Name=f"/test/{key}", Type="String", Value=key))
        if key == "data":
            t.add_resource(s3.Bucket("Queries", BucketName=BUCKET, DeletionPolicy="Retain",
                                     UpdateReplacePolicy="Retain"))
        return t

    return build


# The real graph's shape: network and data on level 0, compute on 1, waf on 2, an optional stack beside.
GRAPH = (
    templates.Stack("network", (), marker("network")),
    templates.Stack("data", (), marker("data")),
    templates.Stack("compute", ("network", "data"), marker("compute")),
    templates.Stack("waf", ("compute",), marker("waf")),
    templates.Stack("github-oidc", (), marker("github-oidc"), optional=True),
)


def deploy_graph(protected: bool = True) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    for stack in GRAPH:
        cfn.create_stack(StackName=f"{PROJECT}-{stack.key}", TemplateBody=templates.render(stack.build()),
                         EnableTerminationProtection=protected)


def existing() -> set[str]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    return {s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"}


def deleted_in_order(result) -> list[str]:
    return [line.split("]")[0].lstrip("[") for line in result.out.splitlines() if line.endswith("] DELETE_COMPLETE")]


def record_deletes(names: list[str]):
    def hook(params, **_):
        names.append(params["body"]["StackName"])  # returns None: the call goes on to moto

    return ("before-call.cloudformation.DeleteStack", hook)


def test_destroy_goes_in_reverse_order_keeps_what_is_retained_and_says_so(moto, capsys, monkeypatch):
    deploy_graph()
    protection: list = []
    deletes: list[str] = []
    result = run([*PROD, "destroy"], graph=GRAPH, stdin=Tty(f"{PROJECT}\n"),
                 hooks=[answer_termination_protection(protection), record_deletes(deletes)])
    assert result.code == 0, result.out + result.err
    # Reverse graph order; network and data (one level) are both deleting before either is waited for.
    assert deletes == [f"{PROJECT}-{k}" for k in ("waf", "compute", "data", "network")]
    assert deleted_in_order(result) == ["waf", "compute", "data", "network"]
    # Protection off (prod stacks have it), each before its own delete, and only for the stacks destroyed.
    assert sorted(name for name, _ in protection) == sorted(f"{PROJECT}-{k}" for k in ("waf", "compute", "data",
                                                                                         "network"))
    assert all(flag in ("false", False) for _, flag in protection)
    assert existing() == {f"{PROJECT}-github-oidc"}  # the optional CI access stack stays
    assert f"not destroyed (optional, deployed by an admin): {PROJECT}-github-oidc" in result.out
    kept = result.out.split("retained (still in the account")[1]
    assert f"data: AWS::S3::Bucket Queries: {BUCKET}" in kept
    assert BUCKET in [b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]]


def test_the_wrong_project_name_deletes_nothing(moto, capsys, monkeypatch):
    deploy_graph()
    result = run([*PROD, "destroy"], graph=GRAPH, stdin=Tty("ia-comafy\n"),
                 hooks=[answer_termination_protection()])
    assert result.code == 1
    assert "type the project name (ia-comafi)" in result.out + result.err
    assert "deploy.py: error: not confirmed: nothing deleted" in result.err
    assert "cloudformation.DeleteStack" not in result.calls
    assert "cloudformation.UpdateTerminationProtection" not in result.calls
    assert len(existing()) == 5


def test_yes_destroys_without_a_terminal(moto, capsys, monkeypatch):
    deploy_graph(protected=False)
    result = run([*PROD, "destroy", "--yes"], graph=GRAPH)
    assert result.code == 0, result.out
    assert existing() == {f"{PROJECT}-github-oidc"}
    assert "cloudformation.UpdateTerminationProtection" not in result.calls  # nothing to turn off


def test_nothing_deployed_is_nothing_to_do(moto, capsys):
    result = run([*PROD, "destroy", "--yes"], graph=GRAPH)
    assert result.code == 0
    assert "nothing to destroy" in result.out


def test_the_retained_list_comes_from_the_templates():
    # The real data stack: its secret, bucket and repository carry DeletionPolicy Retain; compute keeps its ALB
    # access logs (the record of who sent what outlives the stack); every stack keeps its log group (CI may not
    # delete one, and destroy says it kept it), and compute its task definition (CI may not deregister one);
    # nothing else is kept.
    # (destroy reads the template CloudFormation holds, GetTemplate: these are what deploy sends it.)
    found = {key: destroy.retained_resources(plan.parse_template(templates.render(templates.BY_KEY[key].build())))
             for key in ("network", "data", "compute", "waf")}
    assert {t for _, t in found["data"]} == {"AWS::SecretsManager::Secret", "AWS::S3::Bucket", "AWS::ECR::Repository"}
    assert found["compute"] == [("AlbLogsBucket", "AWS::S3::Bucket"), ("ContainerLogGroup", "AWS::Logs::LogGroup"),
                                ("TaskDefinition", "AWS::ECS::TaskDefinition")]
    assert found["network"] == [("FlowLogGroup", "AWS::Logs::LogGroup")]
    assert found["waf"] == [("WafLogGroup", "AWS::Logs::LogGroup")]


def test_a_stack_that_fails_to_delete_stops_the_rest_and_names_the_next_step():
    # Stubber: moto deletes everything it is asked to; AWS refuses e.g. a non-empty bucket without Retain.
    cfn = client("cloudformation")
    stack_id = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{PROJECT}-compute/1"
    found = [destroy.Target(GRAPH[2], f"{PROJECT}-compute", 1, stacks.Deployed(stack_id, "CREATE_COMPLETE", {}, {},
                                                                            False, {})),
             destroy.Target(GRAPH[0], f"{PROJECT}-network", 0, stacks.Deployed("n", "CREATE_COMPLETE", {}, {},
                                                                            False, {}))]
    failed = {"Stacks": [{"StackName": f"{PROJECT}-compute", "StackId": stack_id, "StackStatus": "DELETE_FAILED",
                          "StackStatusReason": "The following resource(s) failed to delete: [Bucket].",
                          "CreationTime": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)}]}
    with Stubber(cfn) as stub:
        stub.add_response("delete_stack", {}, {"StackName": f"{PROJECT}-compute"})
        stub.add_response("describe_stacks", failed, {"StackName": ANY})  # the waiter's poll: DELETE_FAILED
        stub.add_response("describe_stacks", failed, {"StackName": stack_id})  # the look that names the cause
        with pytest.raises(DeployError) as err:
            destroy.delete(cfn, found, REGION, lambda *_: None, wait_delay=0, wait_attempts=2)
        stub.assert_no_pending_responses()  # network's DeleteStack never sent
    message = str(err.value)
    assert f"{PROJECT}-compute was not deleted: DELETE_FAILED (The following resource(s) failed to delete" in message
    assert "next: " in message and f"delete-stack --stack-name {PROJECT}-compute" in message


def protected_cloudformation(name: str, stack_id: str):
    """A CloudFormation client that keeps one stack's termination protection as AWS does (moto ignores it):
    UpdateTerminationProtection sets it, DeleteStack on a protected stack gets AWS's own refusal, and a
    deleted stack is gone. Answered at before-call, like Stubber, with AWS's real error code and message."""
    from botocore.awsrequest import AWSResponse

    cfn = client("cloudformation")
    state = {"protected": True, "deleted": False, "calls": []}

    def answer(model, params, **_):
        op = model.name
        state["calls"].append(op)
        if op == "UpdateTerminationProtection":
            state["protected"] = str(params["body"]["EnableTerminationProtection"]).lower() == "true"
            return AWSResponse("https://cfn", 200, {}, None), {"StackId": stack_id}
        if op == "DeleteStack":
            if state["protected"]:
                return AWSResponse("https://cfn", 400, {}, None), {"Error": {
                    "Code": "ValidationError", "Type": "Sender",
                    "Message": f"Stack [{name}] cannot be deleted while TerminationProtection is enabled"},
                    "ResponseMetadata": {"HTTPStatusCode": 400}}
            state["deleted"] = True
            return AWSResponse("https://cfn", 200, {}, None), {}
        if op == "DescribeStacks" and state["deleted"]:
            return AWSResponse("https://cfn", 400, {}, None), {"Error": {
                "Code": "ValidationError", "Type": "Sender", "Message": f"Stack with id {stack_id} does not exist"},
                "ResponseMetadata": {"HTTPStatusCode": 400}}
        raise AssertionError(f"unexpected call {op}")

    cfn.meta.events.register("before-call.cloudformation.*", answer)
    return cfn, state


def test_termination_protection_goes_off_before_the_delete():
    name = f"{PROJECT}-waf"
    stack_id = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{name}/1"
    cfn, state = protected_cloudformation(name, stack_id)
    found = [destroy.Target(GRAPH[3], name, 2, stacks.Deployed(stack_id, "CREATE_COMPLETE", {}, {}, True, {}))]
    said = []
    destroy.delete(cfn, found, REGION, lambda key, text: said.append(text), wait_delay=0, wait_attempts=2)
    assert state["deleted"] and state["calls"][:2] == ["UpdateTerminationProtection", "DeleteStack"]
    assert said == ["termination protection off", "DELETE_IN_PROGRESS", "DELETE_COMPLETE"]


def test_a_protected_stack_is_refused_as_aws_refuses_it():
    """The fake above refuses as AWS does: so a delete that forgets protection cannot pass unnoticed."""
    name = f"{PROJECT}-waf"
    cfn, state = protected_cloudformation(name, f"arn:aws:cloudformation:{REGION}:123456789012:stack/{name}/1")
    with pytest.raises(cfn.exceptions.ClientError) as err:
        stacks.start_delete(cfn, name, protected=False)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert f"Stack [{name}] cannot be deleted while TerminationProtection is enabled" in str(err.value)
    assert not state["deleted"]


# ---- the ALB's deletion protection (ELBv2: not in LocalStack community, moto's ALB is not the stack's) ----

ALB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/{PROJECT}-alb/50dc6c495c0c9188"


def alb_attributes(protected: str) -> dict:
    return {"Attributes": [{"Key": "deletion_protection.enabled", "Value": protected},
                           {"Key": "access_logs.s3.enabled", "Value": "true"},
                           {"Key": "idle_timeout.timeout_seconds", "Value": "60"}]}


def compute_target(stack_id: str, outputs: dict) -> list:
    from contract import COMPUTE
    return [destroy.Target(GRAPH[2], f"{PROJECT}-{COMPUTE}", 1,
                           stacks.Deployed(stack_id, "CREATE_COMPLETE", {}, {}, True, outputs))]


def test_alb_deletion_protection_goes_off_before_the_compute_stack_is_deleted():
    name = f"{PROJECT}-compute"
    stack_id = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{name}/1"
    cfn, state = protected_cloudformation(name, stack_id)
    elbv2 = client("elbv2")
    said = []
    with Stubber(elbv2) as elb:
        elb.add_response("describe_load_balancer_attributes", alb_attributes("true"), {"LoadBalancerArn": ALB_ARN})
        elb.add_response("modify_load_balancer_attributes", alb_attributes("false"), {
            "LoadBalancerArn": ALB_ARN, "Attributes": [{"Key": "deletion_protection.enabled", "Value": "false"}]})
        destroy.delete(cfn, compute_target(stack_id, {"AlbArn": ALB_ARN}), REGION,
                       lambda key, text: said.append(text), wait_delay=0, wait_attempts=2, elbv2=elbv2)
        elb.assert_no_pending_responses()
    assert state["deleted"]
    assert said == ["ALB deletion protection off", "termination protection off", "DELETE_IN_PROGRESS",
                    "DELETE_COMPLETE"]


def test_an_unprotected_or_gone_alb_is_left_alone():
    elbv2 = client("elbv2")
    said = []
    with Stubber(elbv2) as elb:  # only the reads: a modify would find no stubbed answer
        elb.add_response("describe_load_balancer_attributes", alb_attributes("false"), {"LoadBalancerArn": ALB_ARN})
        elb.add_client_error("describe_load_balancer_attributes", "LoadBalancerNotFound",
                             "One or more load balancers not found", 400, expected_params={"LoadBalancerArn": ALB_ARN})
        destroy.unprotect_load_balancer(elbv2, ALB_ARN, said.append)
        destroy.unprotect_load_balancer(elbv2, ALB_ARN, said.append)
        elb.assert_no_pending_responses()
    assert said == []


def test_without_the_output_the_alb_is_found_among_the_stack_resources():
    cfn = client("cloudformation")
    [target] = compute_target("id", {})
    with Stubber(cfn) as stub:
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": "ServiceSecurityGroup", "PhysicalResourceId": "sg-0123",
             "ResourceType": "AWS::EC2::SecurityGroup", "ResourceStatus": "CREATE_COMPLETE",
             "LastUpdatedTimestamp": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)},
            {"LogicalResourceId": "LoadBalancer", "PhysicalResourceId": ALB_ARN,
             "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer", "ResourceStatus": "CREATE_COMPLETE",
             "LastUpdatedTimestamp": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)}]}, {"StackName": target.name})
        assert destroy.load_balancer_arn(cfn, target) == ALB_ARN
