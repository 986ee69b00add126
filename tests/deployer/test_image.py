"""The image a run deploys, by digest: which one (given, kept, first create), how it is shown, and the release tag
that keeps it from expiring.

ECR is answered with botocore's Stubber in AWS's shapes and error codes (DescribeImages, BatchGetImage, PutImage
are not in community LocalStack); the whole deploy on moto's ECR is tests/operator/test_image_digest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

import contract
from deployer.engine import image, stacks
from deployer.errors import DeployError

REPOSITORY = "ia-comafi-api"
V1 = "sha256:" + "1" * 64
V2 = "sha256:" + "2" * 64
MANIFEST = '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}'


@pytest.fixture
def ecr(stubbed_aws_env):
    return boto3.session.Session(region_name="us-east-1").client("ecr", region_name="us-east-1")


def compute(parameters: dict, status: str = "UPDATE_COMPLETE") -> stacks.Deployed:
    return stacks.Deployed(stack_id="arn:aws:cloudformation:us-east-1:123456789012:stack/ia-comafi-compute/1",
                           status=status, parameters=parameters, tags={}, termination_protection=True, outputs={})


def details(digest: str, *tags: str) -> dict:
    return {"imageDetails": [{"registryId": "123456789012", "repositoryName": REPOSITORY, "imageDigest": digest,
                              "imageTags": list(tags), "imagePushedAt": datetime(2026, 12, 1, tzinfo=UTC)}]}


def asked(image_id: dict) -> dict:
    return {"repositoryName": REPOSITORY, "imageIds": [image_id]}


def not_found(stub: Stubber, image_id: dict) -> None:
    shown = ", ".join(f"{k}:'{v}'" for k, v in image_id.items())
    stub.add_client_error("describe_images", "ImageNotFoundException", http_status_code=400,
                          service_message=f"The image with imageId {{{shown}}} does not exist within the repository "
                                          f"with name '{REPOSITORY}' in the registry with id '123456789012'",
                          expected_params=asked(image_id))


def resolve(ecr, request, deployed, replies) -> image.ImageRef:
    with Stubber(ecr) as stub:
        for image_id, reply in replies:
            stub.add_response("describe_images", reply, asked(image_id))
        ref = image.resolve(ecr, REPOSITORY, request, deployed, "latest")
        stub.assert_no_pending_responses()
    return ref


def test_a_given_tag_is_resolved_to_the_digest_it_names_now(ecr):
    ref = resolve(ecr, image.Request(tag="v2"), compute({"ImageDigest": V1}),
                  [({"imageTag": "v2"}, details(V2, "v2", "latest"))])
    assert (ref.digest, ref.source, ref.show()) == (V2, image.GIVEN, "v2 (sha256:22222222...)")


def test_a_given_digest_is_looked_up_by_digest_and_shown_with_a_tag_that_names_it(ecr):
    ref = resolve(ecr, image.Request(digest=V2), None,
                  [({"imageDigest": V2}, details(V2, "latest", "release-prod-20261201T100000Z", "v2"))])
    # A build tag (immutable) before the moving one, before a release tag.
    assert (ref.digest, ref.show()) == (V2, "v2 (sha256:22222222...)")
    assert image.ImageRef(V2, ("release-prod-1", "latest")).tag == "latest"
    assert image.ImageRef(V2, ("release-prod-1", "release-prod-2")).tag == "release-prod-2"  # the newest


def test_without_a_request_the_running_digest_is_kept_whatever_its_tag_names_now(ecr):
    ref = resolve(ecr, None, compute({"ImageDigest": V1, "DesiredCount": "2"}),
                  [({"imageDigest": V1}, details(V1, "release-prod-20261201T100000Z"))])
    assert (ref.digest, ref.source, ref.tag) == (V1, image.KEPT, "release-prod-20261201T100000Z")


def test_a_stack_an_older_deployer_left_by_tag_is_kept_at_the_digest_that_tag_names(ecr):
    ref = resolve(ecr, None, compute({"ImageTag": "v1"}), [({"imageTag": "v1"}, details(V1, "v1"))])
    assert (ref.digest, ref.source) == (V1, image.KEPT)
    assert image.running(compute({"ImageTag": "v1"})) == (None, "v1")


@pytest.mark.parametrize("deployed", [None, compute({}, "REVIEW_IN_PROGRESS"), compute({"ImageDigest": V1},
                                                                                       "ROLLBACK_COMPLETE")])
def test_only_a_first_create_takes_the_params_files_tag(ecr, deployed):
    ref = resolve(ecr, None, deployed, [({"imageTag": "latest"}, details(V2, "latest", "0123abc"))])
    assert (ref.digest, ref.source, ref.tag) == (V2, image.FIRST_CREATE, "latest")


def test_a_kept_digest_no_longer_in_ecr_is_refused_saying_how_to_choose_another(ecr):
    with Stubber(ecr) as stub:
        not_found(stub, {"imageDigest": V1})
        with pytest.raises(image.NotInEcr) as err:
            image.resolve(ecr, REPOSITORY, None, compute({"ImageDigest": V1}), "latest")
    message = str(err.value)
    assert f"the running image {REPOSITORY}@{V1}" in message and "--image-tag" in message
    assert err.value.state == "missing"


def test_a_given_tag_not_in_ecr_names_it_and_the_push(ecr):
    with Stubber(ecr) as stub:
        not_found(stub, {"imageTag": "nope"})
        with pytest.raises(image.NotInEcr) as err:
            image.resolve(ecr, REPOSITORY, image.Request(tag="nope"), None, "latest",
                          "123456789012.dkr.ecr.us-east-1.amazonaws.com")
    assert str(err.value).startswith(f"image {REPOSITORY}:nope is not in ECR; push it first (docker push "
                                     f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{REPOSITORY}:nope)")


def test_no_repository_is_its_own_answer(ecr):
    with Stubber(ecr) as stub:
        stub.add_client_error("describe_images", "RepositoryNotFoundException", http_status_code=400,
                              expected_params=asked({"imageTag": "latest"}))
        with pytest.raises(image.NotInEcr) as err:
            image.resolve(ecr, REPOSITORY, None, None, "latest")
    assert err.value.state == "no-repository" and "deploy the data stack first" in str(err.value)


def test_a_request_is_a_tag_or_a_digest():
    assert image.Request(tag="v1").image_id == {"imageTag": "v1"}
    assert image.Request(digest=V1).image_id == {"imageDigest": V1}
    assert str(image.Request(digest=V1)) == f"--image-digest {V1}"
    for both_or_neither in ({"tag": "v1", "digest": V1}, {}):
        with pytest.raises(ValueError):
            image.Request(**both_or_neither)


def test_an_image_no_tag_names_shows_its_short_digest():
    assert image.ImageRef(V1).show() == "sha256:11111111..."
    assert image.is_digest(V1) and not image.is_digest("sha256:" + "A" * 64) and not image.is_digest("v1")


# ---- the release tag ----

RELEASED_AT = datetime(2026, 12, 2, 19, 1, 2, tzinfo=UTC)


def test_a_deployed_image_gets_its_environments_release_tag_on_its_own_manifest(ecr):
    with Stubber(ecr) as stub:
        stub.add_response("batch_get_image", {"images": [{
            "registryId": "123456789012", "repositoryName": REPOSITORY, "imageId": {"imageDigest": V2},
            "imageManifest": MANIFEST, "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json"}],
            "failures": []}, {"repositoryName": REPOSITORY, "imageIds": [{"imageDigest": V2}]})
        stub.add_response("put_image", {"image": {"repositoryName": REPOSITORY, "imageManifest": MANIFEST,
                                                  "imageId": {"imageDigest": V2,
                                                              "imageTag": "release-prod-20261202T190102Z-22222222"}}},
                          {"repositoryName": REPOSITORY, "imageManifest": MANIFEST, "imageDigest": V2,
                           "imageTag": "release-prod-20261202T190102Z-22222222",
                           "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json"})
        tag = image.mark_released(ecr, REPOSITORY, image.ImageRef(V2, ("v2",)), "prod", RELEASED_AT)
        stub.assert_no_pending_responses()
    assert tag == "release-prod-20261202T190102Z-22222222" == contract.release_tag("prod", RELEASED_AT, V2)


def test_an_image_already_released_in_the_environment_is_not_tagged_again(ecr):
    with Stubber(ecr):  # any call would fail: nothing is stubbed
        assert image.mark_released(ecr, REPOSITORY, image.ImageRef(V2, ("release-prod-20261201T100000Z",)),
                                   "prod", RELEASED_AT) is None


def test_a_release_in_another_environment_does_not_count(ecr):
    ref = image.ImageRef(V2, ("release-staging-20261201T100000Z",))
    assert ref.released_in("staging") and not ref.released_in("prod")


def test_ecr_refusing_the_tag_is_an_error(ecr):
    with Stubber(ecr) as stub:
        stub.add_response("batch_get_image", {"images": [], "failures": [{
            "imageId": {"imageDigest": V2}, "failureCode": "ImageNotFound",
            "failureReason": "Requested image not found"}]})
        with pytest.raises(DeployError, match="ImageNotFound Requested image not found"):
            image.mark_released(ecr, REPOSITORY, image.ImageRef(V2), "prod", RELEASED_AT)
