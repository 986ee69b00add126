"""The deploy's security gates, against AWS's real answers (botocore Stubber: LocalStack's community edition
has no ECR scan, enforces no IAM and has no ExpectedBucketOwner mismatch to show):

- the ECR scan gate: CRITICAL findings refuse the image unless --allow-vulnerable; a running scan is waited
  for, bounded; no scan, or a failed one, is said;
- termination protection under the CI deploy role, which may not call UpdateTerminationProtection;
- ExpectedBucketOwner on every call to the deploy-artifacts bucket, and a squatted bucket refused before any
  template is uploaded.
"""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.stub import ANY, Stubber

import contract
import templates
from deployer import aws as aws_module
from deployer.engine import changesets, flow, plan, preflight, stacks
from deployer.errors import DeployError
from deployer.output import Printer
from templates.params import load_params

REGION = "us-east-1"
ACCOUNT = "123456789012"
PARAMS = load_params("prod")
REPOSITORY = contract.resource_name("repository", PARAMS.project)
TAG = PARAMS["image_tag"]
DIGEST = "sha256:" + "a" * 64  # what TAG named when the run resolved it: the gate reads the scan by it
SHOWN = f"{TAG} (sha256:aaaaaaaa...)"


pytestmark = pytest.mark.usefixtures("stubbed_aws_env")


def client(service: str):
    return boto3.session.Session(region_name=REGION).client(service, region_name=REGION, config=aws_module.config())


def aws_with(*services: str) -> aws_module.Aws:
    return aws_module.Aws(REGION, clients={s: client(s) for s in services})


# --- the ECR scan gate -----------------------------------------------------------------------------------

SCAN_PARAMS = {"repositoryName": REPOSITORY, "imageId": {"imageDigest": DIGEST}}
SCAN_NOT_FOUND = (f"Image scan does not exist for the image with '{{imageDigest:'{DIGEST}', imageTag:'null'}}' in the "
                  f"repository with name '{REPOSITORY}' in the registry with id '{ACCOUNT}'")


def finding(name: str, severity: str, package: str, version: str) -> dict:
    """A basic-scan finding as DescribeImageScanFindings returns it."""
    return {"name": name, "uri": f"https://cve.mitre.org/cgi-bin/cvename.cgi?name={name}", "severity": severity,
            "attributes": [{"key": "package_version", "value": version}, {"key": "package_name", "value": package},
                           {"key": "CVSS3_SCORE", "value": "9.8"}]}


def scan_page(status: str, findings: list[dict] = (), counts: dict | None = None, token: str | None = None,
              description: str = "") -> dict:
    page = {"registryId": ACCOUNT, "repositoryName": REPOSITORY,
            "imageId": {"imageDigest": DIGEST},
            "imageScanStatus": {"status": status, "description": description}}
    if status == "COMPLETE":
        page["imageScanFindings"] = {"findingSeverityCounts": counts or {}, "findings": list(findings)}
    if token:
        page["nextToken"] = token
    return page


class Clock:
    """time.monotonic and time.sleep for the bounded wait: sleeping advances the clock, nothing waits."""

    def __init__(self):
        self.now = 0.0
        self.slept = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += 1


def gate(aws, allow=False, clock=None):
    said: list[str] = []
    clock = clock or Clock()
    try:
        preflight.check_scan(aws, PARAMS, DIGEST, SHOWN, allow, said.append, wait=120, poll=5, sleep=clock.sleep,
                             clock=clock)
    except DeployError as exc:
        return said, str(exc)
    return said, None


def test_critical_findings_on_any_page_refuse_the_image_and_name_them():
    aws = aws_with("ecr")
    with Stubber(aws.client("ecr")) as ecr:
        ecr.add_response("describe_image_scan_findings", scan_page(
            "COMPLETE", [finding("CVE-2024-0001", "HIGH", "curl", "7.88.1")],
            {"CRITICAL": 2, "HIGH": 1}, token="page-2"), SCAN_PARAMS)
        ecr.add_response("describe_image_scan_findings", scan_page(
            "COMPLETE", [finding("CVE-2024-6387", "CRITICAL", "openssh-client", "1:9.2p1-2"),
                         finding("CVE-2023-4911", "CRITICAL", "libc6", "2.36-9")],
            {"CRITICAL": 2, "HIGH": 1}), {**SCAN_PARAMS, "nextToken": "page-2"})
        said, error = gate(aws)
        ecr.assert_no_pending_responses()
    assert error and "2 CRITICAL finding(s)" in error and "CVE-2024-6387" in error and "--allow-vulnerable" in error
    assert f"{REPOSITORY}:{SHOWN}" in error
    assert "  CRITICAL CVE-2024-6387 in openssh-client 1:9.2p1-2" in said
    assert "  CRITICAL CVE-2023-4911 in libc6 2.36-9" in said
    assert not [line for line in said if "CVE-2024-0001" in line]  # HIGH: counted, not gating


