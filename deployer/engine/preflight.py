"""Checks before any stack is touched: who and where we are, and whether the image exists.

An ECS service whose image does not exist does not fail: it retries pulling it
until the deployment circuit breaker gives up, half an hour later. One
DescribeImages call answers the same question in a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

import contract
from deployer.engine import stacks
from deployer.errors import BadInput, DeployError
from templates.params import Params

# The stacks that run the image: their template takes its digest (contract.IMAGE_DIGEST_PARAMETER).
IMAGE_STACKS = contract.IMAGE_STACKS

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


def pinned_identity(aws, params: Params) -> Identity:
    """Who we are, refused (exit 2, naming both accounts) unless it is the account the environment pins.

    The first call of every run: a credential for another account never makes a second one there. The
    region needs no such comparison: every client is made in params' region (deployer/aws.py), whatever
    the profile or AWS_REGION say.
    """
    me = identity(aws)
    pinned = params["account_id"]
    if pinned and me.account != pinned:
        raise BadInput(f"these credentials are for account {me.account} ({me.arn}), but params/{params.env}.yaml "
                       f"pins {params.env} to account {pinned}; allowed: credentials for {pinned}")
    return me


PRESENT, MISSING, NO_REPOSITORY = "present", "missing", "no-repository"


@dataclass(frozen=True)
class ImageState:
    """What ECR says about one image: PRESENT (with its digest and every tag it has), MISSING (the repository
    exists, the image does not) or NO_REPOSITORY."""

    state: str
    digest: str = ""
    tags: tuple[str, ...] = ()


def image_state(ecr, repository: str, image_id: dict) -> ImageState:
    """The one DescribeImages reader (``ecr``: an ECR client; ``image_id``: {"imageTag": T} or
    {"imageDigest": D})."""
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[image_id])["imageDetails"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ImageNotFoundException":
            return ImageState(MISSING)
        if code == "RepositoryNotFoundException":
            return ImageState(NO_REPOSITORY)
        raise
    if not details:
        return ImageState(MISSING)
    return ImageState(PRESENT, details[0]["imageDigest"], tuple(sorted(details[0].get("imageTags", []))))


@dataclass(frozen=True)
class CiAccess:
    """What the CI access stack gives the other stacks: the role CloudFormation acts as, and the permissions
    boundary every role they create must carry (both None before an admin deployed that stack)."""

    stack: str
    execution_role: str | None = None
    boundary: str | None = None

    def mode(self) -> str:
        """The one line a deploy says about whose rights it changes the stacks with."""
        if self.execution_role is None:
            return f"mode: admin (no CI access stack {self.stack}): your own credentials, roles unbounded"
        bounded = (f"roles bounded by {self.boundary}" if self.boundary else
                   f"roles unbounded: {self.stack} has no {contract.PERMISSIONS_BOUNDARY_OUTPUT} output, "
                   "deploy it again as an admin")
        return f"mode: through the CI execution role {self.execution_role} ({bounded})"


def ci_access(aws, params: Params) -> CiAccess:
    """The CI access stack's execution role and permissions boundary (one DescribeStacks)."""
    name = contract.stack_name(params.project, contract.CI_ACCESS)
    deployed = stacks.describe(aws.cfn, name)
    if deployed is None:
        return CiAccess(name)
    return CiAccess(name, deployed.outputs.get(contract.EXECUTION_ROLE_OUTPUT) or None,
                    deployed.outputs.get(contract.PERMISSIONS_BOUNDARY_OUTPUT) or None)


# ---- the image's ECR scan ----
# A deploy refuses an image whose scan reports CRITICAL findings (issue 10: "ECR scan findings never gate a
# deploy"), unless told --allow-vulnerable. The build job pushes and the deploy job follows at once, so the
# scan on push is often still running: it is waited for, bounded.

SCAN_WAIT = 120  # s
SCAN_POLL = 5  # s between looks
GATING_SEVERITY = "CRITICAL"
SCAN_DONE = ("COMPLETE", "ACTIVE")  # ACTIVE: enhanced scanning (Amazon Inspector) watches the image continuously
SCAN_RUNNING = ("IN_PROGRESS", "PENDING")
SHOWN_FINDINGS = 20  # findings listed by name; the rest only counted


@dataclass(frozen=True)
class Finding:
    name: str  # CVE-2024-1234
    severity: str
    package: str  # "openssl 3.0.11", "" when the scan does not say


@dataclass(frozen=True)
class Scan:
    status: str  # imageScanStatus.status
    description: str = ""
    counts: dict = field(default_factory=dict)  # findingSeverityCounts
    findings: tuple[Finding, ...] = ()

    def gating(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == GATING_SEVERITY]


def _basic_finding(item: dict) -> Finding:
    attrs = {a.get("key"): a.get("value", "") for a in item.get("attributes", [])}
    package = " ".join(x for x in (attrs.get("package_name", ""), attrs.get("package_version", "")) if x)
    return Finding(item.get("name", "?"), item.get("severity", ""), package)


def _enhanced_finding(item: dict) -> Finding:
    details = item.get("packageVulnerabilityDetails", {})
    packages = details.get("vulnerablePackages", [])
    first = packages[0] if packages else {}
    package = " ".join(x for x in (first.get("name", ""), first.get("version", "")) if x)
    return Finding(details.get("vulnerabilityId") or item.get("title", "?"), item.get("severity", ""), package)


