"""github-oidc stack: how GitHub Actions reaches this account, and nothing more.

Deployed once, by an admin (``deploy.py prod --stacks github-oidc``). It holds:

- the GitHub OIDC identity provider, or a reference to the account's existing
  one (an account holds one provider per URL): ``oidc_provider_arn``;
- ``{project}-github-build``: the build job's role. Only jobs on the deploy
  branch can assume it, and it can only push images to the project's ECR
  repository;
- ``{project}-github-deploy``: the deploy job's role. Only jobs in the GitHub
  environment can assume it (so the environment's protection rules gate every
  deploy), and it can run change sets on this project's four stacks (never
  this one), pass one role to CloudFormation, read the project's images and
  alarms and restart its ECS service. It creates no infrastructure itself, and
  cannot turn termination protection off; in prod it cannot delete a stack at
  all (the stack is deployed per environment and knows which one it serves);
- ``{project}-github-plan``: the plan job's role. Only jobs in the GitHub environment ``ENV-plan`` (no
  reviewers: a plan changes nothing) can assume it; it makes, describes and deletes change sets on the
  four stacks as the execution role would run them, and reads what a plan reads. It never executes one,
  sets a stack policy, deletes a stack, writes the ledger or an image: apply, as the deploy role behind the
  environment's reviewers, does;
- the release ledger ``{project}-releases-{account}-{region}``: one record per release under
  ``releases/ENV/``, each locked in COMPLIANCE mode (Object Lock, versioned, TLS-only, retained). The
  deploy role appends records; no CI role may delete one or change the bucket's guards (its policy says so
  too). Across environments, the promotion target's (prod's) deploy and plan roles read the source's
  (staging's) records, granted on both sides from the other environment's params (templates/params.py,
  ``promotion_values``);
- ``{project}-cfn-execution``: the role CloudFormation uses (deploy.py passes
  it as ``RoleARN``) to create what the four stacks declare, and only that. Its
  IAM statements name the app stacks' three roles exactly (fixed names), never
  edit a trust policy, and in prod it cannot delete the load balancer, change a
  bucket's policy, public-access block or versioning, or delete a log group:
  those become an admin's deploy;
- ``{project}-boundary``: the permissions boundary every role of the app
  stacks carries. The execution role can create or change a role only with
  it, and nothing can remove it, so whatever a template says, a role CI
  creates can do at most what the boundary allows.

The original CDK design created the provider by hand and gave CI ``AdministratorAccess``.
Condition keys and resource types below are the IAM Service Authorization
Reference's (https://docs.aws.amazon.com/service-authorization/latest/reference/);
tests/templates/test_escalation_audit.py checks every statement against its
copy in parliament. Every ``Resource: "*"`` is an action that reference lists
with no resource type; each says so where it appears.
"""

from __future__ import annotations

from awacs import aws as pol
from troposphere import Equals, GetAtt, If, Not, Output, Ref, Sub, Tags, Template, s3
from troposphere import iam as iam_res

import contract
from templates import alarms, alerts, naming, params, storage
from templates.metadata import checkov_skip

STACK_KEY = contract.CI_ACCESS

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
OIDC_AUDIENCE = "sts.amazonaws.com"
# AWS no longer checks these for GitHub (it trusts GitHub's CA), but the
# resource still accepts them; the original CDK design's value plus GitHub's second one.
GITHUB_THUMBPRINTS = ("6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd")

# CloudFormation calls that name no stack, or list the whole account: AWS
# authorizes them only on Resource "*". deploy.py uses ListExports/ListImports
# (export guard), DescribeStacks without a name (list), ValidateTemplate and
# the drift detection's status (by detection id).
CFN_ACCOUNT_WIDE_ACTIONS = (
    "DescribeStackDriftDetectionStatus", "DescribeStacks", "ListExports", "ListImports", "ListStacks",
    "ValidateTemplate",
)

# What deploy.py does to a stack of this project: change sets (authorized on
# the stack, whatever the change set is called), events, the deployed
# template, the data stack's stack policy, drift, and deleting a stack left in
# ROLLBACK_COMPLETE, IMPORT_ROLLBACK_COMPLETE or REVIEW_IN_PROGRESS.
# Not UpdateTerminationProtection: CloudFormation refuses DeleteStack on a
# protected stack. DeleteStack itself is CFN_DELETE_ACTIONS, outside prod only.
CFN_STACK_ACTIONS = (
    "CreateChangeSet", "DeleteChangeSet", "DescribeChangeSet", "DescribeStackEvents",
    "DescribeStackResourceDrifts", "DescribeStackResources", "DescribeStacks", "DetectStackDrift",
    "DetectStackResourceDrift", "ExecuteChangeSet", "GetTemplate", "ListChangeSets", "ListStackResources",
    "SetStackPolicy",
)
CFN_DELETE_ACTIONS = ("DeleteStack",)

# True outside prod: there CI may delete what it can re-create (a stack, the load balancer) and change a
# bucket's guards; in prod an admin's deploy does those.
CI_MAY_DELETE = "CiMayDelete"

# The build job: push an image (and skip the build when the tag is there).
ECR_PUSH_ACTIONS = (
    "BatchCheckLayerAvailability", "BatchGetImage", "CompleteLayerUpload", "DescribeImages",
    "GetDownloadUrlForLayer", "InitiateLayerUpload", "PutImage", "UploadLayerPart",
)
# The deploy job: is the tag there, what did the scan find, which tags are newest (rollback).
ECR_READ_ACTIONS = ("DescribeImageScanFindings", "DescribeImages", "DescribeRepositories", "ListImages")

# Services CloudFormation hands the project's roles to: ECS tasks (compute) and
# VPC Flow Logs (network).
ROLE_CONSUMERS = ("ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com")
# Service-linked roles the stacks' resources need on first use in an account.
SERVICE_LINKED_ROLE_SERVICES = (
    "ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com",
)
# The one managed policy the stacks attach (compute's task execution role).
ATTACHABLE_MANAGED_POLICIES = ("service-role/AmazonECSTaskExecutionRolePolicy",)

# The IAM calls that create or change what a role may do. Each supports the
# iam:PermissionsBoundary condition key (Service Authorization Reference, IAM):
# the execution role may make them only on a role that carries the boundary.
IAM_BOUNDED_ROLE_ACTIONS = (
    "AttachRolePolicy", "CreateRole", "DeleteRolePolicy", "DetachRolePolicy", "PutRolePermissionsBoundary",
    "PutRolePolicy",
)

_PROJECT_VALUE = Sub("${" + contract.PROJECT_PARAMETER + "}")
_pattern = naming.resource_name_text  # a contract name as Fn::Sub text


def _arn(service: str, resource: str, region: bool = True, account: bool = True) -> Sub:
    r = "${AWS::Region}" if region else ""
    a = "${AWS::AccountId}" if account else ""
    return Sub(f"arn:${{AWS::Partition}}:{service}:{r}:{a}:{resource}")


def _actions(prefix: str, names) -> list[pol.Action]:
    return [pol.Action(prefix, name) for name in sorted(set(names))]


def _allow(sid: str, prefix: str, names, resources, condition: pol.Condition | None = None) -> pol.Statement:
    kwargs = {"Condition": condition} if condition is not None else {}
    return pol.Statement(Sid=sid, Effect=pol.Allow, Action=_actions(prefix, names), Resource=resources, **kwargs)


def _stack_role_arns() -> list[Sub]:
    """The app stacks' roles, each by its fixed name: no other role may be created, changed or passed."""
    return [_arn("iam", f"role/{_pattern(kind)}", region=False) for kind in contract.APP_ROLES]


def boundary_arn() -> Sub:
    """The permissions boundary's ARN, known before the policy exists (IAM conditions compare strings)."""
    return _arn("iam", f"policy/{_pattern('permissions_boundary')}", region=False)


