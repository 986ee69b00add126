"""`rollback --image-tag SHA` through the real deploy engine, on moto's CloudFormation and ECR.

The graph is a stand-in compute stack: it declares compute's parameters (params.py checks that) and one
SSM parameter holding ImageTag, so the change set has something to change; moto cannot create the real
compute stack's ECS/ALB/auto scaling resources. moto does not implement UpdateTerminationProtection
(prod stacks get it): the conftest answers it as AWS does.
"""

from __future__ import annotations

import json

import boto3
import pytest
from troposphere import Ref, Template, ssm

import templates
from templates import params
from tests.operator.conftest import PROJECT, REGION, Tty, answer_termination_protection, run

REPOSITORY = f"{PROJECT}-api"


def fake_compute() -> Template:
    t = Template()
    p = params.add_parameters(t, "compute")
    t.add_resource(ssm.Parameter("Image", Name="/test/image-tag", Type="String", Value=Ref(p["image_tag"])))
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
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"digest": "sha256:" + tag.ljust(64, "0")}, "layers": []}
        client.put_image(repositoryName=REPOSITORY, imageTag=tag, imageManifest=json.dumps(manifest))
        client.start_image_scan(repositoryName=REPOSITORY, imageId={"imageTag": tag})  # deploy's scan gate reads it
    return client


def image_parameter() -> str:
    return boto3.client("ssm", region_name=REGION).get_parameter(Name="/test/image-tag")["Parameter"]["Value"]


def test_rollback_deploys_only_compute_with_the_tag_through_a_change_set(ecr, capsys):
    hook = answer_termination_protection()
    first = run(["prod", "--yes", "--image-tag", "bbb2222"], graph=GRAPH, hooks=[hook])
    assert first.code == 0, first.out
    assert image_parameter() == "bbb2222"

    result = run(["prod", "rollback", "--yes", "--image-tag", "aaa1111"], graph=GRAPH, hooks=[hook])
    assert result.code == 0, result.out
    assert image_parameter() == "aaa1111"
    assert "ImageTag   bbb2222   aaa1111" in result.out  # the change set's parameter change, printed
    assert result.count("CreateChangeSet") == 1 and result.count("ExecuteChangeSet") == 1
    assert f"{PROJECT}-network" not in " ".join(x for x in result.out.splitlines() if "change set" in x)
    assert result.calls.index("ecr.DescribeImages") < result.calls.index("cloudformation.CreateChangeSet")


def test_a_tag_not_in_ecr_is_refused_with_the_tags_there_before_any_stack_is_touched(ecr, capsys):
    result = run(["prod", "rollback", "--yes", "--image-tag", "ccc3333"], graph=GRAPH)
    assert result.code == 2
    assert "--image-tag ccc3333 is not in ECR repository ia-comafi-api" in result.err
    assert "aaa1111" in result.err and "bbb2222" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not any(c.startswith("cloudformation.") for c in result.calls)


def test_declining_the_change_set_changes_nothing(ecr, capsys, monkeypatch):
    hook = answer_termination_protection()
    assert run(["prod", "--yes", "--image-tag", "bbb2222"], graph=GRAPH, hooks=[hook]).code == 0
    result = run(["prod", "rollback", "--image-tag", "aaa1111"], graph=GRAPH, hooks=[hook],
                 stdin=Tty("n\n"))
    assert result.code == 1
    assert image_parameter() == "bbb2222"
    assert result.count("ExecuteChangeSet") == 0
