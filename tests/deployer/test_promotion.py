"""Promotion: prod runs only an image staging released successfully (issue 18, item 4).

LocalStack holds two accounts (an access key id of 12 digits is the account it acts as): staging's ledger bucket,
made as the CI access stack makes it (Object Lock on), and its records written there with staging's credentials;
prod's stacks and its own ledger in prod's account, and prod's runs read staging's ledger with prod's credentials.
Each test has accounts of its own, so no bucket or record is another test's. The stack that runs the image is a
stand-in of compute (test_localstack_safety.py).

LocalStack does not check ExpectedBucketOwner, nor deny a read: the 403 is a Stubber with S3's own error shape.
"""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

import contract
from deployer import aws as aws_module
from deployer.engine import ledger, plan_file, promotion
from deployer.errors import DeployError
from testkit import harness
from testkit.placeholders import filled
from tests.deployer.test_localstack_safety import compute_stack

RUN_URL = "https://github.com/acme/ia-comafi/actions/runs/4242"
REGION = "us-east-1"


def account() -> str:
    return str(random.SystemRandom().randrange(10**11, 10**12))


def s3_as(acct: str):
    return boto3.session.Session().client("s3", region_name=REGION, aws_access_key_id=acct,
                                          aws_secret_access_key="test")


def stubbed_s3():
    """A client for a Stubber, of a session of its own: boto3's default session would keep the credentials of
    the test that made it first (an account of this file's) for every later test."""
    return boto3.session.Session().client("s3", region_name=REGION, aws_access_key_id="test",
                                          aws_secret_access_key="test")


def cfn_as(acct: str):
    return boto3.session.Session().client("cloudformation", region_name=REGION, aws_access_key_id=acct,
                                          aws_secret_access_key="test")


def make_ledger(project: str, acct: str) -> str:
    name = ledger.bucket_name(project, acct, REGION)
    s3_as(acct).create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


class World:
    """staging's account and ledger, prod's account (whose credentials the runs use) and its own ledger."""

    def __init__(self, project: str, monkeypatch):
        self.project = project
        self.staging, self.prod = account(), account()
        self.staging_project = contract.default_project_name("staging")
        self.staging_bucket = make_ledger(self.staging_project, self.staging)
        self.prod_bucket = make_ledger(project, self.prod)
        self.graph = [compute_stack(project, alarm=False)]
        self.repository = contract.resource_name("repository", project)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.prod)  # what LocalStack takes for the caller's account
        self._clock = datetime.now(UTC) - timedelta(hours=1)

    def digest(self, tag: str) -> str:
        return harness.REGISTRY.digest(self.repository, tag)

    def staging_release(self, tag: str, result: str = ledger.SUCCEEDED) -> str:
        """A record as verb.record writes it, in staging's ledger with staging's credentials; its key."""
        self._clock += timedelta(seconds=1)
        record = {"environment": "staging", "verb": "apply", "plan_digest": uuid.uuid4().hex,
                  "image": {"tag": tag, "digest": self.digest(tag)}, "result": result,
                  "caller": f"arn:aws:sts::{self.staging}:assumed-role/deploy/ci", "account": self.staging,
                  "region": REGION, "ci": {"actor": "octocat", "run_url": RUN_URL},
                  "started": self._clock.isoformat(timespec="milliseconds"),
                  "ended": (self._clock + timedelta(seconds=1)).isoformat(timespec="milliseconds")}
        record["record_digest"] = plan_file.sha256(record)
        return ledger.append(s3_as(self.staging), self.staging_bucket, self.staging, "staging", record, 1)

    def run_prod(self, *more: str, source: dict | str | None = "staging's", **kwargs) -> harness.Outcome:
        argv = [*filled("prod"), *more, "-p", f"project_name={self.project}"]
        if source == "staging's":
            source = {"account_id": self.staging}
        return harness.run_emulated(argv, graph=self.graph, account=self.prod, source=source, **kwargs)

    def running(self) -> str | None:
        name = contract.stack_name(self.project, contract.COMPUTE)
        try:
            stack = cfn_as(self.prod).describe_stacks(StackName=name)["Stacks"][0]
        except ClientError:
            return None
        return {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}.get(
            contract.IMAGE_DIGEST_PARAMETER)

    def prod_records(self) -> list[dict]:
        return ledger.records(s3_as(self.prod), self.prod_bucket, self.prod, "prod")


@pytest.fixture
def world(localstack, project, monkeypatch) -> World:
    return World(project, monkeypatch)


def no_change_set(result: harness.Outcome) -> bool:
    return result.count("CreateChangeSet") == 0 and result.count("ExecuteChangeSet") == 0


# ---- deploy ----