def _owned(tag_key: str) -> pol.Condition:
    return pol.Condition(pol.StringEquals(f"aws:ResourceTag/{tag_key}", _PROJECT_VALUE))


def _requested(tag_key: str) -> pol.Condition:
    return pol.Condition(pol.StringEquals(f"aws:RequestTag/{tag_key}", _PROJECT_VALUE))


def build() -> Template:
    t = Template(Description="ia-comafi github-oidc: GitHub Actions OIDC provider, CI build, deploy and plan "
                             "roles, the CloudFormation execution role, the app roles' permissions boundary and "
                             "the release ledger")
    p = params.add_parameters(t, STACK_KEY)
    t.add_condition("CreateProvider", Equals(Ref(p["oidc_provider_arn"]), ""))
    t.add_condition(CI_MAY_DELETE, Not(Equals(Ref(p["environment"]), contract.PRODUCTION)))
    t.add_rule("GithubRepoIsSet", {
        "Assertions": [{
            "Assert": {"Fn::Not": [{"Fn::Equals": [Ref(p["github_repo"]), ""]}]},
            "AssertDescription": "github_repo must name the repository (ORG/REPO) whose workflow may deploy",
        }],
    })

    provider = t.add_resource(iam_res.OIDCProvider(
        "GithubOidcProvider",
        Condition="CreateProvider",
        Url=GITHUB_OIDC_URL,
        ClientIdList=[OIDC_AUDIENCE],
        ThumbprintList=list(GITHUB_THUMBPRINTS),
        Tags=Tags(Name=naming.name_sub(STACK_KEY)),
    ))
    provider_arn = If("CreateProvider", Ref(provider), Ref(p["oidc_provider_arn"]))

    boundary = t.add_resource(iam_res.ManagedPolicy(
        "PermissionsBoundary",
        ManagedPolicyName=naming.resource_name_sub("permissions_boundary"),
        Description="The most any role of this project's app stacks may do",
        PolicyDocument=permissions_boundary_policy(),
    ))
    execution_role = _execution_role(t)
    # The trail the CI alerts hear through, for an account with none (templates/alerts.py).
    alerts.create_trail(t, p)
    build_role = _github_role(t, "GithubBuildRole", "build_role", "GitHub Actions build job: pushes the API image",
                              provider_arn, build_subject("${GithubRepo}", "${GithubBranch}"), _build_policy())
    deploy_role = _github_role(t, "GithubDeployRole", "oidc_deploy_role",
                               "GitHub Actions deploy job: change sets on this project's stacks, its service",
                               provider_arn, deploy_subject("${GithubRepo}", "${GithubEnvironment}"),
                               _deploy_policy(execution_role))
    _add_outside_production_policies(t, execution_role, deploy_role)
    plan_role = _github_role(t, "GithubPlanRole", "plan_role",
                             "GitHub Actions plan job: makes and reads change sets, never executes one",
                             provider_arn, deploy_subject("${GithubRepo}", contract.plan_environment(
                                 "${GithubEnvironment}")), _plan_policy(execution_role))
    ledger = _release_ledger(t, p, [execution_role, build_role, deploy_role, plan_role])
    _add_promotion_read_policy(t, [deploy_role, plan_role])

    t.add_output(Output(contract.DEPLOY_ROLE_OUTPUT, Value=GetAtt(deploy_role, "Arn"),
                        Description="Role the deploy job assumes: the repository secret AWS_DEPLOY_ROLE_ARN"))
    t.add_output(Output(contract.BUILD_ROLE_OUTPUT, Value=GetAtt(build_role, "Arn"),
                        Description="Role the build job assumes: the repository secret AWS_BUILD_ROLE_ARN"))
    t.add_output(Output(contract.EXECUTION_ROLE_OUTPUT, Value=GetAtt(execution_role, "Arn"),
                        Description="Role deploy.py passes to CloudFormation (RoleARN)"))
    t.add_output(Output(contract.PERMISSIONS_BOUNDARY_OUTPUT, Value=Ref(boundary),
                        Description="deploy.py passes it to the app stacks as their "
                                    f"{contract.PERMISSIONS_BOUNDARY_PARAMETER} parameter"))
    t.add_output(Output(contract.OIDC_PROVIDER_OUTPUT, Value=provider_arn,
                        Description="GitHub OIDC provider the roles trust"))
    t.add_output(Output(contract.PLAN_ROLE_OUTPUT, Value=GetAtt(plan_role, "Arn"),
                        Description=f"Role the plan job assumes: the secret AWS_PLAN_ROLE_ARN of the GitHub "
                                    f"environment {contract.plan_environment('ENV')}"))
    t.add_output(Output(contract.RELEASE_LEDGER_OUTPUT, Value=Ref(ledger),
                        Description="The release ledger: one locked record per release under releases/ENV/"))
    return t


# -- the CI roles --------------------------------------------------------------------------------------------


def workflow_ref(repo: str, branch: str) -> str:
    """The OIDC ``job_workflow_ref`` of a job of deploy.yml as it is on the deploy branch: every CI role
    requires it, so no other workflow (nor deploy.yml from another branch) gets a CI role even when it
    names the environment or runs on the branch."""
    return f"{repo}/{contract.DEPLOY_WORKFLOW}@refs/heads/{branch}"


def build_subject(repo: str, branch: str) -> str:
    """The OIDC ``sub`` of a job on the deploy branch with no environment: the build job."""
    return f"repo:{repo}:ref:refs/heads/{branch}"


def deploy_subject(repo: str, environment: str) -> str:
    """The OIDC ``sub`` of a job in the deploy environment: the deploy job, once the environment's rules pass."""
    return f"repo:{repo}:environment:{environment}"


def _github_role(t: Template, title: str, name_kind: str, description: str, provider_arn, subject: str,
                 policy: pol.PolicyDocument) -> iam_res.Role:
    trust = pol.PolicyDocument(Version="2012-10-17", Statement=[pol.Statement(
        Sid="GithubJob",
        Effect=pol.Allow,
        Principal=pol.Principal("Federated", provider_arn),
        Action=[pol.Action("sts", "AssumeRoleWithWebIdentity")],
        # job_workflow_ref is one of the GitHub claims STS matches as a condition key since January 2026; a
        # token without it (or an STS that did not match it) is refused, never let through.
        Condition=pol.Condition(pol.StringEquals({
            f"{GITHUB_OIDC_HOST}:aud": OIDC_AUDIENCE,
            f"{GITHUB_OIDC_HOST}:sub": Sub(subject),
            f"{GITHUB_OIDC_HOST}:job_workflow_ref": Sub(workflow_ref("${GithubRepo}", "${GithubBranch}")),
        })),
    )])
    return t.add_resource(iam_res.Role(
        title,
        RoleName=naming.resource_name_sub(name_kind),
        Description=description,
        AssumeRolePolicyDocument=trust,
        MaxSessionDuration=3600,
        Policies=[iam_res.Policy(PolicyName=name_kind.replace("_", "-"), PolicyDocument=policy)],
    ))


def _repository_arn() -> Sub:
    return _arn("ecr", f"repository/{_pattern('repository')}")


def _build_policy() -> pol.PolicyDocument:
    return pol.PolicyDocument(Version="2012-10-17", Statement=[
        # A registry login token: the reference lists no resource type for GetAuthorizationToken.
        _allow("EcrLogin", "ecr", ["GetAuthorizationToken"], ["*"]),
        _allow("EcrPushProjectRepository", "ecr", ECR_PUSH_ACTIONS, [_repository_arn()]),
    ])


def _app_stack_arns() -> list[Sub]:
    """The four app stacks (never this one), whatever id CloudFormation gave each."""
    return [_arn("cloudformation", f"stack/{naming.project_stack_name(key)}/*") for key in contract.APP_STACKS]


def _secret_arn() -> Sub:
    # Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
    return _arn("secretsmanager", f"secret:{_pattern('secret')}-??????")


