"""Checks before any stack is touched: who and where we are, and whether the image exists.

An ECS service whose image does not exist does not fail: it retries pulling it
until the deployment circuit breaker gives up, half an hour later. One
DescribeImages call answers the same question in a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

import contract
from deployer.engine import stacks
from deployer.errors import DeployError
from templates.params import BY_KEY as PARAM_SCHEMA
from templates.params import Params

# The stacks that run the image: those that declare the image_tag parameter.
IMAGE_STACKS = PARAM_SCHEMA["image_tag"].stacks

# execution_role: once an admin has deployed the CI access stack, the other stacks are changed
# through its CloudFormation execution role: the CI role may create only change
# sets that carry that role (templates/github_oidc.py), so it never needs the
# permissions to create the resources itself.


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    region: str


def identity(aws) -> Identity:
    try:
        me = aws.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise DeployError(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run in CI with the OIDC role"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"AWS is not reachable with these credentials: {exc}") from None
    return Identity(account=me["Account"], arn=me["Arn"], region=aws.region)


def image_state(aws, repository: str, tag: str) -> str:
    """'present', 'missing' (repository exists, tag does not) or 'no-repository'."""
    try:
        aws.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ImageNotFoundException":
            return "missing"
        if code == "RepositoryNotFoundException":
            return "no-repository"
        raise
    return "present"


def check_image(aws, params: Params, account: str, strict: bool) -> str:
    """Raise DeployError when the image tag is not in ECR.

    ``strict=False`` (pre-flight) lets a missing repository through: the data
    stack creates it, and the check runs again, strictly, just before the
    stack that runs the image is changed.
    """
    repository = contract.resource_name("repository", params.project, account, aws.region)
    tag = params["image_tag"]
    state = image_state(aws, repository, tag)
    if state == "present" or (state == "no-repository" and not strict):
        return state
    uri = f"{account}.dkr.ecr.{aws.region}.amazonaws.com/{repository}"
    if state == "no-repository":
        raise DeployError(
            f"ECR repository {repository} does not exist in {account}/{aws.region}; deploy the data stack first "
            f"(deploy.py {params.env} --stacks data), push {uri}:{tag}, then deploy again"
        )
    raise DeployError(
        f"image {repository}:{tag} is not in ECR ({account}/{aws.region}); push it first "
        f"(docker push {uri}:{tag}) or pass --image-tag with a tag that exists"
    )


def execution_role(aws, params: Params) -> str | None:
    """The CloudFormation execution role of the CI access stack, or None before an admin deployed it."""
    deployed = stacks.describe(aws.cfn, contract.stack_name(params.project, contract.CI_ACCESS))
    if deployed is None:
        return None
    return deployed.outputs.get(contract.EXECUTION_ROLE_OUTPUT) or None