def test_allow_vulnerable_lists_the_findings_and_goes_on():
    aws = aws_with("ecr")
    with Stubber(aws.client("ecr")) as ecr:
        ecr.add_response("describe_image_scan_findings", scan_page(
            "COMPLETE", [finding("CVE-2024-6387", "CRITICAL", "openssh-client", "1:9.2p1-2")], {"CRITICAL": 1}),
            SCAN_PARAMS)
        said, error = gate(aws, allow=True)
    assert error is None
    assert "  CRITICAL CVE-2024-6387 in openssh-client 1:9.2p1-2" in said
    assert said[-1].endswith("deploying anyway (--allow-vulnerable)")


def test_no_critical_finding_passes_with_the_counts_said():
    aws = aws_with("ecr")
    with Stubber(aws.client("ecr")) as ecr:
        ecr.add_response("describe_image_scan_findings", scan_page(
            "COMPLETE", [finding("CVE-2024-0001", "HIGH", "curl", "7.88.1")], {"HIGH": 1, "MEDIUM": 3}), SCAN_PARAMS)
        said, error = gate(aws)
    assert error is None
    assert said == [f"image scan of {REPOSITORY}:{SHOWN}: COMPLETE, 1 HIGH, 3 MEDIUM"]


def test_a_running_scan_is_waited_for():
    aws = aws_with("ecr")
    clock = Clock()
    with Stubber(aws.client("ecr")) as ecr:
        ecr.add_client_error("describe_image_scan_findings", "ScanNotFoundException", SCAN_NOT_FOUND, 400,
                             expected_params=SCAN_PARAMS)  # just pushed: the scan has not started
        ecr.add_response("describe_repositories", {"repositories": [{
            "repositoryName": REPOSITORY, "registryId": ACCOUNT,
            "imageScanningConfiguration": {"scanOnPush": True}}]}, {"repositoryNames": [REPOSITORY]})
        ecr.add_response("describe_image_scan_findings", scan_page("IN_PROGRESS"), SCAN_PARAMS)
        ecr.add_response("describe_image_scan_findings", scan_page("COMPLETE", [], {}), SCAN_PARAMS)
        said, error = gate(aws, clock=clock)
        ecr.assert_no_pending_responses()
    assert error is None and clock.slept == 2
    assert "waiting for it (at most 120 s)" in said[0]