def _deploy_policy(execution_role: iam_res.Role) -> pol.PolicyDocument:
    stack_arns = _app_stack_arns()
    cluster = _pattern("cluster")
    service_arn = _arn("ecs", f"service/{cluster}/{_pattern('service')}")
    statements = [
        _allow("ProjectStacks", "cloudformation", set(CFN_STACK_ACTIONS) - {"CreateChangeSet"}, stack_arns),
        *_change_set_statements(execution_role, stack_arns),
        # After a deploy, the digest compute runs gets its release tag, which the lifecycle never expires.
        _allow("TagReleasedImages", "ecr", ["BatchGetImage", "PutImage"], [_repository_arn()]),
        _allow("RestartAndStatusOfProjectService", "ecs", ["DescribeServices", "UpdateService"], [service_arn]),
        _allow("StatusOfProjectCluster", "ecs", ["DescribeClusters"], [_arn("ecs", f"cluster/{cluster}")]),
    ]
    statements += _change_set_events_statements(stack_arns)
    statements += _ledger_statements()
    return pol.PolicyDocument(Version="2012-10-17", Statement=statements)


def _change_set_statements(execution_role: iam_res.Role, stack_arns: list[Sub]) -> list[pol.Statement]:
    """What making a change set needs, for the deploy role and the plan role alike: create it as the execution
    role, the account-wide reads, the image it pins, the alarms its rollback triggers name, the retained
    resources it may adopt, and the bucket large templates go through."""
    artifacts = _pattern("deploy_artifacts")
    return [
        # A change set on a project stack runs as the execution role, never as the caller.
        _allow("ProjectChangeSetsRunAsExecutionRole", "cloudformation", ["CreateChangeSet"], stack_arns,
               pol.Condition(pol.StringEquals("cloudformation:RoleArn", GetAtt(execution_role, "Arn")))),
        # These take no stack name (or list the account); AWS authorizes them on "*" only.
        _allow("AccountWideCloudFormationReads", "cloudformation", CFN_ACCOUNT_WIDE_ACTIONS, ["*"]),
        # CreateChangeSet with RoleARN passes the role: only to CloudFormation, only this one.
        _allow("PassExecutionRoleToCloudFormation", "iam", ["PassRole"], [GetAtt(execution_role, "Arn")],
               pol.Condition(pol.StringEquals("iam:PassedToService", "cloudformation.amazonaws.com"))),
        # The pre-flight: the image exists and its scan found nothing critical; rollback lists the newest tags.
        _allow("ReadProjectImages", "ecr", ECR_READ_ACTIONS, [_repository_arn()]),
        # The rollback triggers' explanation and status read alarms and their history. A read on "*": CloudWatch
        # returns a composite alarm (release-health, compute's trigger) only to a caller whose DescribeAlarms
        # and DescribeAlarmHistory are scoped to "*" (the CloudWatch API Reference).
        _allow("AlarmsRead", "cloudwatch", ["DescribeAlarmHistory", "DescribeAlarms"], ["*"]),
        # A stack about to be created looks for what an earlier destroy retained, to adopt it again
        # (deployer/engine/adoption.py): HeadBucket is authorized as s3:ListBucket. Names only, never values.
        _allow("FindRetainedBucket", "s3", ["ListBucket"], _bucket_arns()),
        _allow("FindRetainedSecret", "secretsmanager", ["DescribeSecret"], [_secret_arn()]),
        # DescribeLogGroups: the reference lists no resource type for it.
        _allow("FindRetainedLogGroups", "logs", ["DescribeLogGroups"], ["*"]),
        # Templates over 51,200 bytes (compute's) go through this bucket, which the first run that needs it
        # creates (a plan may be that run).
        _allow("DeployArtifactsBucket", "s3",
               ["CreateBucket", "ListBucket", "PutBucketPublicAccessBlock", "PutEncryptionConfiguration",
                "PutLifecycleConfiguration"],
               [_arn("s3", artifacts, region=False, account=False)]),
        _allow("DeployArtifactsObjects", "s3", ["GetObject", "PutObject"],
               [_arn("s3", f"{artifacts}/*", region=False, account=False)]),
    ]

def _change_set_events_statements(stack_arns: list[Sub]) -> list[pol.Statement]:
    # What CloudFormation's validation found (DescribeEvents by change set or operation id: #19 item 4). The
    # reference copy the audit reads predates the action (tests/templates/test_escalation_audit.py,
    # NEWER_THAN_PARLIAMENT); it is granted as DescribeStackEvents is, on the project's stacks. Should AWS
    # authorize it on something else, it answers AccessDenied and the deployer falls back to the stack events
    # (deployer/engine/cfn_events.py).
    return [_allow("ProjectStackOperationEvents", "cloudformation", ["DescribeEvents"], stack_arns)]


# -- the release ledger -----------------------------------------------------------------------------------------

# What no CI role may ever do to the ledger, whatever an identity policy says later: erase or rewrite a
# record, or change what guards them (the bucket, its policy, versioning, its lock and its public access).
LEDGER_NEVER_BY_CI = (
    "BypassGovernanceRetention", "DeleteBucket", "DeleteBucketPolicy", "DeleteObject", "DeleteObjectVersion",
    "PutBucketObjectLockConfiguration", "PutBucketOwnershipControls", "PutBucketPolicy", "PutBucketPublicAccessBlock",
    "PutBucketVersioning", "PutEncryptionConfiguration", "PutLifecycleConfiguration", "PutObjectLegalHold",
)
_LEDGER_WRITES = ("PutObject", "PutObjectRetention")
LEDGER_RECORD_READS = ("GetObject",)
PROMOTION_SOURCE = "ReadsPromotionSource"
PROMOTION_TARGET = "GrantsPromotionRead"


def _ledger_arn() -> Sub:
    return _arn("s3", _pattern("release_ledger"), region=False, account=False)


def _records_prefix(environment: str) -> str:
    """``releases/ENV/`` as Fn::Sub text (ENV: a ${Parameter})."""
    return f"{contract.RELEASES_PREFIX}/{environment}/"


def _under_prefix(prefix: str) -> pol.ConditionElement:
    # HeadBucket (ledger.exists) is authorized as s3:ListBucket and sends no s3:prefix: a plain StringLike
    # would deny it, as IAM denies a condition on a key the request lacks. IfExists lets a request without
    # the key through and holds every listing that names a prefix to this one. An unprefixed listing sees the
    # bucket's keys, which are this environment's only (each project has its own ledger bucket).
    return pol.StringLikeIfExists("s3:prefix", [Sub(prefix), Sub(f"{prefix}*")])


def _ledger_statements() -> list[pol.Statement]:
    """The deploy role's records: written under its environment's prefix, each new (never over another) and
    locked in COMPLIANCE mode, in the bucket of this account only (a squatted name elsewhere is refused by IAM
    too, not only by ExpectedBucketOwner); read back by `releases` and `rollback`."""
    prefix = _records_prefix("${Environment}")
    records = Sub(f"{_ledger_arn().data['Fn::Sub']}/{prefix}*")
    account = Sub("${AWS::AccountId}")
    here = pol.StringEquals("s3:ResourceAccount", account)
    return [
        _allow("AppendLockedReleaseRecords", "s3", ["PutObject"], [records], pol.Condition(pol.StringEquals(
            {"s3:ResourceAccount": account, "s3:object-lock-mode": "COMPLIANCE", "s3:if-none-match": "*"}))),
        # The retention a record is written with (Object Lock asks for it on a put that names one); COMPLIANCE
        # retention can only be lengthened.
        _allow("LockReleaseRecords", "s3", ["PutObjectRetention"], [records], pol.Condition(here)),
        _allow("ReadReleaseRecords", "s3", LEDGER_RECORD_READS, [records], pol.Condition(here)),
        _allow("ListReleaseRecords", "s3", ["ListBucket"], [_ledger_arn()],
               pol.Condition([here, _under_prefix(prefix)])),
    ]


