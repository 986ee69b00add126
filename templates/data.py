"""data: what outlives every deploy.

The app's secret, the bucket of unresolved queries and the image repository.
All three are retained on delete and on replacement: `destroy` never loses
queries, images or secrets. The repository lives here rather than in compute
(the original CDK design's place) so the first image can be pushed before the service that
runs it exists.
"""

import json

from troposphere import GetAtt, Ref, Template, ecr, s3, secretsmanager

import contract
from templates import naming, params, storage
from templates.metadata import checkov_skip

# The repository's lifecycle (ECR applies its rules by rulePriority, lowest first; an image whose tags match a
# rule can never be expired by a later one, and the `any` rule must come last). Released images first: every
# digest an environment runs carries a release tag (deploy.py puts it there after the deploy), so the running
# image and every rollback target stay however many builds are pushed. The count only bounds the repository
# (ECR's quota is 20,000 images): a thousand releases are years of them.
KEEP_RELEASES = 1000
UNTAGGED_DAYS = 7  # layers of a rebuilt `latest` and failed pushes: nothing deploys them
BUILD_TAG_DAYS = 30  # a commit's image that no environment released: long enough to deploy or promote it


def build() -> Template:
    t = Template(Description="ia-comafi data: app secret, unhandled-queries bucket, image repository")
    p = params.add_parameters(t, contract.DATA)
    secret = _create_secret(t)
    bucket = _create_unhandled_bucket(t, p)
    repository = _create_repository(t)
    outputs = {
        contract.SECRET_ARN: (Ref(secret), "The app secret (JSON with the four keys)"),
        contract.UNHANDLED_BUCKET_NAME: (Ref(bucket), "Bucket of unresolved queries"),
        contract.UNHANDLED_BUCKET_ARN: (GetAtt(bucket, "Arn"), "Bucket of unresolved queries (ARN)"),
        contract.REPOSITORY_NAME: (Ref(repository), "ECR repository of the API image"),
        contract.REPOSITORY_URI: (GetAtt(repository, "RepositoryUri"), "ECR repository URI"),
        contract.REPOSITORY_ARN: (GetAtt(repository, "Arn"), "ECR repository ARN"),
    }
    naming.add_exports(t, contract.DATA, outputs)
    return t


def _create_secret(t: Template) -> secretsmanager.Secret:
    # ECS refuses to start a task whose secret lacks a referenced JSON key, so
    # all four exist from the first deploy on. The template never carries the
    # values: it generates the password and placeholders once, and an
    # unchanged GenerateSecretString is never re-applied, so the values the
    # operator sets later (deploy.py ENV secrets set) survive every deploy.
    placeholders = {key: value for key, value in contract.SECRET_KEYS.items() if value is not None}
    return t.add_resource(storage.retained(secretsmanager.Secret(
        contract.SECRET_RESOURCE,
        Name=naming.resource_name_sub("secret"),
        Description="ia-comafi API secrets: LangSmith key and Redis connection",
        GenerateSecretString=secretsmanager.GenerateSecretString(
            SecretStringTemplate=json.dumps(placeholders, sort_keys=True),
            GenerateStringKey=contract.GENERATED_SECRET_KEY,
            PasswordLength=32,
            ExcludePunctuation=True,
        ),
        Metadata=checkov_skip(
            ("CKV_AWS_149", "the aws/secretsmanager key encrypts it; a CMK would need a key policy kept in step "
                            "with the execution role for no requirement the spec names"),
        ),
    )))


def _create_unhandled_bucket(t: Template, p: dict) -> s3.Bucket:
    bucket = t.add_resource(storage.retained(storage.private_bucket(
        contract.UNHANDLED_BUCKET_RESOURCE,
        "unhandled_bucket",
        s3.LifecycleRule(
            Id="expire-unhandled-queries",
            Status="Enabled",
            ExpirationInDays=Ref(p["unhandled_expiry_days"]),
            # Versioning keeps an overwritten or expired query one more day,
            # then it goes too: the expiry promise holds for every version.
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
        ),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        Metadata=checkov_skip(
            ("CKV_AWS_18", "write-only log of queries; CloudTrail data events, not a second bucket, audit access"),
        ),
    )))
    t.add_resource(storage.bucket_policy("UnhandledQueriesBucketPolicy", bucket))
    return bucket


def lifecycle_rules() -> list[dict]:
    """The repository's lifecycle rules, in the order ECR applies them (tests/templates/test_ecr_lifecycle.py
    evaluates them as ECR does)."""

    def rule(priority: int, description: str, selection: dict) -> dict:
        return {"rulePriority": priority, "description": description, "selection": selection,
                "action": {"type": "expire"}}

    by_age = {"countType": "sinceImagePushed", "countUnit": "days"}
    return [
        rule(1, f"Keep every released image (the newest {KEEP_RELEASES})",
             {"tagStatus": "tagged", "tagPrefixList": [contract.RELEASE_TAG_PREFIX],
              "countType": "imageCountMoreThan", "countNumber": KEEP_RELEASES}),
        rule(2, f"Expire untagged images after {UNTAGGED_DAYS} days",
             {"tagStatus": "untagged", **by_age, "countNumber": UNTAGGED_DAYS}),
        rule(3, f"Expire build tags no environment released after {BUILD_TAG_DAYS} days",
             {"tagStatus": "any", **by_age, "countNumber": BUILD_TAG_DAYS}),
    ]


def _create_repository(t: Template) -> ecr.Repository:
    lifecycle = {"rules": lifecycle_rules()}
    return t.add_resource(storage.retained(ecr.Repository(
        contract.REPOSITORY_RESOURCE,
        RepositoryName=naming.resource_name_sub("repository"),
        ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
        # Commit tags never move; only `latest`, which the pipeline pushes as
        # the original CDK design did, is mutable.
        ImageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        ImageTagMutabilityExclusionFilters=[
            ecr.ImageTagMutabilityExclusionFilter(
                ImageTagMutabilityExclusionFilterType="WILDCARD",
                ImageTagMutabilityExclusionFilterValue=contract.MUTABLE_IMAGE_TAG,
            ),
        ],
        LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=json.dumps(lifecycle, sort_keys=True)),
        Metadata=checkov_skip(
            ("CKV_AWS_51", "IMMUTABLE_WITH_EXCLUSION: every tag but `latest` is immutable; this checkov knows only "
                           "IMMUTABLE"),
            ("CKV_AWS_136", "ECR encrypts images with AES-256 by default; a CMK adds a key policy for no "
                            "requirement the spec names"),
        ),
    )))