def test_a_scan_still_running_after_the_bound_fails_clearly():
    aws = aws_with("ecr")
    clock = Clock()
    with Stubber(aws.client("ecr")) as ecr:
        for _ in range(120 // 5 + 1):
            ecr.add_response("describe_image_scan_findings", scan_page("IN_PROGRESS"), SCAN_PARAMS)
        said, error = gate(aws, clock=clock)
        ecr.assert_no_pending_responses()
    assert clock.now == 120
    assert error == (f"the ECR scan of image {REPOSITORY}:{SHOWN} is still IN_PROGRESS after 120 s; deploy again once "
                     "it completes, or pass --allow-vulnerable")


def test_no_scan_with_scan_on_push_off_is_said_without_waiting():
    aws = aws_with("ecr")
    clock = Clock()
    repo = {"repositories": [{"repositoryName": REPOSITORY, "registryId": ACCOUNT,
                              "imageScanningConfiguration": {"scanOnPush": False}}]}
    with Stubber(aws.client("ecr")) as ecr:
        ecr.add_client_error("describe_image_scan_findings", "ScanNotFoundException", SCAN_NOT_FOUND, 400,
                             expected_params=SCAN_PARAMS)
        ecr.add_response("describe_repositories", repo, {"repositoryNames": [REPOSITORY]})
        ecr.add_response("describe_repositories", repo, {"repositoryNames": [REPOSITORY]})
        said, error = gate(aws, clock=clock)
        ecr.assert_no_pending_responses()
    assert clock.slept == 0
    assert error and "has no ECR scan (scan on push is off for the repository)" in error
    assert f"aws ecr start-image-scan --repository-name {REPOSITORY} --image-id imageDigest={DIGEST}" in error


def test_a_failed_scan_is_no_pass():
    aws = aws_with("ecr")
    with Stubber(aws.client("ecr")) as ecr:
        ecr.add_response("describe_image_scan_findings", scan_page(
            "FAILED", description="UnsupportedImageError: The operating system and/or package manager are not "
                                  "supported."), SCAN_PARAMS)
        said, error = gate(aws)
    assert error and "is FAILED (UnsupportedImageError" in error and "--allow-vulnerable" in error


# --- termination protection under the CI deploy role ---------------------------------------------------------

def protected_plan() -> plan.StackPlan:
    [p] = plan.build(PARAMS, [s for s in templates.STACKS if s.key == contract.DATA], templates.STACKS)
    assert p.termination_protection  # prod
    return p


def run_for(aws) -> tuple[flow.Run, io.StringIO]:
    printed = io.StringIO()
    return flow.Run(aws=aws, params=PARAMS, out=Printer(printed, colour=False), account=ACCOUNT), printed


def deployed(protected: bool) -> stacks.Deployed:
    return stacks.Deployed(f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/ia-comafi-data/1", "UPDATE_COMPLETE",
                           {}, {}, protected, {})


def test_access_denied_on_termination_protection_fails_the_run_naming_what_an_admin_runs():
    p = protected_plan()
    aws = aws_with("cloudformation")
    run, printed = run_for(aws)
    denied = (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ia-comafi-github-deploy/GitHubActions is not authorized to "
              f"perform: cloudformation:UpdateTerminationProtection on resource: arn:aws:cloudformation:{REGION}:"
              f"{ACCOUNT}:stack/{p.name}/1 because no identity-based policy allows the "
              "cloudformation:UpdateTerminationProtection action")
    with Stubber(aws.cfn) as cfn:
        cfn.add_client_error("update_termination_protection", "AccessDenied", denied, 403,
                             expected_params={"StackName": p.name, "EnableTerminationProtection": True})
        with pytest.raises(DeployError) as failed:  # exit 1: a prod stack CI could not protect is not done
            flow.protect(run, p, deployed(False))
        cfn.assert_no_pending_responses()
    message = str(failed.value)
    assert "AccessDenied" in message and "an admin must run: aws cloudformation update-termination-protection " \
        f"--enable-termination-protection --stack-name {p.name} --region {REGION}" in message


def test_protection_already_on_makes_no_call_and_other_errors_still_fail():
    p = protected_plan()
    aws = aws_with("cloudformation")
    run, printed = run_for(aws)
    with Stubber(aws.cfn):  # no response stubbed: any call would fail the test
        flow.protect(run, p, deployed(True))
    assert printed.getvalue() == ""
    with Stubber(aws.cfn) as cfn, pytest.raises(aws.cfn.exceptions.ClientError):
        cfn.add_client_error("update_termination_protection", "ValidationError",
                             f"Stack [{p.name}] does not exist", 400)
        flow.protect(run, p, deployed(False))


# --- ExpectedBucketOwner on the deploy-artifacts bucket --------------------------------------------------------

BUCKET = contract.resource_name("deploy_artifacts", PARAMS.project, ACCOUNT, REGION)
OWNED = {"Bucket": BUCKET, "ExpectedBucketOwner": ACCOUNT}


def big_plan() -> plan.StackPlan:
    import dataclasses

    p = protected_plan()
    return dataclasses.replace(p, body=p.body + "\n# " + "x" * plan.MAX_BODY_BYTES)


def test_a_bucket_owned_by_another_account_is_refused_before_any_upload():
    aws = aws_with("s3")
    with Stubber(aws.client("s3")) as s3, pytest.raises(DeployError) as err:
        # S3's answer to HeadBucket when ExpectedBucketOwner is not the owner: 403, no body (HEAD).
        s3.add_client_error("head_bucket", "403", "Forbidden", 403, expected_params=OWNED)
        changesets.template_source(aws, big_plan(), ACCOUNT)
    message = str(err.value)
    assert f"deploy-artifacts bucket {BUCKET} is not owned by account {ACCOUNT}" in message
    assert "squatting" in message and "refusing to upload" in message


def test_a_name_taken_at_create_time_is_refused_too():
    aws = aws_with("s3")
    with Stubber(aws.client("s3")) as s3, pytest.raises(DeployError) as err:
        s3.add_client_error("head_bucket", "404", "Not Found", 404, expected_params=OWNED)
        s3.add_client_error("create_bucket", "BucketAlreadyExists", "The requested bucket name is not available. "
                            "The bucket namespace is shared by all users of the system. Please select a different "
                            "name and try again.", 409, expected_params={"Bucket": BUCKET})
        changesets.template_source(aws, big_plan(), ACCOUNT)
    assert "squatting" in str(err.value)


def test_every_call_to_the_bucket_that_accepts_it_carries_expected_bucket_owner():
    aws = aws_with("s3")
    p = big_plan()
    with Stubber(aws.client("s3")) as s3:
        s3.add_client_error("head_bucket", "404", "Not Found", 404, expected_params=OWNED)
        s3.add_response("create_bucket", {"Location": f"/{BUCKET}"}, {"Bucket": BUCKET})  # takes no owner
        for op in ("put_public_access_block", "put_bucket_encryption", "put_bucket_lifecycle_configuration"):
            s3.add_response(op, {}, {**OWNED, **{k: ANY for k in {
                "put_public_access_block": ["PublicAccessBlockConfiguration"],
                "put_bucket_encryption": ["ServerSideEncryptionConfiguration"],
                "put_bucket_lifecycle_configuration": ["LifecycleConfiguration"]}[op]}})
        s3.add_response("put_object", {"ETag": '"0"'}, {**OWNED, "Key": ANY, "Body": ANY, "ContentType": ANY})
        source = changesets.template_source(aws, p, ACCOUNT)
        s3.assert_no_pending_responses()
    assert source["TemplateURL"].startswith(f"https://{BUCKET}.s3.{REGION}.amazonaws.com/templates/{p.name}/")


def test_moto_accepts_expected_bucket_owner_on_the_normal_path():
    from moto import mock_aws

    with mock_aws():
        aws = aws_module.Aws(REGION)
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        changesets.template_source(aws, big_plan(), account)
        s3 = boto3.client("s3", region_name=REGION)
        bucket = contract.resource_name("deploy_artifacts", PARAMS.project, account, REGION)
        assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