def _release_ledger(t: Template, p: dict, ci_roles: list[iam_res.Role]) -> s3.Bucket:
    """The ledger bucket: Object Lock (COMPLIANCE, release_retention_days by default), versioned, private,
    TLS-only, retained; its policy refuses every CI role the calls that would erase or unguard a record, and
    lets the promotion target's deploy and plan roles read this environment's records."""
    t.add_condition(PROMOTION_TARGET, Not(Equals(Ref(contract.PROMOTION_READER_ACCOUNT_PARAMETER), "")))
    bucket = t.add_resource(storage.retained(storage.private_bucket(
        "ReleaseLedgerBucket",
        "release_ledger",
        # Records never expire (their lock says how long they must stay); only an upload cut short is cleared.
        s3.LifecycleRule(Id="abort-incomplete-uploads", Status="Enabled",
                         AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1)),
        ObjectLockEnabled=True,
        ObjectLockConfiguration=s3.ObjectLockConfiguration(ObjectLockEnabled="Enabled", Rule=s3.ObjectLockRule(
            DefaultRetention=s3.DefaultRetention(Mode="COMPLIANCE", Days=Ref(p["release_retention_days"])))),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        Metadata=checkov_skip(
            ("CKV_AWS_18", "each record is written once, by the deploy role, and locked; who wrote it is in the "
                           "record (caller ARN, GitHub actor and run) and CloudTrail holds the bucket's calls; "
                           "server access logs would need a second bucket for a handful of writes a day"),
        ),
    )))
    prefix = _records_prefix("${Environment}")
    records = Sub(f"${{ReleaseLedgerBucket.Arn}}/{prefix}*")
    readers = [Sub(f"arn:${{AWS::Partition}}:iam::${{{contract.PROMOTION_READER_ACCOUNT_PARAMETER}}}:role/"
                   + contract.resource_name(kind, "${" + contract.PROMOTION_READER_PROJECT_PARAMETER + "}"))
               for kind in ("oidc_deploy_role", "plan_role")]
    # The target's account as principal, narrowed to its two roles by aws:PrincipalArn: a role named as a
    # principal must exist when the policy is put, and the target's stack may come after this one.
    reader = {"AWS": Sub(f"arn:${{AWS::Partition}}:iam::${{{contract.PROMOTION_READER_ACCOUNT_PARAMETER}}}:root")}
    by_reader_roles = {"ArnEquals": {"aws:PrincipalArn": readers}}
    t.add_resource(storage.bucket_policy(
        "ReleaseLedgerBucketPolicy",
        bucket,
        {
            "Sid": "NeverByCiRoles",
            "Effect": "Deny",
            "Principal": "*",
            "Action": [f"s3:{a}" for a in LEDGER_NEVER_BY_CI],
            "Resource": [GetAtt(bucket, "Arn"), Sub("${ReleaseLedgerBucket.Arn}/*")],
            "Condition": {"ArnEquals": {"aws:PrincipalArn": [GetAtt(r, "Arn") for r in ci_roles]}},
        },
        If(PROMOTION_TARGET, {
            "Sid": "PromotionTargetReadsRecords",
            "Effect": "Allow",
            "Principal": reader,
            "Action": [f"s3:{a}" for a in LEDGER_RECORD_READS],
            "Resource": records,
            "Condition": by_reader_roles,
        }, Ref("AWS::NoValue")),
        If(PROMOTION_TARGET, {
            "Sid": "PromotionTargetListsRecords",
            "Effect": "Allow",
            "Principal": reader,
            "Action": "s3:ListBucket",
            "Resource": GetAtt(bucket, "Arn"),
            "Condition": {**by_reader_roles, **pol.Condition(_under_prefix(prefix)).JSONrepr()},
        }, Ref("AWS::NoValue")),
    ))
    return bucket


def _promotion_read_statements() -> list[pol.Statement]:
    """The promotion source's records (prod reads staging's), read by the gate that checks an image ran there
    first (deployer/engine/promotion.py): in the source's bucket, under the source's prefix, reads only."""
    bucket = Sub(f"arn:${{AWS::Partition}}:s3:::${{{contract.PROMOTION_SOURCE_LEDGER_PARAMETER}}}")
    prefix = _records_prefix("${" + contract.PROMOTION_SOURCE_ENVIRONMENT_PARAMETER + "}")
    return [
        _allow("ReadPromotionSourceRecords", "s3", LEDGER_RECORD_READS, [Sub(f"{bucket.data['Fn::Sub']}/{prefix}*")]),
        _allow("ListPromotionSourceRecords", "s3", ["ListBucket"], [bucket], pol.Condition(_under_prefix(prefix))),
    ]


def _add_promotion_read_policy(t: Template, roles: list[iam_res.Role]) -> None:
    """Only where the promotion source pins an account (PromotionSourceLedger given): its reads, for the
    deploy and plan roles."""
    t.add_condition(PROMOTION_SOURCE, Not(Equals(Ref(contract.PROMOTION_SOURCE_LEDGER_PARAMETER), "")))
    t.add_resource(iam_res.ManagedPolicy(
        "PromotionSourceReadPolicy",
        Condition=PROMOTION_SOURCE,
        Description="The deploy and plan jobs read the promotion source's release records",
        Roles=[Ref(r) for r in roles],
        PolicyDocument=pol.PolicyDocument(Version="2012-10-17", Statement=_promotion_read_statements()),
    ))


# -- the plan role ------------------------------------------------------------------------------------------------

# What `deploy.py ENV plan` calls on a project stack (flow.deploy_stack in REVIEW mode, plan_file.stack_state):
# make, wait for, describe and (when it changes nothing) delete a change set, and read the stack it is made
# against. Never ExecuteChangeSet, SetStackPolicy, DeleteStack or UpdateTerminationProtection: apply does those
# as the deploy role, behind prod's reviewers.
PLAN_STACK_ACTIONS = (
    "DeleteChangeSet", "DescribeChangeSet", "DescribeEvents", "DescribeStackEvents", "DescribeStackResources",
    "DescribeStacks", "GetTemplate", "ListChangeSets", "ListStackResources",
)


def _plan_policy(execution_role: iam_res.Role) -> pol.PolicyDocument:
    stack_arns = _app_stack_arns()
    return pol.PolicyDocument(Version="2012-10-17", Statement=[
        _allow("PlanProjectStacks", "cloudformation", PLAN_STACK_ACTIONS, stack_arns),
        *_change_set_statements(execution_role, stack_arns),
    ])


def _add_outside_production_policies(t: Template, execution_role: iam_res.Role, deploy_role: iam_res.Role) -> None:
    """What CI holds only outside prod (CI_MAY_DELETE): deleting a stack or the load balancer, and changing a
    bucket's policy, public-access block or versioning. IAM cannot tell a legitimate one from an attack, and
    CloudFormation needs none of them to update prod; in prod an admin's deploy does them."""
    stack_arns = _app_stack_arns()
    # A stack left in ROLLBACK_COMPLETE or REVIEW_IN_PROGRESS is deleted and created again (deploy.py).
    t.add_resource(iam_res.ManagedPolicy(
        "DeleteStacksOutsideProductionPolicy",
        Condition=CI_MAY_DELETE,
        Description="Outside prod only: the deploy job may delete this project's app stacks",
        Roles=[Ref(deploy_role)],
        PolicyDocument=pol.PolicyDocument(Version="2012-10-17", Statement=[
            _allow("DeleteProjectStacks", "cloudformation", CFN_DELETE_ACTIONS, stack_arns),
        ]),
    ))
    t.add_resource(iam_res.ManagedPolicy(
        "DeleteOutsideProductionDeployPolicy",
        Condition=CI_MAY_DELETE,
        Description="Outside prod only: CloudFormation may delete the ALB and change the buckets' guards",
        Roles=[Ref(execution_role)],
        PolicyDocument=pol.PolicyDocument(Version="2012-10-17", Statement=[
            _allow("DeleteProjectLoadBalancer", "elasticloadbalancing", _ELB_DELETE, [_load_balancers()]),
            _allow("BucketGuards", "s3", _S3_BUCKET_GUARDS, _bucket_arns()),
        ]),
    ))


