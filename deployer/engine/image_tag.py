"""Which image compute runs after this deploy: the running one, unless the operator asks for another.

The params file's ``image_tag`` (``latest``) is only the first create's choice. After that a deploy or diff
without ``--image-tag`` keeps the ImageTag parameter compute was deployed with: otherwise any parameter tweak
would move the service to whatever ``latest`` is now, and undo a ``rollback`` to an older tag.
"""

from __future__ import annotations

from deployer.engine import preflight
from deployer.errors import DeployError
from templates.params import BY_KEY as PARAM_SCHEMA

IMAGE_TAG_PARAMETER = PARAM_SCHEMA["image_tag"].cfn_name  # the CloudFormation parameter (ImageTag)


def image_tag_for(deployed_parameters: dict | None, requested: str | None, params_default: str) -> tuple[str, str]:
    """(tag to deploy, how the change-set table shows it).

    ``deployed_parameters``: the stack's parameters as deployed (None for a CREATE); ``requested``: --image-tag
    (None when not given); ``params_default``: the params file's image_tag.
    """
    deployed = (deployed_parameters or {}).get(IMAGE_TAG_PARAMETER)
    if requested is not None:
        return requested, requested
    if deployed:
        return deployed, f"{deployed} (kept)"
    return params_default, params_default


def check_kept(ecr, repository: str, tag: str) -> None:
    """DeployError when a kept tag is no longer in the repository (its lifecycle policy expires old images):
    a task started from it (a scale-out, a replaced task) could not pull its image."""
    state = preflight.image_state(ecr, repository, tag)
    if state == "missing":
        raise DeployError(
            f"the running image {repository}:{tag}, which a deploy without --image-tag keeps, is no longer in "
            "ECR: the repository's lifecycle policy has expired it. Pass --image-tag with a tag that exists "
            f"(aws ecr describe-images --repository-name {repository})"
        )
    if state == "no-repository":
        raise DeployError(f"ECR repository {repository} does not exist; deploy the data stack first")