def image_scan(ecr, repository: str, digest: str) -> Scan | None:
    """The scan of the image ``digest`` names (the digest the deploy runs, never a tag that may have moved since),
    every page of findings read; None when ECR has no scan of it (ScanNotFoundException)."""
    status, description, counts, findings = "", "", {}, []
    try:
        pages = ecr.get_paginator("describe_image_scan_findings").paginate(
            repositoryName=repository, imageId={"imageDigest": digest})
        for page in pages:
            state = page.get("imageScanStatus", {})
            status, description = state.get("status", status), state.get("description", description)
            found = page.get("imageScanFindings", {})
            counts = found.get("findingSeverityCounts", counts)
            findings += [_basic_finding(f) for f in found.get("findings", [])]
            findings += [_enhanced_finding(f) for f in found.get("enhancedFindings", [])]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ScanNotFoundException":
            return None
        raise
    return Scan(status, description, dict(counts), tuple(findings))


def scan_on_push(ecr, repository: str) -> bool | None:
    """The repository's scan-on-push setting; None when it cannot be read."""
    try:
        repo = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
    except (ClientError, IndexError, KeyError):
        return None
    return bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush"))


def wait_for_scan(ecr, repository: str, digest: str, shown: str, say, wait: float = SCAN_WAIT,
                  poll: float = SCAN_POLL, sleep=time.sleep, clock=time.monotonic) -> Scan | None:
    """The scan once it is no longer running, or as it is after ``wait`` seconds; None when there is none and
    none is coming (scan on push off), or none appeared within ``wait``. ``shown``: the image as the operator
    reads it."""
    deadline = clock() + wait
    said = False
    on_push = None
    while True:
        scan = image_scan(ecr, repository, digest)
        if scan is None:
            if on_push is None:
                on_push = scan_on_push(ecr, repository)
            if on_push is False:
                return None  # nothing will come
        elif scan.status not in SCAN_RUNNING:
            return scan
        if clock() >= deadline:
            return scan
        if not said:
            say(f"image scan of {shown} " + (scan.status if scan else "not started yet")
                + f": waiting for it (at most {wait:.0f} s)")
            said = True
        sleep(poll)


def check_scan(aws, params: Params, digest: str, shown: str, allow_vulnerable: bool, say, wait: float = SCAN_WAIT,
               poll: float = SCAN_POLL, sleep=time.sleep, clock=time.monotonic) -> Scan | None:
    """Refuse (DeployError) the image ``digest`` (``shown``: "tag (sha256:abcd1234...)") when its ECR scan reports
    CRITICAL findings, did not finish in ``wait`` seconds, failed, or does not exist; ``allow_vulnerable`` says
    so and goes on (without waiting)."""
    repository = contract.resource_name("repository", params.project)
    image = f"{repository}:{shown}"
    ecr = aws.client("ecr")
    scan = image_scan(ecr, repository, digest) if allow_vulnerable else \
        wait_for_scan(ecr, repository, digest, image, say, wait, poll, sleep, clock)
    anyway = "; deploying anyway (--allow-vulnerable)"
    if scan is None:
        start = (f"aws ecr start-image-scan --repository-name {repository} --image-id imageDigest={digest} "
                 f"--region {aws.region}")
        why = ("scan on push is off for the repository" if scan_on_push(ecr, repository) is False
               else f"none appeared within {wait:.0f} s")
        problem = f"image {image} has no ECR scan ({why}): its vulnerabilities are unknown"
        if allow_vulnerable:
            say(problem + anyway)
            return None
        raise DeployError(f"{problem}; scan it ({start}) and deploy again, or pass --allow-vulnerable")
    if scan.status not in SCAN_DONE:
        detail = f" ({scan.description})" if scan.description else ""
        problem = (f"the ECR scan of image {image} is still {scan.status} after {wait:.0f} s" if scan.status in
                   SCAN_RUNNING else f"the ECR scan of image {image} is {scan.status}{detail}: no findings to judge")
        if allow_vulnerable:
            say(problem + anyway)
            return scan
        step = "deploy again once it completes" if scan.status in SCAN_RUNNING else "push or scan the image again"
        raise DeployError(f"{problem}; {step}, or pass --allow-vulnerable")
    critical = int(scan.counts.get(GATING_SEVERITY, 0)) or len(scan.gating())
    summary = ", ".join(f"{n} {sev}" for sev, n in sorted(scan.counts.items())) or "no findings"
    say(f"image scan of {image}: {scan.status}, {summary}")
    if not critical:
        return scan
    listed = scan.gating()[:SHOWN_FINDINGS]
    for f in listed:
        say(f"  {f.severity} {f.name}" + (f" in {f.package}" if f.package else ""))
    if len(scan.gating()) > len(listed):
        say(f"  ... and {len(scan.gating()) - len(listed)} more")
    problem = f"image {image} has {critical} {GATING_SEVERITY} finding(s) in its ECR scan"
    if allow_vulnerable:
        say(problem + anyway)
        return scan
    raise DeployError(f"{problem} ({', '.join(f.name for f in listed) or 'see the console'}); fix the image, "
                      "or pass --allow-vulnerable to deploy it anyway")