def _bucket_arns() -> list[Sub]:
    return [_arn("s3", _pattern(kind), region=False, account=False) for kind in ("unhandled_bucket", "alb_logs_bucket")]


# -- the permissions boundary ---------------------------------------------------------------------------------


def permissions_boundary_policy() -> pol.PolicyDocument:
    """What the flow-log role, the task execution role and the task role need, on this project's resources;
    and never IAM, Organizations, another role, or a way out of the boundary."""
    flow_logs = _arn("logs", f"log-group:{_pattern('flow_log_group')}")
    container_logs = _arn("logs", f"log-group:{_pattern('container_log_group')}")
    log_groups = [flow_logs, container_logs] + [Sub(f"{g.data['Fn::Sub']}:*") for g in (flow_logs, container_logs)]
    bucket = _arn("s3", _pattern("unhandled_bucket"), region=False, account=False)
    own_roles = _stack_role_arns()
    return pol.PolicyDocument(Version="2012-10-17", Statement=[
        # network's flow-log role.
        _allow("FlowLogsAndContainerLogs", "logs", ["CreateLogStream", "DescribeLogStreams", "PutLogEvents"],
               log_groups),
        # compute's task execution role (its AWS managed policy, cut down to this project): pull the image,
        # read the secret. GetAuthorizationToken: the reference lists no resource type for it.
        _allow("PullImageLogin", "ecr", ["GetAuthorizationToken"], ["*"]),
        _allow("PullImage", "ecr", ["BatchCheckLayerAvailability", "BatchGetImage", "GetDownloadUrlForLayer"],
               [_repository_arn()]),
        _allow("ReadAppSecret", "secretsmanager", ["GetSecretValue"],
               [_secret_arn()]),
        # compute's task role: the configured model (this stack's BedrockModelId, the params key compute reads
        # too) and the bucket.
        _allow("InvokeModel", "bedrock", ["InvokeModel", "InvokeModelWithResponseStream"],
               [_arn("bedrock", "foundation-model/${" + params.BY_KEY["bedrock_model_id"].cfn_name + "}",
                     account=False)]),
        _allow("StoreUnhandledQueries", "s3", ["PutObject"], [Sub(f"{bucket.data['Fn::Sub']}/unhandled/*")]),
        pol.Statement(Sid="NeverIamOrOrganizations", Effect=pol.Deny,
                      Action=[pol.Action("iam", "*"), pol.Action("organizations", "*")], Resource=["*"]),
        # A role of the app stacks may not become another role (or leave the boundary through one).
        pol.Statement(Sid="NeverAssumeRolesOutsideTheProject", Effect=pol.Deny,
                      Action=[pol.Action("sts", "AssumeRole"), pol.Action("sts", "AssumeRoleWithSAML"),
                              pol.Action("sts", "AssumeRoleWithWebIdentity")],
                      NotResource=own_roles),
        # Redundant with the IAM deny above, and kept explicit: the boundary is never removed, replaced or
        # rewritten by a role it bounds.
        pol.Statement(Sid="NeverLeaveTheBoundary", Effect=pol.Deny,
                      Action=[pol.Action("iam", a) for a in (
                          "CreatePolicyVersion", "DeletePolicy", "DeletePolicyVersion", "DeleteRolePermissionsBoundary",
                          "PutRolePermissionsBoundary", "SetDefaultPolicyVersion")],
                      Resource=[boundary_arn()] + own_roles),
    ])


# -- the CloudFormation execution role ------------------------------------------------------------------------


def _execution_role(t: Template) -> iam_res.Role:
    trust = pol.PolicyDocument(Version="2012-10-17", Statement=[pol.Statement(
        Effect=pol.Allow,
        Principal=pol.Principal("Service", ["cloudformation.amazonaws.com"]),
        Action=[pol.Action("sts", "AssumeRole")],
    )])
    role = t.add_resource(iam_res.Role(
        "CfnExecutionRole",
        RoleName=naming.resource_name_sub("cfn_execution_role"),
        Description="CloudFormation creates the network, data, compute and waf stacks' resources as this role",
        AssumeRolePolicyDocument=trust,
    ))
    # One managed policy per area: a role's inline policies share 10,240
    # characters, a managed policy has 6,144 of its own.
    for title, statements, skips in _execution_policies():
        t.add_resource(iam_res.ManagedPolicy(
            title,
            Description=f"{title}: what CloudFormation needs to deploy this project's stacks",
            Roles=[Ref(role)],
            PolicyDocument=pol.PolicyDocument(Version="2012-10-17", Statement=statements),
            **({"Metadata": checkov_skip(*skips)} if skips else {}),
        ))
    return role


_EC2_DESCRIBE = (
    "DescribeAccountAttributes", "DescribeAddresses", "DescribeAddressesAttribute", "DescribeAvailabilityZones",
    "DescribeFlowLogs", "DescribeInternetGateways", "DescribeNatGateways", "DescribeNetworkAcls",
    "DescribeNetworkInterfaces", "DescribePrefixLists", "DescribeRouteTables", "DescribeSecurityGroupRules",
    "DescribeSecurityGroups", "DescribeSubnets", "DescribeTags", "DescribeVpcEndpoints",
    "DescribeVpcEndpointServices", "DescribeVpcs",
)
# Creating: the new resource must carry the project's tag in the request
# (aws:RequestTag on the new resource's type), and whatever it goes into (a
# VPC, a subnet...) must already carry it (aws:ResourceTag). Each action's
# resource types are the reference's; CloudFormation tags these types on
# create (their registry schemas say tagOnCreate).
_EC2_CREATE = {
    # action: (types of the resource it creates, types of the resources it goes into)
    "AllocateAddress": (("elastic-ip",), ()),
    "CreateFlowLogs": (("vpc-flow-log",), ("vpc", "subnet", "network-interface")),
    "CreateInternetGateway": (("internet-gateway",), ()),
    "CreateNatGateway": (("natgateway",), ("subnet", "elastic-ip")),
    "CreateRouteTable": (("route-table",), ("vpc",)),
    "CreateSecurityGroup": (("security-group",), ("vpc",)),
    "CreateSubnet": (("subnet",), ("vpc",)),
    "CreateVpc": (("vpc",), ()),
    "CreateVpcEndpoint": (("vpc-endpoint",), ("vpc", "route-table", "subnet", "security-group")),
}
# Changing or deleting what exists, wiring it together included: only
# resources tagged with this project (CloudFormation copies the stack's
# Project tag onto every resource it tags).
_EC2_OWNED = (
    "AssociateRouteTable", "AttachInternetGateway", "AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress",
    "CreateRoute", "DeleteFlowLogs", "DeleteInternetGateway", "DeleteNatGateway", "DeleteRoute", "DeleteRouteTable",
    "DeleteSecurityGroup", "DeleteSubnet", "DeleteTags", "DeleteVpc", "DeleteVpcEndpoints", "DetachInternetGateway",
    "DisassociateRouteTable", "ModifySubnetAttribute", "ModifyVpcAttribute", "ModifyVpcEndpoint", "ReleaseAddress",
    "ReplaceRoute", "ReplaceRouteTableAssociation", "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress", "UpdateSecurityGroupRuleDescriptionsIngress",
)

