"""A deploy runs its image by digest, on moto's CloudFormation and ECR: the tag is resolved once, the task
definition's parameter carries the digest, the scan gate read that same digest, a moved tag changes nothing
that runs, and the deployed digest gets its release tag.

The graph is test_rollback's stand-in compute stack (moto cannot create the real one's ECS/ALB resources): an
SSM parameter holding the image as the task definition names it, repository@digest.
"""

from __future__ import annotations

import boto3
import pytest

import contract
from testkit.placeholders import PROD
from tests.operator.conftest import PROJECT, REGION, answer_termination_protection, run
from tests.operator.test_rollback import GRAPH, REPOSITORY, digest_of, image_parameter, push

COMPUTE = contract.stack_name(PROJECT, contract.COMPUTE)


@pytest.fixture
def ecr(moto):
    client = boto3.client("ecr", region_name=REGION)
    client.create_repository(repositoryName=REPOSITORY)
    return client


class ScanReads(list):
    """The imageId of every DescribeImageScanFindings the deploy sends (botocore's parameter hook)."""

    def hook(self, params, **_):
        self.append(params["imageId"])

    @property
    def hooks(self):
        return [("provide-client-params.ecr.DescribeImageScanFindings", self.hook)]


def deployed_digest() -> str:
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=COMPUTE)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}[contract.IMAGE_DIGEST_PARAMETER]


def tags_of(ecr, digest: str) -> list[str]:
    found = ecr.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageDigest": digest}])["imageDetails"]
    return sorted(found[0].get("imageTags", []))


def test_a_deploy_runs_the_digest_its_tag_named_and_a_moved_tag_changes_nothing(ecr, capsys):
    hook = answer_termination_protection()
    first = push(ecr, "aaa1111", "latest")
    scans = ScanReads()

    created = run([*PROD, "--yes"], graph=GRAPH, hooks=[hook, *scans.hooks])  # first create: params' `latest`
    assert created.code == 0, created.out + created.err
    assert deployed_digest() == first and image_parameter() == f"{REPOSITORY}@{first}"
    assert scans == [{"imageDigest": first}]  # the gate judged the image that runs, not whatever the tag names
    assert created.count("ecr.DescribeImages") == 1  # resolved once
    release = [t for t in tags_of(ecr, first) if t.startswith(contract.RELEASE_TAG_PREFIX)]
    assert len(release) == 1 and release[0].startswith("release-prod-")
    assert f"tagged {release[0]}" in created.out
    assert [line for line in created.out.splitlines() if line.startswith("[compute] executing deploy-")
            and line.endswith(f": image latest ({first[:15]}...)")]  # the image compute moves to, as it executes

    moved = push(ecr, "bbb2222", "latest", layer="second build")  # a new build: `latest` now names it
    assert moved != first and digest_of(ecr, "latest") == moved

    again = run([*PROD, "--yes"], graph=GRAPH, hooks=[hook, *scans.hooks])
    assert again.code == 0, again.out + again.err
    assert again.count("CreateChangeSet") == 0 and "[compute] unchanged" in again.out
    assert deployed_digest() == first and image_parameter() == f"{REPOSITORY}@{first}"
    assert f"image aaa1111 ({first[:15]}...) (kept" in again.out  # shown with a tag that still names it
    assert again.count("ecr.PutImage") == 0 and scans == [{"imageDigest": first}]  # released already, not gated

    parameter_change = run([*PROD, "--yes", "-p", "fargate_cpu=1024", "-p", "fargate_memory=2048"], graph=GRAPH,
                           hooks=[hook, *scans.hooks])
    assert parameter_change.code == 0, parameter_change.out + parameter_change.err
    assert deployed_digest() == first  # any other change keeps the image too
    shown = f"aaa1111 ({first[:15]}...)"
    assert [line.split() for line in parameter_change.out.splitlines() if "ImageDigest" in line] == [
        ["[compute]", "ImageDigest", *shown.split(), *shown.split(), "(kept)"]]

    asked = run([*PROD, "--yes", "--image-tag", "latest"], graph=GRAPH, hooks=[hook, *scans.hooks])
    assert asked.code == 0, asked.out + asked.err
    assert deployed_digest() == moved and image_parameter() == f"{REPOSITORY}@{moved}"
    assert scans[-1] == {"imageDigest": moved}
    assert any(t.startswith("release-prod-") for t in tags_of(ecr, moved))
    assert any(t.startswith("release-prod-") for t in tags_of(ecr, first))  # the rollback target stays released


def test_the_pipelines_digest_deploys_as_given(ecr, capsys):
    hook = answer_termination_protection()
    built = push(ecr, "ccc3333")
    result = run([*PROD, "--yes", "--image-digest", built], graph=GRAPH, hooks=[hook])
    assert result.code == 0, result.out + result.err
    assert deployed_digest() == built
    assert f"image ccc3333 ({built[:15]}...) (given: --image-digest {built}): in ECR" in result.out


def test_an_image_not_in_ecr_stops_the_deploy_before_any_stack_changes(ecr, capsys):
    result = run([*PROD, "--yes", "--image-tag", "nope"], graph=GRAPH)
    assert result.code == 1
    assert result.err.startswith(f"deploy.py: error: image {REPOSITORY}:nope is not in ECR; push it first")
    assert not any(c.endswith(("CreateChangeSet", "CreateStack", "ExecuteChangeSet")) for c in result.calls)


def test_status_names_a_digest_image_as_such():
    import io

    from deployer.engine import ecs_service
    from deployer.output import Printer
    from deployer.verbs import status

    uri = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@sha256:{'1' * 64}"
    printed = io.StringIO()
    service = ecs_service.Service("ia-comafi-cluster", "ia-comafi-api", "ACTIVE", 1, 1, 0,
                                  "arn:aws:ecs:us-east-1:123456789012:task-definition/ia-comafi-api:7")
    status.render(status.Report(stacks=[], service=service, image=uri), Printer(printed, colour=False,
                                                                                summary_path=""))
    assert f"  image: {uri} (by digest)" in printed.getvalue().splitlines()
