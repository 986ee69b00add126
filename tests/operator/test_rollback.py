"""`rollback --image-tag SHA` (or `--image-digest`) through the real deploy engine, on moto's CloudFormation and ECR.

The graph is a stand-in compute stack: it declares compute's parameters (params.py checks that) and one
SSM parameter holding the image as the task definition names it (repository@digest), so the change set has
something to change; moto cannot create the real
compute stack's ECS/ALB/auto scaling resources. moto does not implement UpdateTerminationProtection
(prod stacks get it): the conftest answers it as AWS does.
"""

from __future__ import annotations

import json

import boto3
import pytest
from troposphere import Ref, Sub, Template, ssm

import templates
from deployer.engine import ledger
from templates import compute, params
from testkit.placeholders import PROD
from tests.operator.conftest import PROJECT, REGION, Tty, answer_termination_protection, run

REPOSITORY = f"{PROJECT}-api"


def fake_compute() -> Template:
    t = Template()
    params.add_parameters(t, "compute")
    digest = compute.add_image_digest_parameter(t)
    t.add_resource(ssm.Parameter("Image", Name="/test/image", Type="String",
                                 Value=Sub(f"{REPOSITORY}@${{Digest}}", Digest=Ref(digest))))
    return t


def fake_network() -> Template:
    t = Template()
    params.add_parameters(t, "network")
    t.add_resource(ssm.Parameter("Net", Name="/test/network", Type="String", Value="n"))
    return t


GRAPH = (templates.Stack("network", (), fake_network), templates.Stack("compute", ("network",), fake_compute))


@pytest.fixture
def ecr(moto):
    client = boto3.client("ecr", region_name=REGION)
    client.create_repository(repositoryName=REPOSITORY)
    for tag in ("aaa1111", "bbb2222"):
        push(client, tag)
    return client


def push(ecr, *tags: str, layer: str = "") -> str:
    """An image (its own layer: moto's digest is made of the layers' digests) under these tags; its digest."""
    layer_digest = "sha256:" + (layer or tags[0]).encode().hex().ljust(64, "0")[:64]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + "c" * 64},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                            "digest": layer_digest}]}
    digest = None
    for tag in tags:
        digest = ecr.put_image(repositoryName=REPOSITORY, imageTag=tag,
                               imageManifest=json.dumps(manifest))["image"]["imageId"]["imageDigest"]
    ecr.start_image_scan(repositoryName=REPOSITORY, imageId={"imageDigest": digest})  # deploy's scan gate reads it
    return digest


def digest_of(ecr, tag: str) -> str:
    return ecr.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])["imageDetails"][0][
        "imageDigest"]


def image_parameter() -> str:
    """The image the stand-in task definition names."""
    return boto3.client("ssm", region_name=REGION).get_parameter(Name="/test/image")["Parameter"]["Value"]


def test_rollback_deploys_only_compute_with_the_tag_through_a_change_set(ecr, capsys):
    hook = answer_termination_protection()
    first = run([*PROD, "--yes", "--image-tag", "bbb2222"], graph=GRAPH, hooks=[hook])
    assert first.code == 0, first.out
    assert image_parameter() == f"{REPOSITORY}@{digest_of(ecr, 'bbb2222')}"

    result = run([*PROD, "rollback", "--yes", "--image-tag", "aaa1111"], graph=GRAPH, hooks=[hook])
    assert result.code == 0, result.out
    old, new = digest_of(ecr, "bbb2222"), digest_of(ecr, "aaa1111")
    assert image_parameter() == f"{REPOSITORY}@{new}"
    # The change set's parameter change, printed: from the image it ran to the one it runs, each by tag and digest.
    assert f"ImageDigest  bbb2222 ({old[:15]}...)  aaa1111 ({new[:15]}...)" in result.out
    assert f"rolled back to aaa1111 ({new[:15]}...)" in result.out
    assert result.count("CreateChangeSet") == 1 and result.count("ExecuteChangeSet") == 1
    assert f"{PROJECT}-network" not in " ".join(x for x in result.out.splitlines() if "change set" in x)
    assert result.calls.index("ecr.DescribeImages") < result.calls.index("cloudformation.CreateChangeSet")


def test_rollback_to_a_digest_given_directly(ecr, capsys):
    hook = answer_termination_protection()
    assert run([*PROD, "--yes", "--image-tag", "bbb2222"], graph=GRAPH, hooks=[hook]).code == 0
    target = digest_of(ecr, "aaa1111")
    result = run([*PROD, "rollback", "--yes", "--image-digest", target], graph=GRAPH, hooks=[hook])
    assert result.code == 0, result.out
    assert image_parameter() == f"{REPOSITORY}@{target}"
    assert f"rolled back to aaa1111 ({target[:15]}...)" in result.out  # shown with a tag that names it