# The buckets' create and update, plus every configuration the read handler
# looks at (an IMPORT of the retained bucket reads them all). Never
# DeleteBucket: both buckets are retained, CloudFormation never deletes them.
# The policy, public-access block and versioning: _S3_BUCKET_GUARDS.
_S3_BUCKET = (
    "CreateBucket", "GetAccelerateConfiguration", "GetAnalyticsConfiguration",
    "GetBucketAcl", "GetInventoryConfiguration", "GetIntelligentTieringConfiguration", "GetMetricsConfiguration",
    "GetBucketCORS", "GetBucketLocation", "GetBucketLogging", "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls", "GetBucketPolicy", "GetBucketPolicyStatus", "GetBucketPublicAccessBlock",
    "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite", "GetEncryptionConfiguration",
    "GetLifecycleConfiguration", "GetReplicationConfiguration", "ListBucket", "PutBucketOwnershipControls",
    "PutBucketTagging", "PutEncryptionConfiguration", "PutLifecycleConfiguration",
)
# What would open a bucket or lose what it holds once it exists. IAM has no condition key on a versioning
# status, a public-access setting or a policy's content, and AWS::S3::Bucket's handler is not published to
# show which calls an update repeats: outside prod the execution role holds them (a destroyed dev stack is
# re-created by CI); in prod only an admin's deploy changes them.
_S3_BUCKET_GUARDS = ("DeleteBucketPolicy", "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketVersioning")
# No SetRepositoryPolicy or DeleteRepositoryPolicy: the repository has no policy, and CloudFormation's update
# handler (aws-cloudformation-resource-providers-ecr, UpdateHandler) deletes one only after GetRepositoryPolicy
# finds it. PutImageTagMutability stays: that handler calls it on every update of a repository that sets
# ImageTagMutability (ours does), and no condition key narrows it. No DeleteRepository: it is retained.
_ECR_REPOSITORY = (
    "CreateRepository", "DeleteLifecyclePolicy", "DescribeRepositories", "GetLifecyclePolicy", "GetRepositoryPolicy",
    "ListTagsForResource", "PutImageScanningConfiguration", "PutImageTagMutability", "PutLifecyclePolicy",
    "TagResource", "UntagResource",
)
_SECRET = (
    "CreateSecret", "DeleteResourcePolicy", "DeleteSecret", "DescribeSecret", "GetResourcePolicy",
    "PutResourcePolicy", "TagResource", "UntagResource", "UpdateSecret",
)
# Log groups are retained (DeletionPolicy Retain): CloudFormation never calls DeleteLogGroup, and every one
# sets RetentionInDays, so never DeleteRetentionPolicy (the handler calls it only for a group without one).
# PutRetentionPolicy stays: the handler applies the template's retention on create and update, and IAM has no
# key on its value; the params floors hold prod's retention.
_LOG_GROUP = (
    "CreateLogGroup", "ListTagsForResource", "ListTagsLogGroup", "PutRetentionPolicy", "TagLogGroup", "TagResource",
    "UntagLogGroup", "UntagResource",
)
# What CloudFormation does to a role that cannot widen it: read, tag, delete, describe.
_IAM_ROLE_UNBOUNDED = (
    "DeleteRole", "GetRole", "GetRolePolicy", "ListAttachedRolePolicies", "ListInstanceProfilesForRole",
    "ListRolePolicies", "ListRoleTags", "TagRole", "UntagRole", "UpdateRole", "UpdateRoleDescription",
)
_ECS_CLUSTER = (
    "CreateCluster", "DeleteCluster", "DescribeClusters", "ListTagsForResource", "PutClusterCapacityProviders",
    "TagResource", "UntagResource", "UpdateCluster", "UpdateClusterSettings",
)
_ECS_SERVICE = (
    "CreateService", "DeleteService", "DescribeServices", "ListTagsForResource", "TagResource", "UntagResource",
    "UpdateService",
)
_ELB_DESCRIBE = (
    "DescribeListenerAttributes", "DescribeListenerCertificates", "DescribeListeners",
    "DescribeLoadBalancerAttributes", "DescribeLoadBalancers", "DescribeRules", "DescribeSSLPolicies",
    "DescribeTags", "DescribeTargetGroupAttributes", "DescribeTargetGroups", "DescribeTargetHealth",
)
_ELB_CREATE = ("CreateLoadBalancer", "CreateTargetGroup")
# Listeners carry no tags (their CloudFormation schema: taggable false); their
# ARN holds the load balancer's fixed name, which is what bounds them.
_ELB_LISTENER = (
    "AddListenerCertificates", "DeleteListener", "ModifyListener", "ModifyListenerAttributes",
    "RemoveListenerCertificates",
)
# DeleteLoadBalancer is _ELB_DELETE, outside prod only.
_ELB_OWNED = (
    "DeleteTargetGroup", "ModifyLoadBalancerAttributes", "ModifyTargetGroup",
    "ModifyTargetGroupAttributes", "RemoveTags", "SetIpAddressType", "SetSecurityGroups", "SetSubnets",
)
# What CloudFormation does to the certificate compute requests (hosted_zone_id): ACM's actions on a
# certificate, tagged with the project from its request on.
_CERTIFICATE = ("AddTagsToCertificate", "DeleteCertificate", "DescribeCertificate", "ListTagsForCertificate")
# The records compute writes in the hosted zone: the certificate's validation CNAME and the API's alias A.
_RECORD_TYPES = ("A", "CNAME")
_ELB_DELETE = ("DeleteLoadBalancer",)
_SCALING = ("DeleteScalingPolicy", "DeregisterScalableTarget", "PutScalingPolicy", "RegisterScalableTarget")
_SCALING_DESCRIBE = ("DescribeScalableTargets", "DescribeScalingActivities", "DescribeScalingPolicies")
_WAF = (
    "CreateWebACL", "DeleteWebACL", "GetLoggingConfiguration", "GetWebACL", "ListResourcesForWebACL",
    "ListTagsForResource", "TagResource", "UntagResource", "UpdateWebACL",
)
_ALARM_PUTS = ("PutCompositeAlarm", "PutMetricAlarm")
_ALARMS = ("DeleteAlarms", "ListTagsForResource", "PutCompositeAlarm", "PutMetricAlarm",
           "TagResource", "UntagResource")
_TOPIC = ("CreateTopic", "DeleteTopic", "GetTopicAttributes", "ListSubscriptionsByTopic", "ListTagsForResource",
          "SetTopicAttributes", "TagResource", "UntagResource")
_KEY = ("DescribeKey", "EnableKeyRotation", "GetKeyPolicy", "GetKeyRotationStatus", "ListResourceTags",
        "PutKeyPolicy", "ScheduleKeyDeletion", "TagResource", "UntagResource", "UpdateKeyDescription")
_ALIAS = ("CreateAlias", "DeleteAlias", "UpdateAlias")
_ALERT_RULE = ("DeleteRule", "DescribeRule", "ListTagsForResource", "ListTargetsByRule", "PutRule", "RemoveTargets",
               "TagResource", "UntagResource")
_BUDGET = ("ListTagsForResource", "ModifyBudget", "TagResource", "UntagResource", "ViewBudget")


def _ec2(resource_type: str) -> Sub:
    return _arn("ec2", f"{resource_type}/*")


def _elb(resource: str) -> Sub:
    return _arn("elasticloadbalancing", resource)


def _load_balancers() -> Sub:
    """The compute stack's ALB, by its fixed name (the id after it is AWS's)."""
    return _elb(f"loadbalancer/app/{_pattern('load_balancer')}/*")


def _web_acl_arn() -> Sub:
    return _arn("wafv2", f"regional/webacl/{_pattern('web_acl')}/*")


