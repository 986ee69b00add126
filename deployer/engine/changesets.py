"""Change sets: create, wait, read, execute, delete; and S3 for templates too big to send inline."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from botocore.exceptions import ClientError, WaiterError

import contract
from deployer.engine.plan import MAX_BODY_BYTES, StackPlan
from deployer.errors import DeployError

CHANGE_SET_WAIT_DELAY = 2  # s; the stock 30 s would add half a minute to every stack
CHANGE_SET_WAIT_ATTEMPTS = 300

# The templates create named IAM roles (execution and task roles, flow logs).
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]

# How CloudFormation says "nothing to do": on AWS the first, LocalStack and older
# API versions the second. Such a change set is success, not failure.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


# A Details target whose change recreates the resource (always, or depending on its value).
RECREATES = ("Always", "Conditionally")


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str  # True | False | Conditional | "" (Add/Remove)
    physical_id: str = ""
    # (property, Always | Conditionally) for each property whose change recreates the resource: which property
    # forces a replacement (the stack policy's refusal names it).
    recreating: tuple[tuple[str, str], ...] = ()


def parse_change(item: dict) -> Change:
    """One ``Changes[]`` item of DescribeChangeSet."""
    rc = item.get("ResourceChange", {})
    recreating: list[tuple[str, str]] = []
    for detail in rc.get("Details", []):
        target = detail.get("Target", {})
        if target.get("RequiresRecreation") in RECREATES:
            forcing = (target.get("Name") or target.get("Attribute", ""), target["RequiresRecreation"])
            if forcing not in recreating:
                recreating.append(forcing)
    return Change(
        action=rc.get("Action", ""),
        logical_id=rc.get("LogicalResourceId", ""),
        resource_type=rc.get("ResourceType", ""),
        replacement=rc.get("Replacement", "") if rc.get("Action") == "Modify" else "",
        physical_id=rc.get("PhysicalResourceId", "") or "",
        recreating=tuple(recreating),
    )


@dataclass(frozen=True)
class ChangeSet:
    id: str
    name: str
    stack_id: str
    type: str  # CREATE | UPDATE | IMPORT
    changes: tuple[Change, ...] = ()
    status: str = ""
    # DescribeChangeSet's own Changes[] items, with their before/after values and PolicyAction (a plan keeps them).
    described: tuple[dict, ...] = field(default=(), repr=False, compare=False)


def new_name() -> str:
    """Unique, sortable, and recognisable as ours (the CI role may touch only change sets so named)."""
    return f"{contract.CHANGE_SET_PREFIX}{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def template_source(aws, plan: StackPlan, account: str) -> dict:
    """TemplateBody when it fits CloudFormation's 51,200-byte limit, else TemplateURL of a copy in S3."""
    if len(plan.body.encode()) <= MAX_BODY_BYTES:
        return {"TemplateBody": plan.body}
    bucket = contract.resource_name("deploy_artifacts", plan.tags[contract.PROJECT_TAG], account, aws.region)
    return {"TemplateURL": upload_template(aws, bucket, plan, account)}


def upload_template(aws, bucket: str, plan: StackPlan, account: str) -> str:
    s3 = aws.client("s3")
    ensure_bucket(s3, bucket, aws.region, account)
    digest = hashlib.sha256(plan.body.encode()).hexdigest()[:16]
    key = f"templates/{plan.name}/{digest}.yaml"  # content-addressed: re-uploads are idempotent
    s3.put_object(Bucket=bucket, Key=key, Body=plan.body.encode(), ContentType="application/x-yaml",
                  ExpectedBucketOwner=account)
    endpoint = s3.meta.endpoint_url
    if endpoint.endswith(".amazonaws.com"):
        return f"https://{bucket}.s3.{aws.region}.amazonaws.com/{key}"
    return f"{endpoint}/{bucket}/{key}"  # an emulator (AWS_ENDPOINT_URL): path style


def not_ours(bucket: str, account: str, answer: str) -> DeployError:
    """The deploy-artifacts bucket's name is predictable: anyone may create it first in their own account
    (bucket squatting), and then read, or swap, the templates CloudFormation is told to run."""
    return DeployError(
        f"deploy-artifacts bucket {bucket} is not owned by account {account} ({answer}): another account may "
        "hold that name (bucket squatting), and whoever owns it could read or replace the templates uploaded "
        "there; refusing to upload any template. Delete or rename that bucket if it is yours in another "
        "account, or keep every template under CloudFormation's 51,200-byte inline limit"
    )


