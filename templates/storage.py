"""Where the stacks keep things: private S3 buckets and CloudWatch log groups, built one way everywhere.

Every bucket of the project is encrypted with SSE-S3, blocks all public access, owns its objects (no
ACLs) and refuses plain HTTP; every log group has a retention and outlives its stack. The stacks add only what differs.
"""

from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, logs, s3

from templates import naming
from templates.metadata import checkov_skip

LOG_ENCRYPTION_SKIP = (
    "CKV_AWS_158",
    "CloudWatch Logs encrypts at rest with its own keys; a customer-managed KMS key would add cost and "
    "key-policy upkeep without narrowing who can read these logs",
)


def private_bucket(title: str, name_kind: str, lifecycle: s3.LifecycleRule, **properties) -> s3.Bucket:
    """A bucket named by the contract's ``name_kind``; SSE-S3 (the one encryption ALB access logging also
    accepts), no public access, no ACLs, expiring by ``lifecycle``."""
    return s3.Bucket(
        title,
        BucketName=naming.resource_name_sub(name_kind),
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
            ),
        ]),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[lifecycle]),
        **properties,
    )


def retained(resource):
    """Kept when its stack is deleted or the resource replaced: destroy never loses what it holds."""
    resource.DeletionPolicy = "Retain"
    resource.UpdateReplacePolicy = "Retain"
    return resource


def bucket_policy(title: str, bucket: s3.Bucket, *statements: dict, **properties) -> s3.BucketPolicy:
    """``bucket``'s policy: ``statements``, and always the refusal of plain HTTP."""
    return s3.BucketPolicy(
        title,
        Bucket=Ref(bucket),
        PolicyDocument={"Version": "2012-10-17", "Statement": [*statements, deny_insecure_transport(bucket)]},
        **properties,
    )


def deny_insecure_transport(bucket: s3.Bucket) -> dict:
    """The bucket-policy statement that refuses every request not made over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [GetAtt(bucket, "Arn"), Sub(f"${{{bucket.title}.Arn}}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def log_group(title: str, name_kind: str, retention, **properties) -> logs.LogGroup:
    """A log group named by the contract's ``name_kind``, kept ``retention`` days, and retained: a
    destroy (or CI through the execution role, which holds no logs:DeleteLogGroup) never loses the record;
    the next create adopts it again (deployer/engine/adoption.py)."""
    return retained(logs.LogGroup(
        title,
        LogGroupName=naming.resource_name_sub(name_kind),
        RetentionInDays=retention,
        Metadata=checkov_skip(LOG_ENCRYPTION_SKIP),
        **properties,
    ))