def _network_statements() -> list[pol.Statement]:
    tag = contract.PROJECT_TAG
    return [
        # EC2 describe calls: the reference lists no resource type for them.
        _allow("Ec2Describe", "ec2", _EC2_DESCRIBE, ["*"]),
        _allow("Ec2DescribeVpcAttribute", "ec2", ["DescribeVpcAttribute"], [_ec2("vpc")]),
        # One statement grants every create on every created type, so CreateSubnet is granted on VPCs and
        # CreateNatGateway on subnets too: each resource named must carry no Project tag but this project's, or
        # the request's own tag would put a subnet into another environment's VPC. What is being created has
        # no tags yet (IfExists); everything CloudFormation creates here carries the tag.
        _allow("Ec2CreateTagged", "ec2", _EC2_CREATE,
               [_ec2(kind) for kind in sorted({k for new, _ in _EC2_CREATE.values() for k in new})],
               pol.Condition([pol.StringEquals(f"aws:RequestTag/{tag}", _PROJECT_VALUE),
                              pol.StringEqualsIfExists(f"aws:ResourceTag/{tag}", _PROJECT_VALUE)])),
        _allow("Ec2CreateIntoOwned", "ec2", [a for a, (_, into) in _EC2_CREATE.items() if into],
               [_ec2(kind) for kind in sorted({k for _, into in _EC2_CREATE.values() for k in into})], _owned(tag)),
        _allow("Ec2ChangeOwned", "ec2", _EC2_OWNED, [_arn("ec2", "*")], _owned(tag)),
        # Tags only as part of one of those creates: never onto a resource that exists.
        _allow("Ec2TagOnCreate", "ec2", ["CreateTags"], [_arn("ec2", "*")],
               pol.Condition(pol.StringEquals("ec2:CreateAction", sorted(_EC2_CREATE)))),
    ]


def _log_statements() -> list[pol.Statement]:
    log_groups = [_pattern("container_log_group"), _pattern("flow_log_group"), _pattern("waf_log_group")]
    log_group_arns = [_arn("logs", f"log-group:{g}") for g in log_groups] + \
        [_arn("logs", f"log-group:{g}:*") for g in log_groups]
    return [
        # The flow logs' group (network), the container's (compute) and WAF's (waf), by name.
        _allow("LogGroups", "logs", _LOG_GROUP, log_group_arns),
        # DescribeLogGroups (CloudFormation's read of a log group, WAF logging's check of its destination) and
        # the log delivery WAF logging sets up: the reference lists no resource type for these.
        _allow("LogsAccountWide", "logs", ["CreateLogDelivery", "DeleteLogDelivery", "DescribeLogGroups",
                                           "DescribeResourcePolicies", "GetLogDelivery", "ListLogDeliveries",
                                           "PutResourcePolicy", "UpdateLogDelivery"], ["*"]),
    ]


def _data_statements() -> list[pol.Statement]:
    return [
        _allow("Buckets", "s3", _S3_BUCKET, _bucket_arns()),
        _allow("Repository", "ecr", _ECR_REPOSITORY, [_repository_arn()]),
        _allow("AppSecret", "secretsmanager", _SECRET, [_secret_arn()]),
        # GenerateSecretString: a random password is not a resource.
        _allow("SecretPassword", "secretsmanager", ["GetRandomPassword"], ["*"]),
    ]


def _compute_statements() -> list[pol.Statement]:
    tag = contract.PROJECT_TAG
    cluster = _pattern("cluster")
    load_balancers = _load_balancers()
    return [
        _allow("Cluster", "ecs", _ECS_CLUSTER, [_arn("ecs", f"cluster/{cluster}")]),
        _allow("Service", "ecs", _ECS_SERVICE, [_arn("ecs", f"service/{cluster}/{_pattern('service')}")]),
        _allow("TaskDefinitions", "ecs", ["ListTagsForResource", "RegisterTaskDefinition", "TagResource",
                                          "UntagResource"],
               [_arn("ecs", f"task-definition/{_pattern('service')}:*")]),
        # A read: the reference lists no resource type for DescribeTaskDefinition. No DeregisterTaskDefinition
        # (on "*" it would reach every environment's): compute retains its task definitions.
        _allow("TaskDefinitionsRead", "ecs", ["DescribeTaskDefinition"], ["*"]),
        _allow("LoadBalancingDescribe", "elasticloadbalancing", _ELB_DESCRIBE, ["*"]),
        _allow("LoadBalancingCreateTagged", "elasticloadbalancing", _ELB_CREATE,
               [load_balancers, _elb("targetgroup/*/*")], _requested(tag)),
        _allow("LoadBalancingTagOnCreate", "elasticloadbalancing", ["AddTags"],
               [load_balancers, _elb("targetgroup/*/*")],
               pol.Condition(pol.StringEquals("elasticloadbalancing:CreateAction", list(_ELB_CREATE)))),
        # The ALB's name is fixed and unique in the account and region: it alone bounds its listeners.
        _allow("ListenersOfTheProjectLoadBalancer", "elasticloadbalancing", ["CreateListener"], [load_balancers]),
        _allow("Listeners", "elasticloadbalancing", _ELB_LISTENER,
               [_elb(f"listener/app/{_pattern('load_balancer')}/*/*")]),
        _allow("LoadBalancingChangeOwned", "elasticloadbalancing", _ELB_OWNED,
               [load_balancers, _elb("targetgroup/*/*")], _owned(tag)),
        # Associating the web ACL: the reference lists no resource type for SetWebAcl.
        _allow("LoadBalancingSetWebAcl", "elasticloadbalancing", ["SetWebAcl"], ["*"]),
        # Scalable targets' ARNs are random ids, and CloudFormation never tags one (the registry schema of
        # AWS::ApplicationAutoScaling::ScalableTarget: taggable false), so no aws:ResourceTag can name the
        # project's: the namespace is the one key left (docs/threat-model.md, two environments in one account).
        _allow("ScalableTarget", "application-autoscaling", _SCALING,
               [_arn("application-autoscaling", "scalable-target/*")],
               pol.Condition(pol.StringEquals("application-autoscaling:service-namespace", "ecs"))),
        _allow("ScalingDescribe", "application-autoscaling", _SCALING_DESCRIBE, ["*"]),
        # Target tracking creates and deletes its alarms as the caller.
        _allow("TargetTrackingAlarms", "cloudwatch", ["DeleteAlarms", "DescribeAlarms"],
               [_arn("cloudwatch", f"alarm:TargetTracking-service/{cluster}/*")]),
        # Their one action is the project's own service's scaling policy, never another environment's.
        _allow("TargetTrackingAlarmsScaleOnlyTheService", "cloudwatch", ["PutMetricAlarm"],
               [_arn("cloudwatch", f"alarm:TargetTracking-service/{cluster}/*")],
               pol.Condition(pol.ForAllValuesStringLike("cloudwatch:AlarmActions", _arn(
                   "autoscaling", f"scalingPolicy:*:resource/ecs/service/{cluster}/{_pattern('service')}"
                                  ":policyName/*")))),
    ]


def _certificate_and_dns_statements() -> list[pol.Statement]:
    """compute's HTTPS with hosted_zone_id: the certificate it requests and the records it writes."""
    tag = contract.PROJECT_TAG
    # Empty hosted_zone_id (certificate_arn given, or plain HTTP): "hostedzone/" names no zone at all.
    hosted_zone = Sub("arn:${AWS::Partition}:route53:::hostedzone/${HostedZoneId}")
    return [
        # RequestCertificate has no resource type (the reference): the request must carry the project's tag
        # and ask for DNS validation; everything after is on certificates that carry the tag.
        _allow("CertificateRequestTagged", "acm", ["RequestCertificate"], ["*"],
               pol.Condition(pol.StringEquals({f"aws:RequestTag/{tag}": _PROJECT_VALUE,
                                               "acm:ValidationMethod": "DNS"}))),
        _allow("ProjectCertificates", "acm", _CERTIFICATE, [_arn("acm", "certificate/*")], _owned(tag)),
        # The one hosted zone of hosted_zone_id; record sets carry no tags, so the zone and the record types
        # are all IAM can bound.
        _allow("HostedZoneRecords", "route53", ["ChangeResourceRecordSets"], [hosted_zone],
               pol.Condition(pol.ForAllValuesStringEquals("route53:ChangeResourceRecordSetsRecordTypes",
                                                          list(_RECORD_TYPES)))),
        _allow("HostedZoneRecordsRead", "route53", ["ListResourceRecordSets"], [hosted_zone]),
        # A record change's progress: changes have ids of Route 53's, named by no zone.
        _allow("HostedZoneChanges", "route53", ["GetChange"], [Sub("arn:${AWS::Partition}:route53:::change/*")]),
    ]