def test_prod_deploys_a_digest_staging_released_and_names_the_release(world, tmp_path):
    key = world.staging_release("v1")
    summary = tmp_path / "summary.md"
    result = world.run_prod("--yes", "--image-tag", "v1", summary_path=str(summary))
    assert result.code == 0, result.out + result.err
    said = f"image {world.digest('v1')[:15]}... promoted from staging release {key} (succeeded "
    assert said in result.out and RUN_URL in result.out, result.out
    assert said in summary.read_text()
    assert world.running() == world.digest("v1")
    [record] = world.prod_records()
    assert record["result"] == "succeeded"
    assert record["promoted_from"] == {"environment": "staging", "bucket": world.staging_bucket, "key": key,
                                       "digest": world.digest("v1")}
    listed = world.run_prod("releases")
    assert listed.code == 0 and f"staging {key.rsplit('/', 1)[1].removesuffix('.json')}" in listed.out, listed.out


def test_a_digest_staging_never_released_is_refused_before_any_change_set(world):
    world.staging_release("v1")
    result = world.run_prod("--yes", "--image-tag", "v2")
    assert result.code == 1, result.out + result.err
    assert no_change_set(result) and world.running() is None
    for named in (world.digest("v2"), "staging", world.staging_bucket, world.digest("v1")):
        assert named in result.err, (named, result.err)
    assert "Traceback" not in result.err


def test_a_failed_staging_release_of_the_digest_does_not_count(world):
    world.staging_release("v1")
    world.staging_release("v3", result=ledger.FAILED)  # newer, but it failed
    result = world.run_prod("--yes", "--image-tag", "v3")
    assert result.code == 1 and no_change_set(result), result.out + result.err
    assert world.digest("v3") in result.err and f"newest successful release runs {world.digest('v1')}" in result.err


def test_an_unchanged_image_is_not_rechecked(world):
    world.staging_release("v1")
    assert world.run_prod("--yes", "--image-tag", "v1").code == 0
    # staging's ledger is not even there for this run: the image prod keeps is not looked up again
    again = world.run_prod("--yes", "-p", "alarm_cpu_percent=80", source={"account_id": account()})
    assert again.code == 0, again.out + again.err
    assert f"image unchanged ({world.digest('v1')[:15]}...), not re-checked" in again.out


# ---- what the gate cannot read ----

def test_a_missing_source_ledger_refuses_saying_so(world):
    result = world.run_prod("--yes", "--image-tag", "v1", source={"account_id": account()})
    assert result.code == 1 and no_change_set(result), result.out + result.err
    assert "release ledger of staging" in result.err and "does not exist" in result.err, result.err


def test_a_source_ledger_that_answers_403_refuses_saying_so(world):
    # S3's HeadBucket has no body: a denied one (or one whose owner is not ExpectedBucketOwner) is code "403".
    s3 = stubbed_s3()
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", 403,
                              expected_params={"Bucket": world.staging_bucket, "ExpectedBucketOwner": world.staging})
        result = world.run_prod("--yes", "--image-tag", "v1", clients={"s3": s3})
        stub.assert_no_pending_responses()
    assert result.code == 1 and no_change_set(result), result.out + result.err
    assert "403 (access denied)" in result.err and world.staging in result.err, result.err


def test_the_source_accounts_placeholder_refuses_saying_so(world):
    result = world.run_prod("--yes", "--image-tag", "v1", source=None)  # params/staging.yaml as the repository holds it
    assert result.code == 2 and no_change_set(result), result.out + result.err
    assert "params/staging.yaml holds the placeholder account_id" in result.err, result.err


def test_find_reads_the_source_ledger_as_its_owner_newest_first():
    source = promotion.Source.of("staging", "ia-comafi-staging", "111111111111", REGION)
    s3 = stubbed_s3()
    owner = {"Bucket": source.bucket, "ExpectedBucketOwner": "111111111111"}
    old, new = (f"releases/staging/2026010{i}T000000.000000Z-abc.json" for i in (1, 2))
    body = {"result": "succeeded", "image": {"digest": "sha256:" + "a" * 64}}
    with Stubber(s3) as stub:
        stub.add_response("head_bucket", {}, owner)
        stub.add_response("list_objects_v2", {"Contents": [{"Key": old}, {"Key": new}]},
                          {**owner, "Prefix": "releases/staging/"})
        stub.add_response("get_object", {"Body": _body({**body, "result": "failed"})}, {**owner, "Key": new})
        stub.add_response("get_object", {"Body": _body(body)}, {**owner, "Key": old})
        found = promotion.find(s3, source, "sha256:" + "a" * 64)
    assert found.release["key"] == old and found.newest["key"] == old


def test_an_access_denied_listing_is_a_refusal_not_a_traceback():
    source = promotion.Source.of("staging", "ia-comafi-staging", "111111111111", REGION)
    s3 = stubbed_s3()
    with Stubber(s3) as stub:
        stub.add_response("head_bucket", {})
        stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
        with pytest.raises(DeployError, match="403 \\(access denied\\)"):
            promotion.find(s3, source, "sha256:" + "a" * 64)


def _body(value: dict) -> StreamingBody:
    raw = json.dumps(value).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


# ---- plan and apply ----

