"""The release safety net of the deployer against LocalStack (see conftest.py), on small stacks keyed like the real
ones: the rollback configuration on the wire, the kept image, the stack policy and --allow-replace.

LocalStack accepts RollbackConfiguration without recording it, so the request body is asserted (before-send);
it has no SetStackPolicy/GetStackPolicy, which the harness answers at the HTTP boundary (testkit/fakes.py).
"""

from __future__ import annotations

import boto3
import pytest
from troposphere import GetAtt, Output, Ref, Sub, Template, cloudwatch
from troposphere.s3 import Bucket
from troposphere.ssm import Parameter as SsmParameter

import contract
import templates
from deployer.engine import stack_policy
from templates import compute, params
from testkit import fakes, harness
from tests.deployer.test_localstack import lines_with, status

pytestmark = pytest.mark.usefixtures("localstack")


def compute_stack(project: str, *, alarm: bool, value: str = "one") -> templates.Stack:
    """A "compute" stack (it declares compute's parameters and the image's digest) of one SSM parameter that names
    the image as the task definition does, and, with ``alarm``, the alarm its rollback-trigger output names."""

    def build() -> Template:
        t = Template(Description="deployer test: compute")
        params.add_parameters(t, contract.COMPUTE)
        digest = compute.add_image_digest_parameter(t)
        t.add_resource(SsmParameter("Value", Type="String", Value=Sub(f"{value}@${{Digest}}", Digest=Ref(digest))))
        if alarm:
            release = t.add_resource(cloudwatch.Alarm(
                "ReleaseHealth", AlarmName=f"{project}-release-health", Namespace="AWS/ECS",
                MetricName="CPUUtilization", Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=90,
                ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching"))
            t.add_output(Output(contract.RELEASE_HEALTH_ALARM_ARN, Value=GetAtt(release, "Arn")))
        return t

    return templates.Stack(contract.COMPUTE, (), build)


def argv(project: str, *more: str) -> list[str]:
    return ["dev", "--yes", "-p", f"project_name={project}", *more]


def test_the_update_that_first_creates_the_alarms_sends_an_explicit_empty_list_then_the_alarm(project):
    name = contract.stack_name(project, contract.COMPUTE)
    sent = fakes.SentChangeSets()
    assert harness.run_emulated(argv(project), graph=[compute_stack(project, alarm=False)]).code == 0
    first = harness.run_emulated(argv(project), graph=[compute_stack(project, alarm=True)], extra_hooks=sent.hooks)
    assert first.code == 0, first.out
    # Leaving RollbackConfiguration out would reuse the stack's saved triggers, and naming the alarm this very
    # update creates would fail it: an empty list goes on the wire.
    assert fakes.triggers(sent[name][0]) == []
    [arn] = [o["OutputValue"] for o in boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
             ["Outputs"] if o["OutputKey"] == contract.RELEASE_HEALTH_ALARM_ARN]
    after = harness.run_emulated(argv(project), graph=[compute_stack(project, alarm=True, value="two")],
                                 extra_hooks=sent.hooks)
    assert after.code == 0, after.out
    assert fakes.triggers(sent[name][1]) == [arn] and arn.endswith(f":alarm:{project}-release-health")


def test_a_kept_image_no_longer_in_ecr_stops_the_deploy_before_any_change(project):
    graph = [compute_stack(project, alarm=False)]
    repository = contract.resource_name("repository", project)
    assert harness.run_emulated(argv(project, "--image-tag", "v1"), graph=graph).code == 0
    v1 = harness.REGISTRY.digest(repository, "v1")
    assert any(t.startswith("release-dev-") for t in harness.REGISTRY.tags(repository, v1))  # released
    expired = harness.run_emulated(argv(project, "-p", "alarm_cpu_percent=80"), graph=graph, image_exists=False)
    assert expired.code == 1, expired.out
    assert f"the running image {repository}@{v1}" in expired.err and "no longer in ECR" in expired.err, expired.err
    assert "--image-tag" in expired.err
    assert expired.calls.count("CreateChangeSet") == 0
    # Asking for an image that exists is the way out, and it changes the image.
    moved = harness.run_emulated(argv(project, "--image-tag", "v2", "-p", "alarm_cpu_percent=80"), graph=graph)
    assert moved.code == 0, moved.out
    assert lines_with(moved.out, "[compute]", "ImageDigest", f"v1 ({v1[:15]}...)", "v2 (sha256:")


def data_stack(project: str, bucket_name: str) -> templates.Stack:
    """A "data" stack of one protected resource: the bucket, under the real stack's logical id."""

    def build() -> Template:
        t = Template(Description="deployer test: data")
        params.add_parameters(t, contract.DATA)
        t.add_resource(Bucket(contract.UNHANDLED_BUCKET_RESOURCE, BucketName=bucket_name))
        return t

    return templates.Stack(contract.DATA, (), build)


def bucket_of(name: str) -> str:
    found = boto3.client("cloudformation").describe_stack_resource(
        StackName=name, LogicalResourceId=contract.UNHANDLED_BUCKET_RESOURCE)
    return found["StackResourceDetail"]["PhysicalResourceId"]


def test_a_new_bucket_name_is_refused_before_execution_and_goes_through_with_allow_replace(project):
    name = contract.stack_name(project, contract.DATA)
    protective = stack_policy.body(stack_policy.policy(contract.DATA))
    assert harness.run_emulated(argv(project), graph=[data_stack(project, f"{project}-one")]).code == 0
    assert harness.STACK_POLICIES.bodies[name] == protective

    renamed = [data_stack(project, f"{project}-two")]
    refused = harness.run_emulated(argv(project), graph=renamed)
    assert refused.code == 1, refused.out
    assert f"refusing to change {name}: it would replace {contract.UNHANDLED_BUCKET_RESOURCE}" in refused.err
    assert f"--allow-replace {contract.UNHANDLED_BUCKET_RESOURCE}" in refused.err
    assert refused.calls.count("ExecuteChangeSet") == 0
    assert boto3.client("cloudformation").list_change_sets(StackName=name)["Summaries"] == []  # nobody runs it
    assert bucket_of(name) == f"{project}-one"

    policies: list[str] = []
    record = ("provide-client-params.cloudformation.SetStackPolicy",
              lambda params, **_: policies.append(params["StackPolicyBody"]))
    # A new bucket name replaces the bucket: data loss too, accepted with the replacement.
    allowed = harness.run_emulated(argv(project, "--allow-replace", contract.UNHANDLED_BUCKET_RESOURCE,
                                        "--accept", "data-loss"), graph=renamed, extra_hooks=[record])
    assert allowed.code == 0, allowed.out
    assert bucket_of(name) == f"{project}-two"
    assert status(name) == "UPDATE_COMPLETE"
    # lifted for the bucket only while the change set ran, then the protective policy again
    lifted = stack_policy.body(stack_policy.policy(contract.DATA, [contract.UNHANDLED_BUCKET_RESOURCE]))
    assert policies == [lifted, protective]
    names = allowed.calls.names
    assert names.index("cloudformation.ExecuteChangeSet") > names.index("cloudformation.SetStackPolicy")
    assert harness.STACK_POLICIES.bodies[name] == protective


def test_allow_replace_of_an_unknown_id_is_bad_input_before_any_aws_call(project):
    graph = [data_stack(project, f"{project}-x")]
    result = harness.run_emulated(argv(project, "--allow-replace", "Bukcet"), graph=graph)
    assert result.code == 2
    assert "--allow-replace Bukcet: not a protected resource; allowed:" in result.err
    assert result.calls.names == []
