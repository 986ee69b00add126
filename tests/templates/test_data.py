import json

import pytest

from contract import SECRET_KEYS
from templates import data
from tests.templates.cfn import of_type


@pytest.fixture()
def resources(docs):
    return docs["data"]["Resources"]


def test_stateful_resources_are_retained(resources):
    for name in ("AppSecret", "UnhandledQueriesBucket", "ApiRepository"):
        assert resources[name]["DeletionPolicy"] == "Retain", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
    # Everything else goes with the stack.
    assert {n for n, r in resources.items() if "DeletionPolicy" in r} == {
        "AppSecret", "UnhandledQueriesBucket", "ApiRepository"}


def test_secret_holds_all_four_keys_from_the_first_deploy(resources):
    props = resources["AppSecret"]["Properties"]
    assert props["Name"] == {"Fn::Sub": "${ProjectName}/app-secrets"}
    generated = props["GenerateSecretString"]
    keys = set(json.loads(generated["SecretStringTemplate"])) | {generated["GenerateStringKey"]}
    assert keys == set(SECRET_KEYS) == {"LANGCHAIN_API_KEY", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"}
    # No literal value in the template: a template change can never overwrite one the operator set.
    assert "SecretString" not in props


def test_unhandled_bucket_is_private_encrypted_and_tls_only(resources):
    bucket = resources["UnhandledQueriesBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (policy,) = of_type(resources, "AWS::S3::BucketPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] in ("s3:*", ["s3:*"])
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["UnhandledQueriesBucket", "Arn"]}, {"Fn::Sub": "${UnhandledQueriesBucket.Arn}/*"}]


def test_unhandled_queries_expire_and_incomplete_uploads_are_aborted(resources):
    (rule,) = resources["UnhandledQueriesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "UnhandledExpiryDays"}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def test_repository_scans_on_push_and_its_lifecycle_is_the_one_evaluated(resources):
    repo = resources["ApiRepository"]["Properties"]
    assert repo["RepositoryName"] == {"Fn::Sub": "${ProjectName}-api"}
    assert repo["ImageScanningConfiguration"] == {"ScanOnPush": True}
    # What the rules keep and expire: tests/templates/test_ecr_lifecycle.py.
    assert json.loads(repo["LifecyclePolicy"]["LifecyclePolicyText"]) == {"rules": data.lifecycle_rules()}
    assert repo["ImageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert [f["ImageTagMutabilityExclusionFilterValue"] for f in repo["ImageTagMutabilityExclusionFilters"]] == [
        "latest"]
