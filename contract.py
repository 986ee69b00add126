"""The contract between the templates, the deployer and the app: every name this project spells.

Stack keys and the stack graph, the outputs each stack exports, the names of
the resources the deployer looks up, the container's environment variables
and secret keys, the CI access stack's outputs and the stack tags. The
templates build from it, the deployer and the app's tests read it; nothing
else spells these names.

Plain Python, no troposphere: importing it costs nothing, so the deployer's
verbs that never render a template (status, outputs, health...) never load the
template library.

Inside a template a name is a ``Fn::Sub`` over the ``ProjectName`` parameter
(``templates/naming.py`` makes those); outside it is a plain string made here.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- stacks and the graph ----

NETWORK = "network"
DATA = "data"
COMPUTE = "compute"
WAF = "waf"
# The CI access stack (GitHub OIDC provider, CI roles, the CloudFormation
# execution role): deployed once by an admin, only when named with --stacks.
CI_ACCESS = "github-oidc"


@dataclass(frozen=True)
class StackSpec:
    key: str
    depends_on: tuple[str, ...]  # stacks whose exports it imports
    module: str  # templates.<module> builds it
    optional: bool = False  # deployed only when named with --stacks


# In dependency order. A test checks depends_on equals the templates' real Fn::ImportValue's.
STACKS: tuple[StackSpec, ...] = (
    StackSpec(NETWORK, (), "network"),
    StackSpec(DATA, (), "data"),
    StackSpec(COMPUTE, (NETWORK, DATA), "compute"),
    StackSpec(WAF, (COMPUTE,), "waf"),
    StackSpec(CI_ACCESS, (), "github_oidc", optional=True),
)
BY_KEY = {s.key: s for s in STACKS}
APP_STACKS = tuple(s.key for s in STACKS if not s.optional)  # what a plain `deploy.py ENV` deploys

PROJECT_PARAMETER = "ProjectName"

# The environment whose stacks CI may change but never delete (termination protection, the CI roles'
# policies), and whose names stay the original ia-comafi-* ones.
PRODUCTION = "prod"

# ---- outputs ----
# Exported outputs are exported as "{project}-{OutputName}"; a stack imports
# another's by that name. EXPORTS says which stack exports which.

VPC_ID = "VpcId"
PUBLIC_SUBNET_IDS = "PublicSubnetIds"
APP_SUBNET_IDS = "AppSubnetIds"
APP_ASSIGN_PUBLIC_IP = "AppAssignPublicIp"

SECRET_ARN = "SecretArn"
UNHANDLED_BUCKET_NAME = "UnhandledBucketName"
UNHANDLED_BUCKET_ARN = "UnhandledBucketArn"
REPOSITORY_NAME = "RepositoryName"
REPOSITORY_URI = "RepositoryUri"
REPOSITORY_ARN = "RepositoryArn"

ALB_ARN = "AlbArn"
ALB_DNS_NAME = "AlbDnsName"
API_URL = "ApiUrl"
CLUSTER_NAME = "ClusterName"
SERVICE_NAME = "ServiceName"
CONTAINER_LOG_GROUP_NAME = "ContainerLogGroupName"
TARGET_GROUP_ARN = "TargetGroupArn"
ALARM_TOPIC_ARN = "AlarmTopicArn"  # compute: the SNS topic every alarm notifies (the waf stack's alarm too)

EXPORTS: dict[str, tuple[str, ...]] = {
    NETWORK: (VPC_ID, PUBLIC_SUBNET_IDS, APP_SUBNET_IDS, APP_ASSIGN_PUBLIC_IP),
    DATA: (SECRET_ARN, UNHANDLED_BUCKET_NAME, UNHANDLED_BUCKET_ARN, REPOSITORY_NAME, REPOSITORY_URI, REPOSITORY_ARN),
    COMPUTE: (ALB_ARN, ALB_DNS_NAME, API_URL, CLUSTER_NAME, SERVICE_NAME, CONTAINER_LOG_GROUP_NAME,
              TARGET_GROUP_ARN, ALARM_TOPIC_ARN),
}

# Outputs that are not exported (nothing imports them; operators and the deployer read them).
WEB_ACL_ARN = "WebAclArn"
DASHBOARD_URL = "DashboardUrl"  # compute: the CloudWatch dashboard (`deploy.py ENV outputs` shows it)
# The alarms deploy.py passes as CloudFormation rollback triggers when it updates a stack: outputs holding
# alarm ARNs, read from the stack as deployed before the update (so the update that first creates them
# passes none: a trigger naming an alarm that does not exist yet fails the operation).
RELEASE_HEALTH_ALARM_ARN = "ReleaseHealthAlarmArn"  # compute: composite of 5xx rate, unhealthy hosts, latency
BLOCKED_REQUESTS_ALARM_ARN = "BlockedRequestsAlarmArn"  # waf: requests blocked by the WebACL spike
ROLLBACK_TRIGGER_OUTPUTS: dict[str, tuple[str, ...]] = {
    COMPUTE: (RELEASE_HEALTH_ALARM_ARN,),
    WAF: (BLOCKED_REQUESTS_ALARM_ARN,),
}

# The CI access stack's outputs. deploy.py reads EXECUTION_ROLE_OUTPUT to change
# every other stack through that role once an admin has deployed it.
EXECUTION_ROLE_OUTPUT = "CfnExecutionRoleArn"
DEPLOY_ROLE_OUTPUT = "DeployRoleArn"
OIDC_PROVIDER_OUTPUT = "OidcProviderArn"
BUILD_ROLE_OUTPUT = "BuildRoleArn"
PERMISSIONS_BOUNDARY_OUTPUT = "PermissionsBoundaryArn"
PLAN_ROLE_OUTPUT = "PlanRoleArn"  # the plan job's role: GitHub environment ENV-plan's secret AWS_PLAN_ROLE_ARN
RELEASE_LEDGER_OUTPUT = "ReleaseLedgerBucketName"
# Every role of the app stacks carries the CI stack's permissions boundary: the deployer passes the
# boundary's ARN (the output above) as this template parameter once the CI stack exists ("" before).
PERMISSIONS_BOUNDARY_PARAMETER = "PermissionsBoundaryArn"
# compute's monthly budget in USD: the cost estimate times budget_multiple, which generate.py and deploy.py
# compute from the params and pass as this template parameter ("0": no budget).
BUDGET_AMOUNT_PARAMETER = "MonthlyBudgetUsd"
# The promotion read across environments (promotion_source/promotion_target below): the CI access stack's
# parameters naming the OTHER environment's ledger and roles, which generate.py and deploy.py derive from that
# environment's params file (templates/params.promotion_values), "" when it pins no account.
# In the target's (prod's) stack: whose records its deploy and plan roles may read.
PROMOTION_SOURCE_LEDGER_PARAMETER = "PromotionSourceLedger"  # the source's ledger bucket
PROMOTION_SOURCE_ENVIRONMENT_PARAMETER = "PromotionSourceEnvironment"  # its records' prefix: releases/ENV/
# In the source's (staging's) stack: whose deploy and plan roles its ledger bucket lets read its records.
PROMOTION_READER_ACCOUNT_PARAMETER = "PromotionReaderAccount"
PROMOTION_READER_PROJECT_PARAMETER = "PromotionReaderProject"
PROMOTION_PARAMETERS = (PROMOTION_SOURCE_LEDGER_PARAMETER, PROMOTION_SOURCE_ENVIRONMENT_PARAMETER,
                        PROMOTION_READER_ACCOUNT_PARAMETER, PROMOTION_READER_PROJECT_PARAMETER)

# Every template declares this parameter and returns it as this output: the deployer passes the SHA-256 of the
# template body it sends, so DescribeStacks (which lists a stack's parameters) says which template a stack runs
# without a GetTemplate. "none" (the default): deployed by something else, the template is compared instead.
TEMPLATE_DIGEST_PARAMETER = "TemplateDigest"
TEMPLATE_DIGEST_OUTPUT = "TemplateDigest"
TEMPLATE_DIGEST_UNRECORDED = "none"

# ---- the image ----
# The stacks that run the API image. Their task definition names it by digest: the deployer resolves the tag it
# is given once per run and passes the digest as this template parameter (never a tag, which can move).
IMAGE_STACKS = (COMPUTE,)
IMAGE_DIGEST_PARAMETER = "ImageDigest"
IMAGE_DIGEST_PATTERN = r"sha256:[a-f0-9]{64}"
# After a deploy, the digest an environment runs carries the tag "{RELEASE_TAG_PREFIX}{env}-{UTC time}-{digest's
# first 8 hex digits}" (unique, as immutable tags must be, even for two images released in one second); the
# repository's lifecycle policy never expires an image with a tag of that prefix (templates/data.py).
RELEASE_TAG_PREFIX = "release-"
# The one tag that moves (the pipeline pushes it with every build); every other tag is immutable.
MUTABLE_IMAGE_TAG = "latest"
RELEASE_TAG_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def release_tag(environment: str, when, digest: str) -> str:
    """The tag of the release of image ``digest`` in ``environment`` at ``when`` (an aware datetime, UTC):
    release-prod-20261202T190102Z-1a2b3c4d."""
    return f"{RELEASE_TAG_PREFIX}{environment}-{when.strftime(RELEASE_TAG_TIME_FORMAT)}-{digest.partition(':')[2][:8]}"

# ---- stateful resources ----
# Logical ids of the data stack's retained resources. The data stack's policy denies replacing or
# deleting them, and the deployer refuses a change set that would, unless told --allow-replace ID.
SECRET_RESOURCE = "AppSecret"
UNHANDLED_BUCKET_RESOURCE = "UnhandledQueriesBucket"
REPOSITORY_RESOURCE = "ApiRepository"
PROTECTED_RESOURCES: dict[str, tuple[str, ...]] = {
    DATA: (SECRET_RESOURCE, UNHANDLED_BUCKET_RESOURCE, REPOSITORY_RESOURCE),
}

# ---- resource names ----
# (pattern, AWS length limit). {account} and {region} are the pseudo
# parameters inside templates, 12 characters and the region's name outside.
RESOURCE_NAMES = {
    "secret": ("{project}/app-secrets", 512),
    "cluster": ("{project}-cluster", 255),
    "service": ("{project}-api", 255),
    "container_log_group": ("/ecs/{project}/api", 512),
    "flow_log_group": ("/vpc/{project}/flow-logs", 512),
    "repository": ("{project}-api", 256),
    "unhandled_bucket": ("{project}-unhandled-{account}-{region}", 63),
    "web_acl": ("{project}-web-acl", 128),
    "oidc_deploy_role": ("{project}-github-deploy", 64),
    "cfn_execution_role": ("{project}-cfn-execution", 64),
    # deploy.py's bucket for templates over CloudFormation's inline limit.
    "deploy_artifacts": ("{project}-deploy-{account}-{region}", 63),
    # The release ledger (CI access stack; Object Lock): one JSON record per release under RELEASES_PREFIX/ENV/.
    "release_ledger": ("{project}-releases-{account}-{region}", 63),
    # The release safety net and the edge logs: alarms are named "{project}-<what>".
    "alarm_topic": ("{project}-alarms", 256),
    "alarm_key_alias": ("alias/{project}-alarms", 256),
    "alarm_prefix": ("{project}-", 255),
    "dashboard": ("{project}", 255),
    "waf_log_group": ("aws-waf-logs-{project}", 512),  # WAF accepts only log groups named aws-waf-logs-*
    # The CloudWatch Logs resource policy letting WAF's log delivery write to that group.
    "waf_log_policy": ("{project}-waf-log-delivery", 255),
    "alb_logs_bucket": ("{project}-alb-logs-{account}-{region}", 63),
    "permissions_boundary": ("{project}-boundary", 128),
    "build_role": ("{project}-github-build", 64),
    # The plan job's role: makes and reads change sets, never executes one (deploy.py ENV plan).
    "plan_role": ("{project}-github-plan", 64),
    # The app stacks' roles, "{project}-{stack}-{purpose}": fixed, so the execution role's IAM statements
    # name each one exactly and no other role can be created in their place.
    "flow_log_role": ("{project}-network-flow-logs", 64),
    "task_execution_role": ("{project}-compute-task-execution", 64),
    "task_role": ("{project}-compute-task", 64),
    # Elastic Load Balancing allows 32 characters: this is what binds project_name (longest_project_name).
    "load_balancer": ("{project}-alb", 32),
    # Who is told (templates/alerts.py): the EventBridge rules that tell the alarm topic of the CI roles'
    # sensitive calls (IAM's apart: its events reach EventBridge in us-east-1 only; the rest in two, since a
    # pattern holds 2,048 characters), the monthly budget, and the trail the CI access stack creates when the
    # account has none.
    "iam_calls_rule": ("{project}-ci-iam-calls", 64),
    "access_calls_rule": ("{project}-ci-access-calls", 64),
    "lifecycle_calls_rule": ("{project}-ci-lifecycle-calls", 64),
    "budget": ("{project}-monthly-cost", 100),
    "trail": ("{project}-trail", 128),
    "trail_bucket": ("{project}-trail-{account}-{region}", 63),
}
# Every role an app stack creates (names above): nothing else may be created, changed or passed by CI.
APP_ROLES = ("flow_log_role", "task_execution_role", "task_role")
ACCOUNT_ID_LENGTH = 12

RELEASES_PREFIX = "releases"

# deploy.py names its change sets "{CHANGE_SET_PREFIX}<time>-<id>"; the CI role
# may touch only change sets so named.
CHANGE_SET_PREFIX = "deploy-"

# ---- the container ----

CONTAINER_NAME = "api"
CONTAINER_PORT = 8000

# Plain environment variables of the task definition -> the params schema key
# whose value the template passes (None: the template computes it, from a
# pseudo parameter or an import). The app reads each as a field of
# app/settings.py:Settings (a test holds the two together).
CONTAINER_ENVIRONMENT: dict[str, str | None] = {
    "AWS_DEFAULT_REGION": None,  # AWS::Region
    "BEDROCK_MODEL_ID": "bedrock_model_id",
    "CACHE_TTL_DEFAULT": "cache_ttl_default",
    "CACHE_TTL_BENEFITS": "cache_ttl_benefits",
    "CACHE_ENABLED": "cache_enabled",
    "S3_BUCKET_UNHANDLED": None,  # the data stack's UnhandledBucketName export
    "LANGCHAIN_TRACING_V2": "langchain_tracing_v2",
    "LANGCHAIN_ENDPOINT": "langchain_endpoint",
    "LANGCHAIN_PROJECT": "langchain_project",
    "REDIS_SSL": "redis_ssl",
}

# The app secret's JSON keys, each a variable of the task definition, with the
# value the template creates it with (None: generated, a random password).
# ECS refuses to start a task whose secret lacks a key it references, so every
# key exists from the first deploy; `deploy.py ENV secrets keys` reports which
# still hold their placeholder.
SECRET_KEYS: dict[str, str | None] = {
    "LANGCHAIN_API_KEY": "set-me",
    "REDIS_HOST": "set-me",
    "REDIS_PORT": "6379",
    "REDIS_PASSWORD": None,
}
GENERATED_SECRET_KEY = next(k for k, v in SECRET_KEYS.items() if v is None)

# Where the app's own default (app/settings.py, for a local run) differs on
# purpose from what the task definition gives it in the cloud. Anything not
# listed here must agree (a test checks).
LOCAL_DEFAULTS_DIFFER: dict[str, str] = {
    "LANGCHAIN_TRACING_V2": "the task traces to LangSmith (the original CDK design's value, params default true); "
                            "a local run has no LangSmith key, so the app defaults to false",
}

# ---- WAF rule metrics ----
# CloudWatch metric names (AWS/WAFV2, dimension Rule) of the waf stack's rules, for the dashboard and alarms.
# Each rule is named after its metric.
WAF_QUERY_RATE_METRIC = "RateLimitQueryPerIP"  # POST /v1/query per IP (evaluated first)
WAF_RATE_METRIC = "RateLimitPerIP"  # every request per IP
WAF_MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
# Every rule's metric, in the WebACL's priority order (the dashboard graphs each).
WAF_RULE_METRICS = (WAF_QUERY_RATE_METRIC, WAF_RATE_METRIC, *WAF_MANAGED_RULE_GROUPS)

# ---- tags ----

PROJECT_TAG = "Project"
ENVIRONMENT_TAG = "Environment"


def stack_tags(project: str, environment: str) -> dict[str, str]:
    return {PROJECT_TAG: project, ENVIRONMENT_TAG: environment}


# ---- environments ----
# An environment is its params file's name (params/ENV.yaml). prod keeps the original CDK design's names
# (ia-comafi-*: no live stack is renamed); every other environment's project_name defaults to
# "ia-comafi-{env}", so its stacks, exports and resources never meet prod's.
DEFAULT_PROJECT = "ia-comafi"
# The pipeline's environments, in the order a release goes through them (.github/workflows/deploy.yml):
# each lives in an account of its own by default, and pins it (account_id).
RELEASE_ENVIRONMENTS = ("staging", "prod")
# What the repository's params files say where an account id belongs: the deployer refuses it before any
# AWS call, so a fresh checkout never deploys into whichever account its credentials happen to reach.
ACCOUNT_PLACEHOLDER = "set-me"
# The workflow whose jobs on the deploy branch the CI roles trust (its job_workflow_ref claim), and nothing else.
DEPLOY_WORKFLOW = ".github/workflows/deploy.yml"


def promotion_source(environment: str) -> str | None:
    """The environment whose successful release of an image must come before this one's: the one before it in
    RELEASE_ENVIRONMENTS (prod's is staging); None for the first, and for environments outside the pipeline."""
    if environment not in RELEASE_ENVIRONMENTS:
        return None
    at = RELEASE_ENVIRONMENTS.index(environment)
    return RELEASE_ENVIRONMENTS[at - 1] if at else None


def promotion_target(environment: str) -> str | None:
    """The environment that reads this one's release ledger before running an image (the inverse of
    promotion_source)."""
    return next((e for e in RELEASE_ENVIRONMENTS if promotion_source(e) == environment), None)


def plan_environment(environment: str) -> str:
    """The GitHub environment of ENV's plan job: a subject of its own, so the plan role's trust is apart from
    the build job's (no environment) and the deploy job's (ENV, behind its reviewers)."""
    return f"{environment}-plan"


def default_project_name(environment: str) -> str:
    return DEFAULT_PROJECT if environment == PRODUCTION else f"{DEFAULT_PROJECT}-{environment}"


# ---- names as plain strings ----

def stack_name(project: str, stack: str) -> str:
    return f"{project}-{stack}"


def export_name(project: str, output: str) -> str:
    return f"{project}-{output}"


def resource_name(kind: str, project: str, account: str = "", region: str = "") -> str:
    pattern, _ = RESOURCE_NAMES[kind]
    return pattern.format(project=project, account=account, region=region)


def every_name(project: str) -> set[str]:
    """Every stack, export and resource name a project prefix makes (two environments must share none)."""
    names = {stack_name(project, s.key) for s in STACKS}
    names |= {export_name(project, output) for outputs in EXPORTS.values() for output in outputs}
    names |= {resource_name(kind, project, "{account}", "{region}") for kind in RESOURCE_NAMES}
    return names


def exporting_stack(output: str) -> str:
    """The stack that exports ``output``."""
    return next(stack for stack, names in EXPORTS.items() if output in names)


def longest_project_name(region: str) -> tuple[int, str]:
    """The longest project_name every prefixed name allows, and the name that binds."""
    limits = []
    for kind, (pattern, limit) in RESOURCE_NAMES.items():
        rest = pattern.format(project="", account="x" * ACCOUNT_ID_LENGTH, region=region)
        limits.append((limit - len(rest), kind))
    return min(limits)
