"""The running image is kept unless asked: which ImageTag a deploy sends, and a kept tag that ECR has expired.

ECR DescribeImages is not in community LocalStack: AWS's ImageNotFoundException is replayed with Stubber.
"""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from botocore.stub import Stubber

from deployer.engine import image_tag
from deployer.errors import DeployError

REPOSITORY = "ia-comafi-api"


def test_the_parameter_is_the_schemas_image_tag():
    assert image_tag.IMAGE_TAG_PARAMETER == "ImageTag"


def test_without_image_tag_the_deployed_tag_is_kept():
    assert image_tag.image_tag_for({"ImageTag": "v1", "DesiredCount": "2"}, None, "latest") == ("v1", "v1 (kept)")


def test_image_tag_changes_it():
    assert image_tag.image_tag_for({"ImageTag": "v1"}, "v2", "latest") == ("v2", "v2")


def test_only_a_create_takes_the_params_files_tag():
    assert image_tag.image_tag_for(None, None, "latest") == ("latest", "latest")
    assert image_tag.image_tag_for(None, "v3", "latest") == ("v3", "v3")


@pytest.fixture
def ecr(stubbed_aws_env):
    return boto3.session.Session(region_name="us-east-1").client("ecr", region_name="us-east-1")


def test_a_kept_tag_the_lifecycle_expired_is_reported_clearly(ecr):
    with Stubber(ecr) as stub:
        stub.add_client_error(
            "describe_images", service_error_code="ImageNotFoundException", http_status_code=400,
            service_message="The image with imageId {imageDigest:'null', imageTag:'v1'} does not exist within the "
                            f"repository with name '{REPOSITORY}' in the registry with id '123456789012'",
            expected_params={"repositoryName": REPOSITORY, "imageIds": [{"imageTag": "v1"}]})
        with pytest.raises(DeployError) as err:
            image_tag.check_kept(ecr, REPOSITORY, "v1")
    message = str(err.value)
    assert f"{REPOSITORY}:v1" in message and "lifecycle" in message and "--image-tag" in message


def test_a_kept_tag_still_in_ecr_passes(ecr):
    with Stubber(ecr) as stub:
        stub.add_response("describe_images", {"imageDetails": [{
            "registryId": "123456789012", "repositoryName": REPOSITORY, "imageDigest": "sha256:" + "a" * 64,
            "imageTags": ["v1"]}]}, {"repositoryName": REPOSITORY, "imageIds": [{"imageTag": "v1"}]})
        image_tag.check_kept(ecr, REPOSITORY, "v1")
        stub.assert_no_pending_responses()


def test_the_gate_checks_the_tag_a_stack_settled_on_after_pre_flight(ecr):
    """Compute was busy at pre-flight, which checked the params file's tag; once settled it keeps its running
    tag, which the gate checks right before the change (here: expired, so nothing is changed)."""
    import io

    from deployer import aws as aws_module
    from deployer.engine import flow
    from deployer.engine.plan import StackPlan
    from deployer.output import Printer
    from templates.params import load_params

    params = load_params("prod")
    run = flow.Run(aws=aws_module.Aws("us-east-1", clients={"ecr": ecr}), params=params,
                   out=Printer(io.StringIO(), colour=False, summary_path=""), account="123456789012")
    gate = flow.image_gate(run, deferred=False, checked="latest")
    compute = StackPlan(key="compute", name="ia-comafi-compute", depends_on=(), level=1, body="",
                        parameters={"ImageTag": "v1"}, tags={}, termination_protection=True)
    with Stubber(ecr) as stub:
        gate(dataclasses.replace(compute, parameters={"ImageTag": "latest"}))  # the checked tag: no call
        stub.add_client_error("describe_images", "ImageNotFoundException", http_status_code=400,
                              expected_params={"repositoryName": REPOSITORY, "imageIds": [{"imageTag": "v1"}]})
        with pytest.raises(DeployError, match="ia-comafi-api:v1, which a deploy without --image-tag keeps"):
            gate(compute)
        stub.assert_no_pending_responses()
