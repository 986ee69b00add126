"""Which image compute runs: one digest, decided once per run, and kept from expiring once released.

Where the digest comes from (``resolve``):
- given: ``--image-tag TAG`` (resolved to the digest it names now, once) or ``--image-digest sha256:...``;
- kept: neither given, compute deployed: the digest it runs (its deployed ImageDigest parameter). Otherwise a
  parameter tweak would move the service to whatever a tag names today, or undo a ``rollback``;
- first create: neither given, compute not deployed yet: the params file's ``image_tag``, resolved.

The task definition names the image ``repo@sha256:...``: a tag moved in ECR afterwards changes nothing that runs,
nor what a replaced task pulls. After a deploy, ``mark_released`` tags that digest ``release-ENV-TIME``, a prefix
the repository's lifecycle never expires (templates/data.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

import contract
from deployer.engine import preflight, stack_status, stacks
from deployer.errors import DeployError

DIGEST_PARAMETER = contract.IMAGE_DIGEST_PARAMETER
# Compute's parameter before the task definition named its image by digest: a stack an older deployer left is
# kept at the digest its tag names (read once, then the digest is what the stack records).
LEGACY_TAG_PARAMETER = "ImageTag"

GIVEN, KEPT, FIRST_CREATE = "given", "kept", "first create"
SHORT_DIGEST_HEX = 8  # sha256:abcd1234...: enough to tell images apart on a screen


def is_digest(text: str) -> bool:
    return re.fullmatch(contract.IMAGE_DIGEST_PATTERN, text) is not None


def short(digest: str) -> str:
    """sha256:abcd1234... (the whole digest is in the stack's parameters and in ECR)."""
    algorithm, _, hex_digits = digest.partition(":")
    return f"{algorithm}:{hex_digits[:SHORT_DIGEST_HEX]}..."


@dataclass(frozen=True)
class Request:
    """What the command line asked for: ``--image-tag`` or ``--image-digest`` (each checked where it is parsed)."""

    tag: str | None = None
    digest: str | None = None

    def __post_init__(self):
        if (self.tag is None) == (self.digest is None):
            raise ValueError("an image request names a tag or a digest, not both nor neither")

    @property
    def image_id(self) -> dict:
        return {"imageTag": self.tag} if self.tag is not None else {"imageDigest": self.digest}

    def __str__(self) -> str:
        return f"--image-tag {self.tag}" if self.tag is not None else f"--image-digest {self.digest}"


@dataclass(frozen=True)
class ImageRef:
    """The image a run deploys: its digest, every tag ECR had on it when resolved, and where it came from."""

    digest: str
    tags: tuple[str, ...] = ()
    source: str = GIVEN
    resolved_from: str | None = None  # the tag the digest was resolved from (given or first create)

    @property
    def tag(self) -> str | None:
        """The tag shown with the digest: the one it was resolved from, else one ECR has on it (a build tag
        before the mutable one, before a release tag), else None."""
        if self.resolved_from:
            return self.resolved_from
        builds = sorted(t for t in self.tags if not t.startswith(contract.RELEASE_TAG_PREFIX))
        builds.sort(key=lambda t: t == contract.MUTABLE_IMAGE_TAG)
        releases = sorted((t for t in self.tags if t.startswith(contract.RELEASE_TAG_PREFIX)), reverse=True)
        return next(iter(builds + releases), None)

    def show(self) -> str:
        """``tag (sha256:abcd1234...)``, or the short digest alone when no tag names it."""
        return f"{self.tag} ({short(self.digest)})" if self.tag else short(self.digest)

    def released_in(self, environment: str) -> bool:
        return any(t.startswith(f"{contract.RELEASE_TAG_PREFIX}{environment}-") for t in self.tags)


class NotInEcr(DeployError):
    """The image asked for (or kept) is not in the repository, or the repository does not exist (``state``)."""

    def __init__(self, message: str, state: str, image_id: dict):
        super().__init__(message)
        self.state = state
        self.image_id = image_id


def running(deployed: stacks.Deployed | None) -> tuple[str | None, str | None]:
    """(digest, tag) compute's deployed parameters name: the digest it runs, or (None, tag) for a stack an older
    deployer left with a tag; (None, None) when there is nothing to keep (not deployed, never executed)."""
    if deployed is None or deployed.status not in stack_status.STABLE:
        return None, None
    digest = deployed.parameters.get(DIGEST_PARAMETER) or None
    return digest, None if digest else (deployed.parameters.get(LEGACY_TAG_PARAMETER) or None)


def resolve(ecr, repository: str, request: Request | None, deployed: stacks.Deployed | None,
            first_create_tag: str, registry: str = "") -> ImageRef:
    """The run's image (one DescribeImages). Raises NotInEcr naming the image and what to do (``registry``:
    ACCOUNT.dkr.ecr.REGION.amazonaws.com, for the push command it suggests)."""
    kept_digest, kept_tag = running(deployed)
    if request is not None:
        source, image_id = GIVEN, request.image_id
    elif kept_digest or kept_tag:
        source, image_id = KEPT, {"imageDigest": kept_digest} if kept_digest else {"imageTag": kept_tag}
    else:
        source, image_id = FIRST_CREATE, {"imageTag": first_create_tag}
    found = preflight.image_state(ecr, repository, image_id)
    if found.state != preflight.PRESENT:
        raise NotInEcr(_not_found(repository, source, image_id, found.state, registry), found.state, image_id)
    resolved_from = image_id.get("imageTag") if source != KEPT else None
    return ImageRef(found.digest, found.tags, source, resolved_from)


def _not_found(repository: str, source: str, image_id: dict, state: str, registry: str) -> str:
    tag = image_id.get("imageTag")
    what = f"{repository}:{tag}" if tag else f"{repository}@{image_id['imageDigest']}"
    push = f"docker push {registry}/{what}" if registry and tag else "docker push"
    if state == preflight.NO_REPOSITORY:
        return f"ECR repository {repository} does not exist; deploy the data stack first, then push the image ({push})"
    if source == KEPT:
        return (f"the running image {what}, which a deploy without --image-tag keeps, is no longer in ECR: "
                "it was deleted or expired. Pass --image-tag (or --image-digest) with an image that exists "
                f"(aws ecr describe-images --repository-name {repository})")
    how = "--image-tag" if tag else "--image-digest"
    return f"image {what} is not in ECR; push it first ({push}), or pass {how} with an image that exists"


def describe(ecr, repository: str, digest: str) -> ImageRef | None:
    """The image ``digest`` names with its tags (for showing what runs now); None when ECR no longer has it."""
    found = preflight.image_state(ecr, repository, {"imageDigest": digest})
    return ImageRef(digest, found.tags, KEPT) if found.state == preflight.PRESENT else None


def mark_released(ecr, repository: str, image: ImageRef, environment: str, now: datetime | None = None
                  ) -> str | None:
    """Tag ``image``'s digest release-ENV-TIME-DIGEST8 (ECR PutImage with the manifest BatchGetImage returns), unless it
    already carries a release tag of ``environment``. Returns the tag put, None when none was needed.

    A UTC time rather than a counter: no listing of the existing tags to find the next number, no race between
    two runs reading the same number, the tag says when, and an environment's tags sort by it; the digest's first
    hex digits keep two releases in one second apart. Release tags are immutable like every tag but the mutable
    one (templates/data.py), so nobody can point one at another image later.
    """
    if image.released_in(environment):
        return None
    tag = contract.release_tag(environment, now or datetime.now(UTC), image.digest)
    got = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": image.digest}])
    if not got.get("images"):
        failure = (got.get("failures") or [{}])[0]
        raise DeployError(f"ECR could not read image {repository}@{image.digest} to tag it {tag}: "
                          f"{failure.get('failureCode', '?')} {failure.get('failureReason', '')}".rstrip())
    manifest = got["images"][0]
    extra = {"imageManifestMediaType": manifest["imageManifestMediaType"]} \
        if manifest.get("imageManifestMediaType") else {}
    try:
        ecr.put_image(repositoryName=repository, imageManifest=manifest["imageManifest"], imageTag=tag,
                      imageDigest=image.digest, **extra)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ImageAlreadyExistsException":
            raise
    return tag