def test_a_plan_names_the_release_and_apply_checks_it_again(world, tmp_path):
    key = world.staging_release("v1")
    plan_path = tmp_path / "plan.json"
    planned = world.run_prod("plan", "--image-tag", "v1", "--out", str(plan_path))
    assert planned.code == 0, planned.out + planned.err
    assert f"promoted from staging release {key}" in planned.out
    doc = json.loads(plan_path.read_text())
    assert doc["promoted_from"] == {"environment": "staging", "bucket": world.staging_bucket, "key": key,
                                    "digest": world.digest("v1")}
    assert key in (tmp_path / "plan.md").read_text()
    applied = world.run_prod("apply", str(plan_path), "--accept", "cost")  # a first create of compute costs
    assert applied.code == 0, applied.out + applied.err
    assert f"promoted from staging release {key}" in applied.out and "checked again" in applied.out
    assert world.running() == world.digest("v1")
    [record] = world.prod_records()
    assert record["verb"] == "apply" and record["promoted_from"] == doc["promoted_from"]


def test_a_plan_of_a_digest_staging_never_released_is_refused_before_any_change_set(world, tmp_path):
    world.staging_release("v1")
    plan_path = tmp_path / "plan.json"
    planned = world.run_prod("plan", "--image-tag", "v2", "--out", str(plan_path))
    assert planned.code == 1 and no_change_set(planned), planned.out + planned.err
    assert world.digest("v2") in planned.err and not plan_path.exists()


def test_apply_refuses_a_plan_whose_named_release_does_not_prove_its_image(world, tmp_path):
    # The plan's digest shows it was not altered by accident; whoever can write the file can recompute it, so
    # apply reads the release the plan names again.
    world.staging_release("v1")
    failed = world.staging_release("v2", result=ledger.FAILED)
    plan_path = tmp_path / "plan.json"
    assert world.run_prod("plan", "--image-tag", "v1", "--out", str(plan_path)).code == 0
    doc = json.loads(plan_path.read_text())
    for stack in doc["stacks"]:
        stack["parameters"][contract.IMAGE_DIGEST_PARAMETER] = world.digest("v2")
    doc["promoted_from"] = {**doc["promoted_from"], "key": failed, "digest": world.digest("v2")}
    body = {k: v for k, v in doc.items() if k != "digest"}
    plan_path.write_text(json.dumps({**body, "digest": plan_file.sha256(body)}))
    refused = world.run_prod("apply", str(plan_path), "--accept", "cost")  # a first create of compute costs
    assert refused.code == 1 and refused.count("ExecuteChangeSet") == 0, refused.out + refused.err
    assert "no longer proves it" in refused.err and failed in refused.err, refused.err
    assert world.running() is None


# ---- rollback ----

def test_rollback_to_prods_own_successful_release_needs_no_staging_record(world):
    world.staging_release("v1")
    world.staging_release("v2")
    assert world.run_prod("--yes", "--image-tag", "v1").code == 0
    assert world.run_prod("--yes", "--image-tag", "v2").code == 0
    # staging's ledger is not there for these runs: prod's own ledger is what lets v1 back in
    elsewhere = {"account_id": account()}
    back = world.run_prod("rollback", "--yes", source=elsewhere)
    assert back.code == 0, back.out + back.err
    assert "prod's own release" in back.out and world.running() == world.digest("v1")
    by_tag = world.run_prod("rollback", "--yes", "--image-tag", "v2", source=elsewhere)
    assert by_tag.code == 0, by_tag.out + by_tag.err
    assert world.running() == world.digest("v2")


def test_rollback_to_an_image_prod_never_released_is_gated(world):
    world.staging_release("v1")
    assert world.run_prod("--yes", "--image-tag", "v1").code == 0
    refused = world.run_prod("rollback", "--yes", "--image-tag", "v4")
    assert refused.code == 1 and no_change_set(refused), refused.out + refused.err
    assert world.digest("v4") in refused.err and world.running() == world.digest("v1")


def test_apply_refuses_a_plan_that_moves_the_image_and_names_no_release(world, tmp_path):
    world.staging_release("v1")
    plan_path = tmp_path / "plan.json"
    assert world.run_prod("plan", "--image-tag", "v1", "--out", str(plan_path)).code == 0
    doc = json.loads(plan_path.read_text())
    body = {k: v for k, v in doc.items() if k not in ("digest", "promoted_from")}  # as a plan made before the gate
    plan_path.write_text(json.dumps({**body, "digest": plan_file.sha256(body)}))
    refused = world.run_prod("apply", str(plan_path), "--accept", "cost")
    assert refused.code == 1 and refused.count("ExecuteChangeSet") == 0, refused.out + refused.err
    assert "names no staging release" in refused.err and world.digest("v1") in refused.err, refused.err


def test_the_source_ledger_is_read_with_a_client_of_its_own_region():
    aws = aws_module.Aws("us-east-1")
    other = aws.client("s3", region="eu-west-1")
    assert other.meta.region_name == "eu-west-1" and aws.client("s3").meta.region_name == "us-east-1"
    assert aws.client("s3", region="eu-west-1") is other and aws.client("s3", region="us-east-1") is aws.client("s3")