def ensure_bucket(s3, bucket: str, region: str, account: str) -> None:
    """The deploy-artifacts bucket, created on first need: private, encrypted, old templates expire.

    Every call that accepts it carries ExpectedBucketOwner: S3 answers 403 when the bucket belongs to
    another account, so a squatted name is refused here, before any template is uploaded (CreateBucket does
    not take the parameter; a name taken elsewhere answers BucketAlreadyExists)."""
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("403", "AccessDenied", "Forbidden"):  # HEAD has no body: botocore names it by its status
            answer = ("HeadBucket with ExpectedBucketOwner answered 403 Forbidden; also the answer when these "
                      "credentials lack s3:ListBucket on it")
            raise not_ours(bucket, account, answer) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=bucket, **kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "BucketAlreadyExists":
            raise not_ours(bucket, account, "CreateBucket answered BucketAlreadyExists") from None
        raise
    s3.put_public_access_block(
        Bucket=bucket,
        ExpectedBucketOwner=account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ExpectedBucketOwner=account,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    # A template is only needed while its change set exists.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        ExpectedBucketOwner=account,
        LifecycleConfiguration={
            "Rules": [{"ID": "expire-templates", "Status": "Enabled", "Filter": {"Prefix": "templates/"},
                       "Expiration": {"Days": 30}}]
        },
    )


def create(aws, plan: StackPlan, change_type: str, account: str, role_arn: str | None = None,
           resources_to_import: list[dict] | None = None, rollback_configuration: dict | None = None) -> ChangeSet:
    """``resources_to_import`` with change_type IMPORT: [{ResourceType, LogicalResourceId, ResourceIdentifier}].
    ``rollback_configuration``: the alarms that watch the operation (rollback_triggers.configuration); None sends
    none, which makes CloudFormation reuse the stack's saved triggers."""
    name = new_name()
    # RoleARN: CloudFormation acts as the execution role, not as the caller.
    extra: dict = {"RoleARN": role_arn} if role_arn else {}
    if resources_to_import:
        extra["ResourcesToImport"] = resources_to_import
    if rollback_configuration is not None:
        extra["RollbackConfiguration"] = rollback_configuration
    resp = aws.cfn.create_change_set(
        StackName=plan.name,
        ChangeSetName=name,
        ChangeSetType=change_type,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in plan.parameters.items()],
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in plan.tags.items()],
        Description=f"deploy.py {plan.tags.get(contract.ENVIRONMENT_TAG, '')} {plan.key}",
        **template_source(aws, plan, account),
        **extra,
    )
    return ChangeSet(id=resp["Id"], name=name, stack_id=resp.get("StackId", ""), type=change_type)


def wait(cfn, cs: ChangeSet) -> ChangeSet | None:
    """The change set with its changes once computed; None when it has nothing to do."""
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            ChangeSetName=cs.id,
            WaiterConfig={"Delay": CHANGE_SET_WAIT_DELAY, "MaxAttempts": CHANGE_SET_WAIT_ATTEMPTS},
        )
    except WaiterError as exc:
        last = exc.last_response or {}
        reason = last.get("StatusReason", "") or str(exc)
        if any(text in reason for text in NO_CHANGES):
            return None
        raise DeployError(f"change set {cs.name} failed: {reason}") from None
    return describe(cfn, cs)


def describe(cfn, cs: ChangeSet) -> ChangeSet:
    """The change set's changes, with the property values before and after (IncludePropertyValues) and what a
    removal really does (PolicyAction): what a plan shows and its risk classes judge."""
    changes: list[Change] = []
    items: list[dict] = []
    kwargs = {"ChangeSetName": cs.id, "IncludePropertyValues": True}
    while True:
        page = cfn.describe_change_set(**kwargs)
        items += page.get("Changes", [])
        changes += [parse_change(item) for item in page.get("Changes", [])]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return ChangeSet(id=cs.id, name=cs.name, stack_id=page.get("StackId", cs.stack_id), type=cs.type,
                     changes=tuple(changes), status=page.get("Status", ""), described=tuple(items))


def execute(cfn, cs: ChangeSet) -> None:
    cfn.execute_change_set(ChangeSetName=cs.id)


def delete(cfn, cs: ChangeSet) -> None:
    cfn.delete_change_set(ChangeSetName=cs.id)


def console_url(region: str, cs: ChangeSet) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/changesets/changes?stackId={quote(cs.stack_id, safe='')}&changeSetId={quote(cs.id, safe='')}"
    )
