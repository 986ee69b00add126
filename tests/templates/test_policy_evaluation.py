"""The CI principals' policies evaluated as IAM would, against attack requests and a deploy's own requests.

IAM cannot be enforced here (no account; LocalStack does not enforce it), so each request is judged by an
evaluator over the rendered, resolved github-oidc template: an explicit Deny wins, else an Allow whose action,
resource and every condition match; a condition on a key the request does not carry does not match (IAM's
rule), except ForAllValues, which holds over an empty set, and ...IfExists, which holds when the key is
absent. A role an app stack creates is also held to the permissions boundary (allowed only when both allow).
A request is checked for realism first with the Service Authorization Reference (parliament's copy): the
action exists, and every service-specific key it carries is one AWS sends for that action, so an attack cannot
"pass" on a key AWS would never set.
"""

from __future__ import annotations

import copy
import fnmatch

import pytest

import contract
from tests.templates.test_escalation_audit import (
    ACCOUNT,
    REGION,
    _privilege,
    _render,
    _resource_type_keys,
    boundary_statements,
    principal_statements,
    resolved,
)

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROD = {"ProjectName": "ia-comafi", "Environment": "prod", "BedrockModelId": MODEL}
DEV = {"ProjectName": "ia-comafi-dev", "Environment": "dev", "BedrockModelId": MODEL, "GithubEnvironment": "dev"}


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


OPERATORS = {
    "StringEquals": lambda want, got: got in want,
    "StringNotEquals": lambda want, got: got not in want,
    "StringLike": lambda want, got: any(_like(w, got) for w in want),
    "ArnEquals": lambda want, got: got in want,
    "ArnLike": lambda want, got: any(_like(w, got) for w in want),
    "Bool": lambda want, got: str(got).lower() in [str(w).lower() for w in want],
}


def _condition_holds(condition: dict, context: dict) -> bool:
    for operator, keys in condition.items():
        for key, wanted in keys.items():
            wanted = [str(w) for w in _list(wanted)]
            got = context.get(key)
            if operator.startswith("ForAllValues:"):
                test = OPERATORS[operator.split(":", 1)[1]]
                if got is not None and not all(test(wanted, g) for g in _list(got)):
                    return False
                continue
            if operator.endswith("IfExists"):
                if got is None:
                    continue
                operator = operator.removesuffix("IfExists")
            if operator not in OPERATORS:
                raise AssertionError(f"operator {operator} is not evaluated here: teach the evaluator")
            if got is None or not any(OPERATORS[operator](wanted, g) for g in _list(got)):
                return False
    return True