def test_a_digest_not_in_ecr_is_refused_before_any_stack_is_touched(ecr, capsys):
    result = run([*PROD, "rollback", "--yes", "--image-digest", "sha256:" + "9" * 64], graph=GRAPH)
    assert result.code == 2
    assert result.err.startswith(f"deploy.py: error: --image-digest sha256:{'9' * 64} is not in ECR repository "
                                 f"{REPOSITORY}")
    assert not any(c.startswith("cloudformation.") for c in result.calls)


def test_a_tag_not_in_ecr_is_refused_with_the_tags_there_before_any_stack_is_touched(ecr, capsys):
    result = run([*PROD, "rollback", "--yes", "--image-tag", "ccc3333"], graph=GRAPH)
    assert result.code == 2
    assert "--image-tag ccc3333 is not in ECR repository ia-comafi-api" in result.err
    assert "aaa1111" in result.err and "bbb2222" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not any(c.startswith("cloudformation.") for c in result.calls)


def test_declining_the_change_set_changes_nothing(ecr, capsys, monkeypatch):
    hook = answer_termination_protection()
    assert run([*PROD, "--yes", "--image-tag", "bbb2222"], graph=GRAPH, hooks=[hook]).code == 0
    result = run([*PROD, "rollback", "--image-tag", "aaa1111"], graph=GRAPH, hooks=[hook],
                 stdin=Tty("n\n"))
    assert result.code == 1
    assert image_parameter() == f"{REPOSITORY}@{digest_of(ecr, 'bbb2222')}"
    assert result.count("ExecuteChangeSet") == 0


# --- the release ledger: every executed release recorded; rollback without a tag -------------------------


def ledger_bucket() -> str:
    name = ledger.bucket_name(PROJECT, "123456789012", REGION)  # moto's account
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def releases() -> list[dict]:
    listed = run([*PROD, "releases", "--json"], graph=GRAPH)
    assert listed.code == 0, listed.err
    return json.loads(listed.out[listed.out.index("["):])


def test_each_release_is_recorded_and_rollback_without_a_tag_returns_to_the_last_good_image(ecr, capsys):
    bucket = ledger_bucket()
    hook = answer_termination_protection()
    # moto computes a change set against the stack's first parameters, so the first release runs an image the
    # rollback will not return to
    push(ecr, "ccc3333")
    for tag in ("ccc3333", "aaa1111", "bbb2222"):
        assert run([*PROD, "--yes", "--image-tag", tag], graph=GRAPH, hooks=[hook]).code == 0
    # a newer release that failed is never the one to go back to
    s3 = boto3.client("s3", region_name=REGION)
    ledger.append(s3, bucket, "123456789012", "prod", {
        "started": "2999-01-01T00:00:00.000+00:00", "record_digest": "f" * 64, "result": ledger.FAILED,
        "image": {"tag": "ddd4444", "digest": "sha256:" + "d" * 64}}, retention_days=1)

    found = releases()
    assert [(r["result"], r["image"]["tag"]) for r in found] == [
        ("succeeded", "ccc3333"), ("succeeded", "aaa1111"), ("succeeded", "bbb2222"), ("failed", "ddd4444")]
    assert found[1]["caller"].startswith("arn:aws:") and found[1]["verb"] == "deploy"
    assert found[1]["image"]["digest"] == digest_of(ecr, "aaa1111")
    assert s3.head_object(Bucket=bucket, Key=found[1]["key"])["ObjectLockMode"] == "COMPLIANCE"

    back = run([*PROD, "rollback", "--yes"], graph=GRAPH, hooks=[hook])
    assert back.code == 0, back.out + back.err
    assert f"last good release: {found[1]['started']} ran aaa1111" in back.out
    assert image_parameter() == f"{REPOSITORY}@{digest_of(ecr, 'aaa1111')}", back.out
    assert [r["verb"] for r in releases() if r["result"] == "succeeded"][-1] == "rollback"


def test_rollback_without_a_tag_and_without_a_ledger_asks_for_one(ecr, capsys):
    result = run([*PROD, "rollback", "--yes"], graph=GRAPH)
    assert result.code == 2 and "name the image with --image-tag" in result.err, result.err
    assert not any(c.startswith("cloudformation.Create") for c in result.calls)