def _observability_statements() -> list[pol.Statement]:
    tag = contract.PROJECT_TAG
    topic = _arn("sns", _pattern("alarm_topic"))
    return [
        _allow("ProjectAlarms", "cloudwatch", set(_ALARMS) - set(_ALARM_PUTS), alarms.alarm_arns()),
        # An alarm's actions run when it changes state, as CloudWatch: an alarm of this project may notify its
        # topic and do nothing else (cloudwatch:AlarmActions holds the ALARM, OK and INSUFFICIENT_DATA actions
        # alike), never stop an instance or move another environment's scaling.
        _allow("ProjectAlarmsNotifyOnlyTheTopic", "cloudwatch", _ALARM_PUTS, alarms.alarm_arns(),
               pol.Condition(pol.ForAllValuesStringEquals("cloudwatch:AlarmActions", topic))),
        # CloudFormation reads each alarm back after writing it. A read on "*": CloudWatch returns a composite
        # alarm only to a caller whose DescribeAlarms is scoped to "*" (the CloudWatch API Reference).
        _allow("AlarmsRead", "cloudwatch", ["DescribeAlarms"], ["*"]),
        _allow("ProjectDashboard", "cloudwatch", ["DeleteDashboards", "GetDashboard", "PutDashboard"],
               [_arn("cloudwatch", f"dashboard/{_pattern('dashboard')}", region=False)]),
        _allow("AlarmTopic", "sns", _TOPIC, [topic]),
        # The topic's one subscription is an email address (never an endpoint that would run code on it). No
        # Unsubscribe or SetSubscriptionAttributes: subscriptions have no resource type in the reference, so
        # either would reach every subscription of the account. The topic's handler unsubscribes only when the
        # address changes or goes, which is an admin's deploy.
        _allow("AlarmTopicEmailSubscription", "sns", ["Subscribe"], [topic],
               pol.Condition(pol.StringEquals("sns:Protocol", "email"))),
        # The reference lists no resource type for CreateKey and ListAliases: the key must carry the tag.
        _allow("AlarmKeyCreateTagged", "kms", ["CreateKey"], ["*"], _requested(tag)),
        _allow("AlarmKeyAliases", "kms", ["ListAliases"], ["*"]),
        _allow("AlarmKeyOwned", "kms", _KEY + _ALIAS, [_arn("kms", "key/*")], _owned(tag)),
        _allow("AlarmKeyAlias", "kms", _ALIAS, [_arn("kms", _pattern("alarm_key_alias"))]),
        # compute's alert rules and budget (templates/alerts.py), by name; the rules may target the alarm topic
        # only.
        _allow("AlertRules", "events", _ALERT_RULE, alerts.rule_arns()),
        _allow("AlertRulesTargetTheAlarmTopic", "events", ["PutTargets"], alerts.rule_arns(),
               pol.Condition(pol.ForAllValuesArnEquals("events:TargetArn", topic))),
        _allow("MonthlyBudget", "budgets", _BUDGET, [alerts.budget_arn()]),
    ]


def _stack_role_statements() -> list[pol.Statement]:
    roles = _stack_role_arns()
    bounded = pol.StringEquals("iam:PermissionsBoundary", boundary_arn())
    return [
        # A role of the stacks is created, and its policies or boundary changed, only if it carries the boundary.
        _allow("StackRolesWithBoundary", "iam", set(IAM_BOUNDED_ROLE_ACTIONS) - {"AttachRolePolicy",
                                                                                   "DetachRolePolicy"},
               roles, pol.Condition(bounded)),
        _allow("StackRolesManagedPolicy", "iam", ["AttachRolePolicy", "DetachRolePolicy"], roles,
               pol.Condition([bounded, pol.ArnEquals("iam:PolicyARN", [
                   Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}") for name in ATTACHABLE_MANAGED_POLICIES
               ])])),
        # Never UpdateAssumeRolePolicy: who may assume a role is an admin's deploy (docs/runbook.md).
        _allow("StackRolesReadTagDelete", "iam", _IAM_ROLE_UNBOUNDED, roles),
        _allow("PassStackRoles", "iam", ["PassRole"], roles,
               pol.Condition(pol.StringEquals("iam:PassedToService", list(ROLE_CONSUMERS)))),
        _allow("ServiceLinkedRoles", "iam", ["CreateServiceLinkedRole"],
               [_arn("iam", "role/aws-service-role/*", region=False)],
               pol.Condition(pol.StringEquals("iam:AWSServiceName", list(SERVICE_LINKED_ROLE_SERVICES)))),
    ]


def _waf_statements() -> list[pol.Statement]:
    web_acl = _web_acl_arn()
    waf_log_group = _arn("logs", f"log-group:{_pattern('waf_log_group')}")
    return [
        _allow("WebAcl", "wafv2", _WAF, [web_acl]),
        # The web ACL's rules name AWS managed rule groups: creating or updating it authorizes those too
        # (they are read, never changed).
        _allow("ManagedRuleSets", "wafv2", ["CreateWebACL", "UpdateWebACL"],
               [_arn("wafv2", "regional/managedruleset/*/*")]),
        # WAF's actions accept no tag condition (the reference): the ALB side is the project's ALB by name.
        _allow("WebAclAssociation", "wafv2", ["AssociateWebACL", "DisassociateWebACL", "GetWebACLForResource"],
               [web_acl, _load_balancers()]),
        _allow("WebAclLogging", "wafv2", ["PutLoggingConfiguration"], [web_acl],
               pol.Condition(pol.ArnLike("wafv2:LogDestinationResource", [waf_log_group, Sub(
                   f"{waf_log_group.data['Fn::Sub']}:*")]))),
        _allow("WebAclLoggingOff", "wafv2", ["DeleteLoggingConfiguration"], [web_acl]),
    ]


# One managed policy per area (logical id, the statements it holds, its checkov exceptions): a managed policy
# holds 6,144 characters, so each stack's statements go where they fit.
_EXECUTION_POLICIES = (
    ("NetworkAndLogsDeployPolicy", (_network_statements, _log_statements), (
        ("CKV_AWS_111", "LogsAccountWide: the reference lists no resource type for CreateLogDelivery, "
                        "DeleteLogDelivery, UpdateLogDelivery and PutResourcePolicy; AWS authorizes them on * only"),
    )),
    ("DataDeployPolicy", (_data_statements,), ()),
    ("ComputeDeployPolicy", (_compute_statements,), (
        ("CKV_AWS_111", "LoadBalancingSetWebAcl: the reference lists no resource type for SetWebAcl; AWS "
                        "authorizes it on * only"),
    )),
    ("CertificateAndDnsDeployPolicy", (_certificate_and_dns_statements,), (
        ("CKV_AWS_111", "CertificateRequestTagged: the reference lists no resource type for RequestCertificate; "
                        "the request must carry the Project tag (aws:RequestTag) and ask for DNS validation"),
    )),
    ("ObservabilityDeployPolicy", (_observability_statements,), (
        ("CKV_AWS_111", "AlarmKeyCreateTagged: the reference lists no resource type for CreateKey; it requires "
                        "the Project tag in the request (aws:RequestTag)"),
    )),
    ("IdentityAndWafDeployPolicy", (_stack_role_statements, _waf_statements), ()),
)


def _execution_policies() -> list[tuple[str, list[pol.Statement], tuple]]:
    """(logical id, statements, checkov exceptions) of each managed policy of the execution role."""
    return [(title, [s for part in parts for s in part()], skips) for title, parts, skips in _EXECUTION_POLICIES]