def _matches(statement: dict, action: str, resource: str, context: dict) -> bool:
    if "NotAction" in statement:
        if any(_like(a.lower(), action.lower()) for a in _list(statement["NotAction"])):
            return False
    elif not any(_like(a.lower(), action.lower()) for a in _list(statement["Action"])):
        return False
    if "NotResource" in statement:
        if any(_like(r, resource) for r in _list(statement["NotResource"])):
            return False
    elif not any(_like(r, resource) for r in _list(statement["Resource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), context)


def allowed(statements: list[dict], action: str, resource: str, context: dict | None = None) -> bool:
    """IAM's answer for one request against one principal's identity policies."""
    context = context or {}
    _realistic(action, context)
    hits = [s for s in statements if _matches(s, action, resource, context)]
    return any(s["Effect"] == "Allow" for s in hits) and not any(s["Effect"] == "Deny" for s in hits)


def _realistic(action: str, context: dict) -> None:
    privilege = _privilege(action)
    assert privilege is not None, f"{action} is not an AWS action"
    supported = {k for r in privilege["resource_types"] for k in r["condition_keys"]}
    supported |= {k for r in privilege["resource_types"]
                  for k in _resource_type_keys(action.split(":")[0], r["resource_type"])}
    for key in context:
        if key.startswith("aws:"):
            continue
        assert key in supported, f"AWS sends no {key} with {action}: the request is not one AWS would make"


def _principals(values: dict) -> dict[str, list[dict]]:
    res = resolved(_render(contract.CI_ACCESS), values)
    if values["ProjectName"] == PROD["ProjectName"]:
        return principal_statements(res)
    out = {}
    for principal, kind in (("execution", "cfn_execution_role"), ("deploy", "oidc_deploy_role"),
                            ("plan", "plan_role")):
        name = contract.resource_name(kind, values["ProjectName"])
        (role_,) = [r for r in res.values() if r["Type"] == "AWS::IAM::Role" and r["Properties"]["RoleName"] == name]
        out[principal] = [s for p in role_["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        out[principal] += [s for r in res.values() if r["Type"] == "AWS::IAM::ManagedPolicy"
                           and name in r["Properties"].get("Roles",
                               []) for s in r["Properties"]["PolicyDocument"]["Statement"]]
    return out


@pytest.fixture(scope="module")
def prod() -> dict[str, list[dict]]:
    return _principals(PROD)


@pytest.fixture(scope="module")
def dev() -> dict[str, list[dict]]:
    return _principals(DEV)


@pytest.fixture(scope="module")
def boundary() -> list[dict]:
    return boundary_statements(resolved(_render(contract.CI_ACCESS), PROD))


def arn(service: str, resource: str, region: bool = True) -> str:
    return f"arn:aws:{service}:{REGION if region else ''}:{ACCOUNT}:{resource}"


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def stack(project: str, key: str) -> str:
    return arn("cloudformation", f"stack/{contract.stack_name(project, key)}/0a1b2c3d-0000-1111-2222-333344445555")


BOUNDARY = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/ia-comafi-boundary"}
ALB = "ia-comafi-alb"
REPOSITORY = arn("ecr", "repository/ia-comafi-api")
ALARM = arn("cloudwatch", "alarm:ia-comafi-5xx-rate")
TOPIC = arn("sns", contract.resource_name("alarm_topic", "ia-comafi"))
UNHANDLED = f"arn:aws:s3:::{contract.resource_name('unhandled_bucket', 'ia-comafi', ACCOUNT, REGION)}"

# (principal, action, resource, context): what an attacker holding a CI role (or a template of theirs run by
# the execution role) would call. Every one must be denied in prod.
ATTACKS = [
    ("execution", "iam:CreateRole", role("ia-comafi-compute-backdoor"), BOUNDARY),
    ("execution", "iam:CreateRole", role("ia-comafi-network-TaskRole-1A2B3C4D"), BOUNDARY),
    ("execution", "iam:PutRolePolicy", role("ia-comafi-waf-anything"), BOUNDARY),
    ("execution", "iam:UpdateAssumeRolePolicy", role("ia-comafi-compute-task"), {}),
    ("execution", "iam:UpdateAssumeRolePolicy", role("ia-comafi-network-flow-logs"), {}),
    ("execution", "iam:PassRole", role("ia-comafi-compute-backdoor"),
     {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
    ("execution", "ecr:SetRepositoryPolicy", REPOSITORY, {}),
    ("execution", "ecr:DeleteRepositoryPolicy", REPOSITORY, {}),
    ("deploy", "ecr:SetRepositoryPolicy", REPOSITORY, {}),
    ("build", "ecr:SetRepositoryPolicy", REPOSITORY, {}),
    ("execution", "ecr:DeleteRepository", REPOSITORY, {}),
    ("deploy", "cloudformation:DeleteStack", stack("ia-comafi", contract.COMPUTE), {}),
    ("deploy", "cloudformation:DeleteStack", stack("ia-comafi", contract.DATA), {}),
    ("deploy", "cloudformation:UpdateTerminationProtection", stack("ia-comafi", contract.DATA), {}),
    ("execution", "elasticloadbalancing:DeleteLoadBalancer", arn("elasticloadbalancing",
     f"loadbalancer/app/{ALB}/50dc6c495c0c9188"),
     {"aws:ResourceTag/Project": "ia-comafi"}),
    ("execution", "elasticloadbalancing:ModifyListener",
     arn("elasticloadbalancing", "listener/app/payments-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"), {}),
    ("execution", "elasticloadbalancing:ModifyListener",
     arn("elasticloadbalancing", "listener/app/ia-comafi-dev-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"), {}),
    ("execution", "elasticloadbalancing:ModifyListenerAttributes",
     arn("elasticloadbalancing", "listener/app/payments-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"), {}),
    ("execution", "wafv2:DisassociateWebACL", arn("elasticloadbalancing",
     "loadbalancer/app/payments-alb/50dc6c495c0c9188"),
     {}),
    ("execution", "logs:DeleteLogGroup", arn("logs", "log-group:/ecs/ia-comafi/api"), {}),
    ("execution", "logs:DeleteRetentionPolicy", arn("logs", "log-group:/ecs/ia-comafi/api"), {}),
    ("execution", "s3:PutBucketVersioning", UNHANDLED, {}),
    ("execution", "s3:PutBucketPublicAccessBlock", UNHANDLED, {}),
    ("execution", "s3:PutBucketPolicy", UNHANDLED, {}),
    ("execution", "s3:DeleteBucketPolicy", UNHANDLED, {}),
    ("execution", "s3:DeleteBucket", UNHANDLED, {}),
    # An alarm of the project's whose action is not its topic: one that terminates an instance, or moves the
    # scaling of another environment in the account, when it changes state.
    ("execution", "cloudwatch:PutMetricAlarm", ALARM,
     {"cloudwatch:AlarmActions": [TOPIC, f"arn:aws:automate:{REGION}:ec2:terminate"]}),
    ("execution", "cloudwatch:PutMetricAlarm", arn("cloudwatch", "alarm:TargetTracking-service/ia-comafi-cluster/"
                                                   "ia-comafi-api-AlarmHigh-0a1b2c3d"),
     {"cloudwatch:AlarmActions": [arn("autoscaling", "scalingPolicy:0a1b2c3d-0000-1111-2222-333344445555:"
                                                    "resource/ecs/service/ia-comafi-dev-cluster/ia-comafi-dev-api:"
                                                    "policyName/cpu")]}),
    ("execution", "cloudwatch:PutCompositeAlarm", arn("cloudwatch", "alarm:ia-comafi-release-health"),
     {"cloudwatch:AlarmActions": [arn("autoscaling", "scalingPolicy:0a1b2c3d-0000-1111-2222-333344445555:"
                                                    "resource/ecs/service/ia-comafi-dev-cluster/ia-comafi-dev-api:"
                                                    "policyName/cpu")]}),
]

# What a full deploy of the four stacks asks of each principal: all allowed.
DEPLOY = [
    ("execution", "iam:CreateRole", role("ia-comafi-compute-task"), BOUNDARY),
    ("execution", "iam:CreateRole", role("ia-comafi-compute-task-execution"), BOUNDARY),
    ("execution", "iam:CreateRole", role("ia-comafi-network-flow-logs"), BOUNDARY),
    ("execution", "iam:PutRolePolicy", role("ia-comafi-compute-task"), BOUNDARY),
    ("execution", "iam:DeleteRole", role("ia-comafi-compute-task"), {}),
    ("execution", "iam:PassRole", role("ia-comafi-compute-task"), {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
    ("execution", "iam:PassRole", role("ia-comafi-network-flow-logs"),
     {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}),
    ("execution", "elasticloadbalancing:CreateLoadBalancer",
     arn("elasticloadbalancing", f"loadbalancer/app/{ALB}/50dc6c495c0c9188"), {"aws:RequestTag/Project": "ia-comafi"}),
    ("execution", "elasticloadbalancing:CreateListener",
     arn("elasticloadbalancing", f"loadbalancer/app/{ALB}/50dc6c495c0c9188"), {}),
    ("execution", "elasticloadbalancing:ModifyListener",
     arn("elasticloadbalancing", f"listener/app/{ALB}/50dc6c495c0c9188/f2f7dc8efc522ab2"), {}),
    ("execution", "elasticloadbalancing:ModifyListenerAttributes",
     arn("elasticloadbalancing", f"listener/app/{ALB}/50dc6c495c0c9188/f2f7dc8efc522ab2"), {}),
    ("execution", "elasticloadbalancing:ModifyLoadBalancerAttributes",
     arn("elasticloadbalancing", f"loadbalancer/app/{ALB}/50dc6c495c0c9188"), {"aws:ResourceTag/Project": "ia-comafi"}),
    ("execution", "wafv2:AssociateWebACL", arn("elasticloadbalancing", f"loadbalancer/app/{ALB}/50dc6c495c0c9188"), {}),
    ("execution", "wafv2:AssociateWebACL", arn("wafv2", "regional/webacl/ia-comafi-web-acl/0a1b2c3d"), {}),
    ("execution", "ecr:PutImageTagMutability", REPOSITORY, {}),
    ("execution", "ecr:GetRepositoryPolicy", REPOSITORY, {}),
    ("execution", "ecr:PutLifecyclePolicy", REPOSITORY, {}),
    ("execution", "logs:CreateLogGroup", arn("logs", "log-group:/ecs/ia-comafi/api"), {}),
    ("execution", "logs:PutRetentionPolicy", arn("logs", "log-group:/ecs/ia-comafi/api"), {}),
    ("execution", "s3:PutLifecycleConfiguration", UNHANDLED, {}),
    ("execution", "cloudwatch:PutMetricAlarm", ALARM, {"cloudwatch:AlarmActions": [TOPIC]}),
    ("execution", "cloudwatch:PutMetricAlarm", arn("cloudwatch", "alarm:TargetTracking-service/ia-comafi-cluster/"
                                                   "ia-comafi-api-AlarmHigh-0a1b2c3d"),
     {"cloudwatch:AlarmActions": [arn("autoscaling", "scalingPolicy:0a1b2c3d-0000-1111-2222-333344445555:"
                                                    "resource/ecs/service/ia-comafi-cluster/ia-comafi-api:"
                                                    "policyName/cpu")]}),
    ("deploy", "cloudformation:CreateChangeSet", stack("ia-comafi", contract.COMPUTE),
     {"cloudformation:RoleArn": role("ia-comafi-cfn-execution")}),
    ("deploy", "cloudformation:ExecuteChangeSet", stack("ia-comafi", contract.COMPUTE), {}),
    ("deploy", "logs:DescribeLogGroups", "*", {}),
    ("deploy", "iam:PassRole", role("ia-comafi-cfn-execution"),
     {"iam:PassedToService": "cloudformation.amazonaws.com"}),
    ("build", "ecr:PutImage", REPOSITORY, {}),
]


def _ids(cases) -> list[str]:
    return [f"{p}-{a}-{r.rsplit(':', 1)[-1]}" for p, a, r, _ in cases]


@pytest.mark.parametrize(("principal", "action", "resource", "context"), ATTACKS, ids=_ids(ATTACKS))
def test_attacks_are_denied_in_prod(prod, principal, action, resource, context):
    assert not allowed(prod[principal], action, resource, context)


@pytest.mark.parametrize(("principal", "action", "resource", "context"), DEPLOY, ids=_ids(DEPLOY))
def test_a_full_deploys_requests_are_allowed_in_prod(prod, principal, action, resource, context):
    assert allowed(prod[principal], action, resource, context)


def test_outside_prod_ci_may_delete_what_it_re_creates_and_still_not_open_anything(dev):
    alb = arn("elasticloadbalancing", "loadbalancer/app/ia-comafi-dev-alb/50dc6c495c0c9188")
    assert allowed(dev["deploy"], "cloudformation:DeleteStack", stack("ia-comafi-dev", contract.COMPUTE))
    assert allowed(dev["execution"], "elasticloadbalancing:DeleteLoadBalancer", alb)
    # Still only its own: not prod's stacks, ALB or roles, never a trust edit or a repository policy.
    assert not allowed(dev["deploy"], "cloudformation:DeleteStack", stack("ia-comafi", contract.COMPUTE))
    assert not allowed(dev["execution"], "elasticloadbalancing:DeleteLoadBalancer",
                       arn("elasticloadbalancing", f"loadbalancer/app/{ALB}/50dc6c495c0c9188"))
    assert not allowed(dev["execution"], "iam:UpdateAssumeRolePolicy", role("ia-comafi-dev-compute-task"))
    assert not allowed(dev["execution"], "ecr:SetRepositoryPolicy", arn("ecr", "repository/ia-comafi-dev-api"))


def test_the_boundary_lets_an_app_role_invoke_only_the_configured_model(boundary):
    model = arn("bedrock", f"foundation-model/{MODEL}").replace(f":{ACCOUNT}:", "::")
    other = arn("bedrock", "foundation-model/anthropic.claude-3-opus-20240229-v1:0").replace(f":{ACCOUNT}:", "::")
    assert allowed(boundary, "bedrock:InvokeModel", model)
    assert not allowed(boundary, "bedrock:InvokeModel", other)
    assert not allowed(boundary, "bedrock:InvokeModelWithResponseStream", other)
    # A role it bounds cannot become another role, nor rewrite its own trust or boundary.
    assert not allowed(boundary, "sts:AssumeRole", role("OrganizationAccountAccessRole"))
    assert not allowed(boundary, "iam:UpdateAssumeRolePolicy", role("ia-comafi-compute-task"))


def test_a_request_aws_would_never_make_is_refused_by_the_evaluator(prod):
    with pytest.raises(AssertionError, match="AWS sends no"):
        allowed(prod["execution"], "ecr:SetRepositoryPolicy", REPOSITORY, {"iam:PassedToService": "x"})


# -- removing one fixed-name scope is caught ------------------------------------------------------------------

def _widened(statements: list[dict], exact: str, pattern: str) -> list[dict]:
    out = copy.deepcopy(statements)
    for s in out:
        if "Resource" in s:
            s["Resource"] = [pattern if r == exact else r for r in _list(s["Resource"])]
    return out


@pytest.mark.parametrize(("exact", "pattern"), [
    (role("ia-comafi-compute-task"), role("ia-comafi-compute-*")),
    (arn("elasticloadbalancing", f"listener/app/{ALB}/*/*"), arn("elasticloadbalancing", "listener/app/*/*/*")),
    (arn("elasticloadbalancing", f"loadbalancer/app/{ALB}/*"), arn("elasticloadbalancing", "loadbalancer/app/*/*")),
])
def test_widening_a_fixed_name_lets_an_attack_through(prod, exact, pattern):
    statements = prod["execution"]
    assert any(exact in _list(s.get("Resource", [])) for s in statements), f"{exact} is granted nowhere"
    widened = _widened(statements, exact, pattern)
    through = [a for p, a, r, c in ATTACKS if p == "execution" and allowed(widened, a, r, c)]
    assert through, f"widening {exact} to {pattern} let no attack through: the attack list misses it"


# -- the plan role: makes and reads change sets, never runs one -----------------------------------------------

LEDGER = f"arn:aws:s3:::{contract.resource_name('release_ledger', 'ia-comafi', ACCOUNT, REGION)}"
HERE = {"s3:ResourceAccount": ACCOUNT}
# A ledger record as deploy.py writes it (deployer/engine/ledger.py): new, locked, in this account's bucket.
RECORD_PUT = {**HERE, "s3:object-lock-mode": "COMPLIANCE", "s3:if-none-match": "*"}
RECORD = f"{LEDGER}/releases/prod/20261203T010203.000000Z-0123456789ab.json"
ARTIFACTS = f"arn:aws:s3:::{contract.resource_name('deploy_artifacts', 'ia-comafi', ACCOUNT, REGION)}"
EXECUTION_ROLE = {"cloudformation:RoleArn": role("ia-comafi-cfn-execution")}

PLAN_ATTACKS = [
    *[("plan", "cloudformation:ExecuteChangeSet", stack("ia-comafi", key), {}) for key in contract.APP_STACKS],
    ("plan", "cloudformation:ExecuteChangeSet", stack("ia-comafi", contract.CI_ACCESS), {}),
    ("plan", "cloudformation:SetStackPolicy", stack("ia-comafi", contract.DATA), {}),
    ("plan", "cloudformation:DeleteStack", stack("ia-comafi", contract.COMPUTE), {}),
    ("plan", "cloudformation:UpdateTerminationProtection", stack("ia-comafi", contract.DATA), {}),
    ("plan", "cloudformation:CreateChangeSet", stack("ia-comafi", contract.COMPUTE), {}),
    ("plan", "cloudformation:CreateChangeSet", stack("ia-comafi", contract.COMPUTE),
     {"cloudformation:RoleArn": role("OrganizationAccountAccessRole")}),
    ("plan", "ecs:UpdateService", arn("ecs", "service/ia-comafi-cluster/ia-comafi-api"), {}),
    ("plan", "ecr:PutImage", REPOSITORY, {}),
    ("plan", "s3:PutObject", RECORD, RECORD_PUT),
    ("plan", "s3:DeleteObject", RECORD, HERE),
    ("plan", "iam:PassRole", role("ia-comafi-compute-task"), {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
]
# What `deploy.py prod plan` asks of the plan role (flow.deploy_stack in REVIEW mode, plan_file.stack_state).
PLAN_REQUESTS = [
    ("plan", "cloudformation:CreateChangeSet", stack("ia-comafi", contract.COMPUTE), EXECUTION_ROLE),
    ("plan", "iam:PassRole", role("ia-comafi-cfn-execution"), {"iam:PassedToService": "cloudformation.amazonaws.com"}),
    ("plan", "cloudformation:DescribeChangeSet", stack("ia-comafi", contract.COMPUTE), {}),
    ("plan", "cloudformation:DeleteChangeSet", stack("ia-comafi", contract.DATA), {}),
    ("plan", "cloudformation:DescribeEvents", stack("ia-comafi", contract.COMPUTE), {}),
    ("plan", "cloudformation:DescribeStacks", "*", {}),
    ("plan", "cloudformation:GetTemplate", stack("ia-comafi", contract.WAF), {}),
    ("plan", "cloudformation:ListExports", "*", {}),
    ("plan", "ecr:DescribeImages", REPOSITORY, {}),
    ("plan", "ecr:DescribeImageScanFindings", REPOSITORY, {}),
    ("plan", "s3:PutObject", f"{ARTIFACTS}/templates/ia-comafi-compute/0123456789abcdef.yaml", {}),
    ("plan", "s3:ListBucket", ARTIFACTS, {}),
]


@pytest.mark.parametrize(("principal", "action", "resource", "context"), PLAN_ATTACKS, ids=_ids(PLAN_ATTACKS))
def test_the_plan_role_never_executes_changes_or_writes_anything_kept(prod, principal, action, resource, context):
    assert not allowed(prod[principal], action, resource, context)


@pytest.mark.parametrize(("principal", "action", "resource", "context"), PLAN_REQUESTS, ids=_ids(PLAN_REQUESTS))
def test_the_plan_roles_own_requests_are_allowed(prod, principal, action, resource, context):
    assert allowed(prod[principal], action, resource, context)


# -- the release ledger ---------------------------------------------------------------------------------------

def _ledger_policy(values: dict) -> list[dict]:
    res = resolved(_render(contract.CI_ACCESS), values)
    return res["ReleaseLedgerBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]


def _for(statements: list[dict], account: str) -> list[dict]:
    """A bucket policy's statements whose Principal covers a caller of ``account``."""
    def covers(principal) -> bool:
        if principal == "*":
            return True
        return any(p in (f"arn:aws:iam::{account}:root", account) for p in _list(principal.get("AWS", [])))
    return [s for s in statements if covers(s["Principal"])]


def _denied_by_bucket(statements: list[dict], caller: str, action: str, resource: str, context: dict) -> bool:
    return any(s["Effect"] == "Deny" and _matches(s, action, resource, {**context, "aws:PrincipalArn": caller})
               for s in statements)


@pytest.mark.parametrize(("action", "resource", "context", "expected"), [
    ("s3:PutObject", RECORD, RECORD_PUT, True),
    ("s3:PutObjectRetention", RECORD, HERE, True),
    ("s3:GetObject", RECORD, HERE, True),
    # HeadBucket (ledger.exists) is authorized as ListBucket and sends no prefix; a listing of its own prefix.
    ("s3:ListBucket", LEDGER, HERE, True),
    ("s3:ListBucket", LEDGER, {**HERE, "s3:prefix": "releases/prod/"}, True),
    # Over an existing record, unlocked, another environment's prefix, a bucket of that name in another account.
    ("s3:PutObject", RECORD, {**HERE, "s3:object-lock-mode": "COMPLIANCE"}, False),
    ("s3:PutObject", RECORD, {**HERE, "s3:if-none-match": "*"}, False),
    ("s3:PutObject", RECORD, {**RECORD_PUT, "s3:object-lock-mode": "GOVERNANCE"}, False),
    ("s3:PutObject", f"{LEDGER}/releases/staging/x.json", RECORD_PUT, False),
    ("s3:PutObject", RECORD, {**RECORD_PUT, "s3:ResourceAccount": "999999999999"}, False),
    ("s3:ListBucket", LEDGER, {**HERE, "s3:prefix": "releases/staging/"}, False),
    ("s3:DeleteObject", RECORD, HERE, False),
    ("s3:DeleteObjectVersion", RECORD, HERE, False),
    ("s3:PutBucketPolicy", LEDGER, HERE, False),
    ("s3:PutBucketObjectLockConfiguration", LEDGER, HERE, False),
    ("s3:PutBucketVersioning", LEDGER, HERE, False),
    ("s3:BypassGovernanceRetention", RECORD, HERE, False),
])
def test_the_deploy_role_appends_locked_records_to_its_own_prefix_only(prod, action, resource, context, expected):
    assert allowed(prod["deploy"], action, resource, context) is expected


@pytest.mark.parametrize("principal", ["deploy", "plan", "build", "execution"])
@pytest.mark.parametrize("action", ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketPolicy",
                                    "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning",
                                    "s3:DeleteBucket", "s3:PutLifecycleConfiguration"])
def test_the_ledger_bucket_refuses_every_ci_role_what_would_erase_or_unguard_a_record(principal, action):
    """Even were an identity policy widened later: the bucket's own policy denies it (an explicit deny wins)."""
    kind = {"deploy": "oidc_deploy_role", "plan": "plan_role", "build": "build_role",
            "execution": "cfn_execution_role"}[principal]
    caller = role(contract.resource_name(kind, "ia-comafi"))
    resource = RECORD if "Object" in action and "Lock" not in action else LEDGER
    assert _denied_by_bucket(_ledger_policy(PROD), caller, action, resource, HERE)
    assert not _denied_by_bucket(_ledger_policy(PROD), role("ia-comafi-admin"), action, resource, HERE)


# -- the promotion read: prod's roles read staging's records, across accounts ------------------------------------

# The evaluator resolves every stack in ACCOUNT: staging's stack lives there, and prod's roles in PROD_ACCOUNT
# (their identity policies name staging's bucket by the name prod's params derive, whatever account prod is in).
PROD_ACCOUNT = "210987654321"
STAGING_LEDGER = contract.resource_name("release_ledger", "ia-comafi-staging", ACCOUNT, REGION)
STAGING_BUCKET = f"arn:aws:s3:::{STAGING_LEDGER}"
STAGING_RECORD = f"{STAGING_BUCKET}/releases/staging/20261203T010203.000000Z-0123456789ab.json"
PROD_READS = {**PROD, contract.PROMOTION_SOURCE_LEDGER_PARAMETER: STAGING_LEDGER,
              contract.PROMOTION_SOURCE_ENVIRONMENT_PARAMETER: "staging"}


def _staging_grants(reader_account: str) -> dict:
    return {"ProjectName": "ia-comafi-staging", "Environment": "staging", "BedrockModelId": MODEL,
            "GithubEnvironment": "staging", contract.PROMOTION_READER_ACCOUNT_PARAMETER: reader_account,
            contract.PROMOTION_READER_PROJECT_PARAMETER: "ia-comafi"}


def _cross_account(identity: list[dict], bucket_policy: list[dict], caller: str, action: str, resource: str,
                   context: dict) -> bool:
    """Across accounts both must allow: the caller's identity policy and the bucket's policy (whose statements
    for the caller's account are the ones that can)."""
    context = {**context, "aws:PrincipalArn": caller}
    theirs = _for(bucket_policy, caller.split(":")[4])
    return allowed(identity, action, resource, context) and allowed(theirs, action, resource, context)


@pytest.fixture(scope="module")
def prod_reading() -> dict[str, list[dict]]:
    return _principals(PROD_READS)


def _prod_role(principal: str, account: str) -> str:
    name = contract.resource_name({"deploy": "oidc_deploy_role", "plan": "plan_role"}[principal], "ia-comafi")
    return f"arn:aws:iam::{account}:role/{name}"


@pytest.mark.parametrize("reader_account", [PROD_ACCOUNT, ACCOUNT], ids=["accounts-apart", "shared-account"])
@pytest.mark.parametrize("principal", ["deploy", "plan"])
def test_prods_deploy_and_plan_roles_read_stagings_records(prod_reading, principal, reader_account):
    caller = _prod_role(principal, reader_account)
    staging = _ledger_policy(_staging_grants(reader_account))
    identity = prod_reading[principal]
    assert _cross_account(identity, staging, caller, "s3:GetObject", STAGING_RECORD, {})
    assert _cross_account(identity, staging, caller, "s3:ListBucket", STAGING_BUCKET, {})  # HeadBucket
    assert _cross_account(identity, staging, caller, "s3:ListBucket", STAGING_BUCKET,
                          {"s3:prefix": "releases/staging/"})
    # Reads only, of staging's prefix only.
    assert not _cross_account(identity, staging, caller, "s3:PutObject", STAGING_RECORD, RECORD_PUT)
    assert not _cross_account(identity, staging, caller, "s3:DeleteObject", STAGING_RECORD, {})
    assert not _cross_account(identity, staging, caller, "s3:ListBucket", STAGING_BUCKET,
                              {"s3:prefix": "releases/dev/"})
    assert not allowed(identity, "s3:GetObject", f"{STAGING_BUCKET}/other/x.json")


def test_stagings_ledger_admits_no_other_reader():
    staging = _ledger_policy(_staging_grants(PROD_ACCOUNT))
    for name in ("ia-comafi-github-build", "ia-comafi-cfn-execution", "ia-comafi-compute-task", "someone"):
        caller = f"arn:aws:iam::{PROD_ACCOUNT}:role/{name}"
        assert not allowed(_for(staging, PROD_ACCOUNT), "s3:GetObject", STAGING_RECORD, {"aws:PrincipalArn": caller})
    # Prod's role names in any other account are not prod's roles.
    assert not [s for s in _for(staging, "999999999999") if s["Effect"] == "Allow"]


def test_without_the_other_environment_pinned_there_is_no_promotion_read(prod):
    assert not [s for s in _ledger_policy(PROD) if s["Effect"] == "Allow"]
    assert not allowed(prod["deploy"], "s3:GetObject", STAGING_RECORD)
    assert not allowed(prod["plan"], "s3:GetObject", STAGING_RECORD)
