"""The github-oidc template: who may assume the CI role, and how little the two roles may do.

Policies are checked resolved: every Fn::Sub filled in with a real project,
account and region, every Fn::If chosen, so the assertions read like the
policies IAM would see.
"""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

import contract
import templates
from templates import github_oidc, params
from tests.templates.cfn import conditions, resolve

PROJECT = "ia-comafi"
ACCOUNT = "123456789012"
REGION = "us-east-1"
REPO = "acme-bank/ia-comafi-v1"
VALUES = {
    "ProjectName": PROJECT,
    "GithubRepo": REPO,
    "GithubBranch": "master",
    "GithubEnvironment": "prod",
    "OidcProviderArn": "",
    "HostedZoneId": "Z0123456789TESTZONE",
    "Environment": "prod",
    "BedrockModelId": "anthropic.claude-3-haiku-20240307-v1:0",
}
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
EXECUTION_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-cfn-execution"
DEPLOYABLE = ("network", "data", "compute", "waf")
PLAN_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-github-plan"
LEDGER = contract.resource_name("release_ledger", PROJECT, ACCOUNT, REGION)

# What deploy.py calls as the CI role (deploy, diff, status, outputs, health,
# rollback, restart, the ROLLBACK_COMPLETE recovery, the export guard).
DEPLOY_PY_ACTIONS = {
    "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
    "cloudformation:GetTemplate", "cloudformation:ListExports", "cloudformation:ListImports",
    "cloudformation:DeleteStack", "cloudformation:ListStackResources", "cloudformation:SetStackPolicy",
    "cloudformation:DetectStackDrift", "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:DescribeStackResourceDrifts", "cloudwatch:DescribeAlarms",
    "ecr:DescribeImages", "ecr:DescribeImageScanFindings", "ecs:UpdateService", "ecs:DescribeServices",
    "iam:PassRole", "cloudformation:DescribeEvents",
    # the release ledger (deployer/engine/ledger.py): head_bucket and list_objects_v2 are s3:ListBucket
    "s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:ListBucket",
}
# What the workflow's build job calls as the build role (docker login, push, "is the tag there").
BUILD_ACTIONS = {
    "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:DescribeImages",
}
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{PROJECT}-boundary"


def _sub(text: str, extra: dict) -> str:
    names = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, **extra}
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)


def _fill(node, values: dict, attrs: dict):
    """Fn::Sub, Ref and Fn::GetAtt replaced by their values (Fn::If already chosen)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            return _sub(node["Fn::Sub"], {**values, **attrs})
        if set(node) == {"Ref"}:
            return attrs.get(node["Ref"], values.get(node["Ref"]))
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            return attrs[".".join(target) if isinstance(target, list) else target]
        return {k: _fill(v, values, attrs) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values, attrs) for v in node]
    return node


def _resolved(doc: dict, values: dict = VALUES) -> dict:
    active = conditions(doc, values)
    attrs = {
        "GithubOidcProvider": PROVIDER_ARN,
        "CfnExecutionRole": f"{PROJECT}-cfn-execution",
        "CfnExecutionRole.Arn": EXECUTION_ROLE_ARN,
        "GithubDeployRole": f"{PROJECT}-github-deploy",
        "GithubDeployRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-github-deploy",
        "GithubBuildRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-github-build",
        "GithubPlanRole": f"{PROJECT}-github-plan",
        "GithubPlanRole.Arn": PLAN_ROLE_ARN,
        "ReleaseLedgerBucket": LEDGER,
        "ReleaseLedgerBucket.Arn": f"arn:aws:s3:::{LEDGER}",
        "PermissionsBoundary": BOUNDARY_ARN,
    }
    resources = {
        name: _fill(resolve(res, active), values, attrs)
        for name, res in doc["Resources"].items()
        if "Condition" not in res or active[res["Condition"]]
    }
    outputs = {name: _fill(resolve(out, active), values, attrs) for name, out in doc["Outputs"].items()}
    return {"Resources": resources, "Outputs": outputs}


@pytest.fixture(scope="module")
def doc() -> dict:
    return templates.load_yaml(templates.render(github_oidc.build()))


@pytest.fixture(scope="module")
def res(doc) -> dict:
    return _resolved(doc)["Resources"]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _deploy_statements(res) -> list[dict]:
    (policy,) = res["GithubDeployRole"]["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]


def _execution_statements(res) -> list[dict]:
    return [
        statement
        for resource in res.values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        and resource["Properties"].get("Roles") == [f"{PROJECT}-cfn-execution"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def _build_statements(res) -> list[dict]:
    (policy,) = res["GithubBuildRole"]["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]


def _all_statements(res) -> list[dict]:
    return _deploy_statements(res) + _build_statements(res) + _execution_statements(res)


def _allowed_on(statements, action: str) -> list[dict]:
    return [s for s in statements if s["Effect"] == "Allow" and action in _as_list(s["Action"])]


# -- who may assume the CI role --------------------------------------------------------------------------


def _trust(res, role: str) -> dict:
    (statement,) = res[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
    return statement["Condition"]


WORKFLOW_REF = f"{REPO}/.github/workflows/deploy.yml@refs/heads/master"


def test_only_jobs_in_the_deploy_environment_assume_the_deploy_role(res):
    # StringEquals only: no StringLike wildcard ("repo:ORG/REPO:*" was the original CDK design's); and not the branch
    # subject, so the environment's protection rules gate every job holding this role; and only deploy.yml's
    # job as it is on master (job_workflow_ref), not another workflow that names the environment.
    assert _trust(res, "GithubDeployRole") == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:{REPO}:environment:prod",
        "token.actions.githubusercontent.com:job_workflow_ref": WORKFLOW_REF,
    }}


def test_only_jobs_on_the_deploy_branch_assume_the_build_role(res):
    assert _trust(res, "GithubBuildRole") == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:{REPO}:ref:refs/heads/master",
        "token.actions.githubusercontent.com:job_workflow_ref": WORKFLOW_REF,
    }}


def _token_admitted(condition: dict, claims: dict) -> bool:
    """STS's judgement of a StringEquals-only trust condition: every key present in the token and equal."""
    assert set(condition) == {"StringEquals"}
    host = "token.actions.githubusercontent.com:"
    return all(claims.get(key.removeprefix(host)) == value for key, value in condition["StringEquals"].items())


PROD_JOB = {"aud": "sts.amazonaws.com", "sub": f"repo:{REPO}:environment:prod", "job_workflow_ref": WORKFLOW_REF}


@pytest.mark.parametrize(("claims", "admitted"), [
    (PROD_JOB, True),
    # another workflow of the repository that says `environment: prod`
    ({**PROD_JOB, "job_workflow_ref": f"{REPO}/.github/workflows/ci.yml@refs/heads/master"}, False),
    # deploy.yml as edited on another branch (workflow_dispatch from it), in prod's environment
    ({**PROD_JOB, "job_workflow_ref": f"{REPO}/.github/workflows/deploy.yml@refs/heads/feature"}, False),
    # staging's job presenting its token to prod's role
    ({**PROD_JOB, "sub": f"repo:{REPO}:environment:staging"}, False),
    # the build job's token
    ({**PROD_JOB, "sub": f"repo:{REPO}:ref:refs/heads/master"}, False),
    # a token without the claim: refused, not let through
    ({k: v for k, v in PROD_JOB.items() if k != "job_workflow_ref"}, False),
    ({**PROD_JOB, "sub": f"repo:{REPO.upper()}:environment:prod"}, False),
])
def test_the_deploy_roles_trust_admits_only_prods_job_of_deploy_yml_on_master(res, claims, admitted):
    assert _token_admitted(_trust(res, "GithubDeployRole"), claims) is admitted


PLAN_JOB = {**PROD_JOB, "sub": f"repo:{REPO}:environment:prod-plan"}


@pytest.mark.parametrize(("claims", "admitted"), [
    (PLAN_JOB, True),
    # prod's apply job (behind the reviewers) holds the deploy role, not this one; nor does the build job
    (PROD_JOB, False),
    ({**PROD_JOB, "sub": f"repo:{REPO}:ref:refs/heads/master"}, False),
    ({**PLAN_JOB, "sub": f"repo:{REPO}:environment:staging-plan"}, False),
    ({**PLAN_JOB, "job_workflow_ref": f"{REPO}/.github/workflows/deploy.yml@refs/heads/feature"}, False),
    ({k: v for k, v in PLAN_JOB.items() if k != "job_workflow_ref"}, False),
])
def test_the_plan_roles_trust_admits_only_the_plan_job_of_deploy_yml_on_master(res, claims, admitted):
    assert _token_admitted(_trust(res, "GithubPlanRole"), claims) is admitted
    assert _trust(res, "GithubPlanRole")["StringEquals"]["token.actions.githubusercontent.com:sub"] == \
        f"repo:{REPO}:environment:{contract.plan_environment('prod')}"


def test_trust_follows_the_branch_and_environment_parameters(doc):
    values = {**VALUES, "GithubBranch": "main", "GithubEnvironment": "production"}
    resolved = _resolved(doc, values)["Resources"]
    key = "token.actions.githubusercontent.com:sub"
    assert _trust(resolved, "GithubDeployRole")["StringEquals"][key] == f"repo:{REPO}:environment:production"
    assert _trust(resolved, "GithubBuildRole")["StringEquals"][key] == f"repo:{REPO}:ref:refs/heads/main"


def test_build_role_can_only_push_to_the_project_repository(res):
    statements = _build_statements(res)
    assert {a for s in statements for a in s["Action"]} >= BUILD_ACTIONS
    repository = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{contract.resource_name('repository', PROJECT)}"
    for statement in statements:
        assert all(a.startswith("ecr:") for a in statement["Action"]), statement["Sid"]
        assert statement["Resource"] in (["*"], [repository]), statement["Sid"]
        if statement["Resource"] == ["*"]:
            assert statement["Action"] == ["ecr:GetAuthorizationToken"]


def _deploy_role_statements(res) -> list[dict]:
    """The deploy role's inline policy and the managed policies attached to it (outside prod: DeleteStack)."""
    return _deploy_statements(res) + [
        statement for resource in res.values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        and resource["Properties"].get("Roles") == [f"{PROJECT}-github-deploy"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_deploy_role_cannot_turn_termination_protection_off_or_push_images(res):
    actions = {a for s in _deploy_role_statements(res) for a in s["Action"]}
    assert "cloudformation:UpdateTerminationProtection" not in actions
    # No new image content: no layer upload. PutImage only re-tags a manifest already there (the release tag a
    # deploy puts on the digest it runs), beside BatchGetImage, on the project's repository (ECR has no condition
    # key on the tag).
    assert not {"ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"} & actions
    [tagging] = [s for s in _deploy_statements(res) if "ecr:PutImage" in s["Action"]]
    assert sorted(tagging["Action"]) == ["ecr:BatchGetImage", "ecr:PutImage"]
    assert len(tagging["Resource"]) == 1 and "repository/" in json.dumps(tagging["Resource"])


def test_prod_deploy_role_cannot_delete_a_stack_and_dev_can_recover_one(doc):
    prod = {a for s in _deploy_role_statements(_resolved(doc)["Resources"]) for a in s["Action"]}
    assert "cloudformation:DeleteStack" not in prod
    dev = _resolved(doc, {**VALUES, "Environment": "dev", "ProjectName": "ia-comafi-dev"})["Resources"]
    # Outside prod: recovering a ROLLBACK_COMPLETE / REVIEW_IN_PROGRESS stack deletes it first.
    assert "cloudformation:DeleteStack" in {a for s in _deploy_role_statements(dev) for a in s["Action"]}


def test_provider_is_created_for_github_with_the_sts_audience(res):
    provider = res["GithubOidcProvider"]
    assert provider["Type"] == "AWS::IAM::OIDCProvider"
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]


def test_an_existing_provider_is_reused_by_arn(doc):
    existing = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    resolved = _resolved(doc, {**VALUES, "OidcProviderArn": existing})
    assert "GithubOidcProvider" not in resolved["Resources"]
    for role in ("GithubDeployRole", "GithubBuildRole", "GithubPlanRole"):
        trust = resolved["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Federated": existing}
    assert resolved["Outputs"]["OidcProviderArn"]["Value"] == existing


def test_an_empty_repository_is_refused_by_cloudformation(doc):
    # The default github_repo is empty (there is no safe guess: a placeholder
    # org could be registered by anyone); CloudFormation refuses the stack until it is set.
    (assertion,) = doc["Rules"]["GithubRepoIsSet"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "GithubRepo"}, ""]}]}
    assert "github_repo" in assertion["AssertDescription"]


def test_execution_role_is_for_cloudformation_only(res):
    trust = res["CfnExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": ["cloudformation.amazonaws.com"]}
    assert statement["Action"] == ["sts:AssumeRole"]


def test_roles_have_the_names_naming_gives(res):
    assert res["GithubDeployRole"]["Properties"]["RoleName"] == contract.resource_name("oidc_deploy_role", PROJECT)
    assert res["CfnExecutionRole"]["Properties"]["RoleName"] == contract.resource_name("cfn_execution_role", PROJECT)


# -- what the roles may do ---------------------------------------------------------------------------------


def test_no_statement_allows_every_action_or_a_whole_service(res):
    for statement in _all_statements(res):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            assert "*" not in action, (statement["Sid"], action)
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action


def test_no_statement_uses_not_action_or_not_resource(res):
    for statement in _all_statements(res):
        assert not {"NotAction", "NotResource", "NotPrincipal"} & statement.keys(), statement["Sid"]


def test_deploy_role_allows_what_deploy_py_calls(res):
    allowed = {a for s in _deploy_statements(res) for a in _as_list(s["Action"])}
    # In prod, deleting a stack is an admin's (deploy.py then names the admin command).
    assert DEPLOY_PY_ACTIONS - allowed == {"cloudformation:DeleteStack"}


def test_ci_role_passes_only_the_execution_role_to_cloudformation(res):
    (statement,) = _allowed_on(_deploy_statements(res), "iam:PassRole")
    assert statement["Action"] == ["iam:PassRole"]
    assert statement["Resource"] == [EXECUTION_ROLE_ARN]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


def test_ci_role_creates_change_sets_only_as_the_execution_role(res):
    (statement,) = _allowed_on(_deploy_statements(res), "cloudformation:CreateChangeSet")
    assert statement["Condition"] == {"StringEquals": {"cloudformation:RoleArn": EXECUTION_ROLE_ARN}}


def _stack_arn(stack: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{contract.stack_name(PROJECT, stack)}/0a1b2c3d"


def test_cloudformation_statements_name_only_project_stacks_except_the_account_wide_list(res):
    statements = [s for s in _deploy_statements(res) if any(a.startswith("cloudformation:") for a in s["Action"])]
    assert statements
    change_set_prefix = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{contract.CHANGE_SET_PREFIX}"
    for statement in statements:
        if statement["Resource"] == ["*"]:
            # ValidateTemplate, ListExports, ListImports, ListStacks and DescribeStacks
            # without a stack name: AWS authorizes them on "*" only.
            assert {a.split(":")[1] for a in statement["Action"]} <= set(github_oidc.CFN_ACCOUNT_WIDE_ACTIONS)
            assert not {"CreateChangeSet", "ExecuteChangeSet", "DeleteStack", "DeleteChangeSet"} & {
                a.split(":")[1] for a in statement["Action"]}
            continue
        for arn in statement["Resource"]:
            assert arn in {f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{PROJECT}-{s}/*" for s in DEPLOYABLE} \
                or arn.startswith(change_set_prefix), arn
    write_arns = [
        arn for s in statements if s["Resource"] != ["*"] for arn in s["Resource"] if ":stack/" in arn
    ]
    for stack in DEPLOYABLE:
        assert any(fnmatch.fnmatchcase(_stack_arn(stack), arn) for arn in write_arns), stack
    # Not this stack (the CI role cannot widen its own permissions), nor another project's.
    for other in (_stack_arn("github-oidc"), _stack_arn("x").replace(PROJECT, "other-project")):
        assert not any(fnmatch.fnmatchcase(other, arn) for arn in write_arns), other


def test_ecr_statements_name_only_the_project_repository(res):
    repository = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{contract.resource_name('repository', PROJECT)}"
    for statement in _all_statements(res):
        actions = [a for a in statement["Action"] if a.startswith("ecr:")]
        if not actions:
            continue
        if statement["Resource"] == ["*"]:
            assert actions == ["ecr:GetAuthorizationToken"], statement["Sid"]  # a login token has no resource
        else:
            assert statement["Resource"] == [repository], statement["Sid"]


def test_ci_role_restarts_only_the_project_service(res):
    (statement,) = _allowed_on(_deploy_statements(res), "ecs:UpdateService")
    cluster = contract.resource_name("cluster", PROJECT)
    service = contract.resource_name("service", PROJECT)
    assert statement["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}"]


def test_ci_role_cannot_read_secrets_or_touch_iam_beyond_passing_one_role(res):
    statements = _deploy_statements(res)
    actions = {a for s in statements for a in s["Action"]}
    # Only the secret's metadata (does it exist, to adopt it after a destroy): never a value.
    assert {a for a in actions if a.startswith("secretsmanager:")} == {"secretsmanager:DescribeSecret"}
    (describe,) = [s for s in statements if "secretsmanager:DescribeSecret" in s["Action"]]
    secret = contract.resource_name("secret", PROJECT)
    assert describe["Resource"] == [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-??????"]
    assert {a for a in actions if a.startswith("iam:")} == {"iam:PassRole"}


def test_star_resources_only_where_aws_offers_nothing_narrower(res):
    """Every action granted on Resource "*", pinned: a new one must be argued for here."""
    star = {a for s in _all_statements(res) if s["Resource"] == ["*"] for a in s["Action"]}
    expected = {f"cloudformation:{a}" for a in github_oidc.CFN_ACCOUNT_WIDE_ACTIONS} | {
        *(f"ec2:{a}" for a in github_oidc._EC2_DESCRIBE),
        "ecr:GetAuthorizationToken",
        "secretsmanager:GetRandomPassword",
        "ecs:DescribeTaskDefinition",
        # Reads CloudWatch answers about a composite alarm only when scoped to * (its API Reference).
        "cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory",
        *(f"elasticloadbalancing:{a}" for a in github_oidc._ELB_DESCRIBE),
        "elasticloadbalancing:SetWebAcl",
        *(f"application-autoscaling:{a}" for a in github_oidc._SCALING_DESCRIBE),
        "logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery",
        "kms:CreateKey", "kms:ListAliases",
        "acm:RequestCertificate",
    }
    assert star == expected
    # Of those, the creates are conditioned on the Project tag in the request.
    (create_key,) = _allowed_on(_execution_statements(res), "kms:CreateKey")
    assert create_key["Condition"] == {"StringEquals": {"aws:RequestTag/Project": PROJECT}}
    (request_certificate,) = _allowed_on(_execution_statements(res), "acm:RequestCertificate")
    assert request_certificate["Condition"] == {"StringEquals": {"aws:RequestTag/Project": PROJECT,
                                                                 "acm:ValidationMethod": "DNS"}}


@pytest.mark.parametrize("action", ["elasticloadbalancing:SetWebAcl", "logs:DescribeLogGroups"])
def test_actions_aws_authorizes_only_on_star_are_granted_on_star(res, action):
    # The Service Authorization Reference lists no resource type for them: an ARN there is AccessDenied.
    (statement,) = _allowed_on(_execution_statements(res), action)
    assert statement["Resource"] == ["*"]


def test_tags_only_as_part_of_a_create(res):
    (ec2,) = _allowed_on(_execution_statements(res), "ec2:CreateTags")
    assert set(ec2["Condition"]["StringEquals"]["ec2:CreateAction"]) == set(github_oidc._EC2_CREATE)
    (elb,) = _allowed_on(_execution_statements(res), "elasticloadbalancing:AddTags")
    assert elb["Condition"] == {"StringEquals": {"elasticloadbalancing:CreateAction": list(github_oidc._ELB_CREATE)}}


def test_ec2_creates_need_the_project_tag_and_changes_a_tagged_resource(res):
    # A create's own tag in the request, and no other project's tag on any resource it names (what is being
    # created has none yet): the request's tag alone would let a subnet go into another environment's VPC.
    tagged = {"StringEquals": {"aws:RequestTag/Project": PROJECT},
              "StringEqualsIfExists": {"aws:ResourceTag/Project": PROJECT}}
    owned = {"StringEquals": {"aws:ResourceTag/Project": PROJECT}}
    for action in github_oidc._EC2_CREATE:
        statements = _allowed_on(_execution_statements(res), f"ec2:{action}")
        assert statements and all(s["Condition"] in (tagged, owned) for s in statements), action
    for action in github_oidc._EC2_OWNED:
        (statement,) = _allowed_on(_execution_statements(res), f"ec2:{action}")
        assert statement["Condition"] == owned, action


# -- the execution role ------------------------------------------------------------------------------------


def _matches(arn: str, statement: dict) -> bool:
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in statement["Resource"])


def _role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def test_execution_role_manages_only_the_stacks_roles(res):
    iam_statements = [s for s in _execution_statements(res) if any(a.startswith("iam:") for a in s["Action"])]
    stack_roles = [_role_arn(contract.resource_name(kind, PROJECT)) for kind in contract.APP_ROLES]
    own_roles = [_role_arn(contract.resource_name(k, PROJECT)) for k in ("oidc_deploy_role", "cfn_execution_role")]
    # A role under a stack's prefix but outside the fixed names is a role CI must not create.
    others = [_role_arn("OrganizationAccountAccessRole"), _role_arn("other-project-compute-TaskRole-1"),
              _role_arn(f"{PROJECT}-compute-TaskRole-1A2B3C"), _role_arn(f"{PROJECT}-compute-task-x")]
    for statement in iam_statements:
        if statement["Action"] == ["iam:CreateServiceLinkedRole"]:
            assert statement["Resource"] == [_role_arn("aws-service-role/*")]
            continue
        for arn in own_roles + others:
            assert not _matches(arn, statement), (statement["Sid"], arn)
    role_admin = _allowed_on(iam_statements, "iam:PutRolePolicy")
    assert role_admin and all(_matches(arn, role_admin[0]) for arn in stack_roles)
    assert role_admin[0]["Resource"] == stack_roles  # exact ARNs, no pattern


def test_execution_role_passes_stack_roles_only_to_ecs_tasks_and_flow_logs(res):
    (statement,) = _allowed_on(_execution_statements(res), "iam:PassRole")
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com"]}
    }
    assert not _matches(EXECUTION_ROLE_ARN, statement)


def test_execution_role_attaches_only_the_ecs_task_execution_policy(res):
    (statement,) = _allowed_on(_execution_statements(res), "iam:AttachRolePolicy")
    assert statement["Condition"] == {
        "ArnEquals": {"iam:PolicyARN": ["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]},
        "StringEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN},
    }


@pytest.mark.parametrize("action", sorted(github_oidc.IAM_BOUNDED_ROLE_ACTIONS))
def test_execution_role_creates_or_changes_a_role_only_with_the_boundary(res, action):
    (statement,) = _allowed_on(_execution_statements(res), f"iam:{action}")
    assert statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == BOUNDARY_ARN


def test_execution_role_never_removes_a_boundary_or_writes_users_or_policy_versions(res):
    actions = {a for s in _execution_statements(res) for a in s["Action"]}
    assert not {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion",
                "iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:AddUserToGroup"} & actions


def test_execution_role_service_linked_roles_are_named_services_only(res):
    (statement,) = _allowed_on(_execution_statements(res), "iam:CreateServiceLinkedRole")
    assert set(statement["Condition"]["StringEquals"]["iam:AWSServiceName"]) == {
        "ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"}


@pytest.mark.parametrize(("action", "arn"), [
    ("s3:PutLifecycleConfiguration",
     f"arn:aws:s3:::{contract.resource_name('unhandled_bucket', PROJECT, ACCOUNT, REGION)}"),
    ("secretsmanager:UpdateSecret",
     f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{contract.resource_name('secret', PROJECT)}-AbCdEf"),
    ("logs:PutRetentionPolicy",
     f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{contract.resource_name('container_log_group', PROJECT)}:*"),
    ("ecs:UpdateService", f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{PROJECT}-cluster/{PROJECT}-api"),
    ("wafv2:UpdateWebACL", f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/{PROJECT}-web-acl/0a1b"),
])
def test_execution_role_reaches_the_project_resource_and_not_another(res, action, arn):
    statements = _allowed_on(_execution_statements(res), action)
    assert any(_matches(arn, s) for s in statements), (action, arn)
    other = arn.replace(PROJECT, "other-project")
    assert not any(_matches(other, s) for s in statements), (action, other)


def test_execution_role_never_reads_secret_values_or_objects(res):
    actions = {a for s in _execution_statements(res) for a in s["Action"]}
    assert not {"secretsmanager:GetSecretValue", "s3:GetObject", "s3:PutObject"} & actions


# -- the certificate and the DNS record (compute with hosted_zone_id) --------------------------------------------


def _allows(statements: list[dict], action: str, resource: str, context: dict) -> bool:
    """IAM's answer for one request, for the operators these statements use (StringEquals, and
    ForAllValues:StringEquals over a multi-valued key: every value in the request must be allowed)."""
    def holds(operator: str, key: str, allowed) -> bool:
        allowed, given = set(_as_list(allowed)), context.get(key)
        if operator == "StringEquals":
            return given is not None and not isinstance(given, list) and given in allowed
        if operator == "ForAllValues:StringEquals":
            return given is None or set(given) <= allowed
        raise AssertionError(f"operator {operator} not evaluated here")

    return any(
        s["Effect"] == "Allow" and action in _as_list(s["Action"])
        and any(fnmatch.fnmatchcase(resource, r) for r in _as_list(s["Resource"]))
        and all(holds(op, key, allowed) for op, keys in s.get("Condition", {}).items() for key, allowed in keys.items())
        for s in statements
    )


ZONE = f"arn:aws:route53:::hostedzone/{VALUES['HostedZoneId']}"
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0f0e0d0c-1111-2222-3333-444455556666"
OURS = {"aws:ResourceTag/Project": PROJECT}


@pytest.mark.parametrize("action, resource, context, allowed", [
    # What CloudFormation does for compute's certificate and record.
    ("acm:RequestCertificate", "*", {"aws:RequestTag/Project": PROJECT, "acm:ValidationMethod": "DNS"}, True),
    ("acm:DescribeCertificate", CERTIFICATE, OURS, True),
    ("acm:ListTagsForCertificate", CERTIFICATE, OURS, True),
    ("acm:AddTagsToCertificate", CERTIFICATE, OURS, True),
    ("acm:DeleteCertificate", CERTIFICATE, OURS, True),
    ("route53:ChangeResourceRecordSets", ZONE, {"route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"]}, True),
    ("route53:ChangeResourceRecordSets", ZONE, {"route53:ChangeResourceRecordSetsRecordTypes": ["A"]}, True),
    ("route53:ListResourceRecordSets", ZONE, {}, True),
    ("route53:GetChange", "arn:aws:route53:::change/C0123456789ABC", {}, True),
    # What it must not: another's certificate, an untagged or e-mail-validated request, another zone, other types.
    ("acm:RequestCertificate", "*", {"acm:ValidationMethod": "DNS"}, False),
    ("acm:RequestCertificate", "*", {"aws:RequestTag/Project": PROJECT, "acm:ValidationMethod": "EMAIL"}, False),
    ("acm:DeleteCertificate", CERTIFICATE, {"aws:ResourceTag/Project": "payments"}, False),
    ("acm:DeleteCertificate", CERTIFICATE, {}, False),
    ("acm:ExportCertificate", CERTIFICATE, OURS, False),
    ("acm:ImportCertificate", "*", {"aws:RequestTag/Project": PROJECT}, False),
    ("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/ZOTHERZONE0000",
     {"route53:ChangeResourceRecordSetsRecordTypes": ["A"]}, False),
    ("route53:ChangeResourceRecordSets", ZONE, {"route53:ChangeResourceRecordSetsRecordTypes": ["NS"]}, False),
    ("route53:ChangeResourceRecordSets", ZONE, {"route53:ChangeResourceRecordSetsRecordTypes": ["A", "TXT"]}, False),
    ("route53:DeleteHostedZone", ZONE, {}, False),
    ("route53:CreateHostedZone", "*", {}, False),
])
def test_execution_role_requests_and_validates_only_the_projects_certificate_in_the_one_zone(
        res, action, resource, context, allowed):
    assert _allows(_execution_statements(res), action, resource, context) is allowed


def test_without_a_hosted_zone_the_execution_role_writes_no_records(doc):
    statements = _execution_statements(_resolved(doc, {**VALUES, "HostedZoneId": ""})["Resources"])
    for zone in (ZONE, "arn:aws:route53:::hostedzone/ZOTHERZONE0000"):
        assert not _allows(statements, "route53:ChangeResourceRecordSets", zone,
                           {"route53:ChangeResourceRecordSetsRecordTypes": ["A"]})


def test_policies_fit_aws_size_limits_with_the_longest_names():
    """A managed policy holds 6,144 characters, a role's inline policies 10,240 (whitespace not counted)."""
    longest, _ = contract.longest_project_name("ap-southeast-2")
    values = {**VALUES, "ProjectName": "a" * longest, "GithubRepo": "o" * 39 + "/" + "r" * 100,
              "GithubEnvironment": "e" * 255, "AWS::Region": "ap-southeast-2", "HostedZoneId": "Z" + "9" * 31}
    doc = templates.load_yaml(templates.render(github_oidc.build()))
    resolved = _resolved(doc, values)["Resources"]
    for name, resource in resolved.items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            size = len(json.dumps(resource["Properties"]["PolicyDocument"], separators=(",", ":")))
            assert size <= 6144, (name, size)
    for role in ("GithubDeployRole", "GithubBuildRole", "GithubPlanRole"):
        inline = resolved[role]["Properties"]["Policies"]
        assert sum(len(json.dumps(p["PolicyDocument"], separators=(",", ":"))) for p in inline) <= 10240


# -- stack, parameters, outputs -------------------------------------------------------------------------------


def test_stack_is_optional_and_standalone():
    stack = templates.BY_KEY["github-oidc"]
    assert stack.optional and stack.depends_on == ()
    assert [s.key for s in templates.STACKS if not s.optional] == list(DEPLOYABLE)


def test_parameters_are_the_schema_github_keys(doc):
    assert set(doc["Parameters"]) == {"ProjectName", "GithubRepo", "GithubBranch", "GithubEnvironment",
                                      "OidcProviderArn", "HostedZoneId", "Environment", "BedrockModelId",
                                      "CreateTrail", "ReleaseRetentionDays", *contract.PROMOTION_PARAMETERS}
    prod = params.load_params("prod", [f"github_repo={REPO}", f"hosted_zone_id={VALUES['HostedZoneId']}"])
    # The repository's staging.yaml pins no account yet (the placeholder): no promotion read.
    assert params.cfn_parameter_values("github-oidc", prod) == {
        "ProjectName": PROJECT, "GithubRepo": REPO, "GithubBranch": "master", "GithubEnvironment": "prod",
        "OidcProviderArn": "", "HostedZoneId": VALUES["HostedZoneId"], "Environment": "prod",
        "BedrockModelId": "anthropic.claude-3-haiku-20240307-v1:0", "CreateTrail": "false",
        "ReleaseRetentionDays": "2557", **dict.fromkeys(contract.PROMOTION_PARAMETERS, ""),
    }


def _pinned_params(tmp_path, accounts: dict[str, str]):
    """The repository's params files with these environments' account_id set."""
    for path in params.PARAMS_DIR.glob("*.yaml"):
        text = path.read_text()
        if path.stem in accounts:
            text = re.sub(r"(?m)^account_id: .*$", f"account_id: '{accounts[path.stem]}'", text)
        (tmp_path / path.name).write_text(text)
    return tmp_path


def test_the_promotion_parameters_come_from_the_other_environments_file(tmp_path):
    staging_account, prod_account = "111111111111", "222222222222"
    where = _pinned_params(tmp_path, {"staging": staging_account, "prod": prod_account})
    prod = params.cfn_parameter_values(contract.CI_ACCESS, params.load_params("prod", params_dir=where))
    staging = params.cfn_parameter_values(contract.CI_ACCESS, params.load_params("staging", params_dir=where))
    dev = params.cfn_parameter_values(contract.CI_ACCESS, params.load_params("dev", params_dir=where))
    assert {k: prod[k] for k in contract.PROMOTION_PARAMETERS} == {
        contract.PROMOTION_SOURCE_LEDGER_PARAMETER: f"ia-comafi-staging-releases-{staging_account}-us-east-1",
        contract.PROMOTION_SOURCE_ENVIRONMENT_PARAMETER: "staging",
        contract.PROMOTION_READER_ACCOUNT_PARAMETER: "", contract.PROMOTION_READER_PROJECT_PARAMETER: ""}
    assert {k: staging[k] for k in contract.PROMOTION_PARAMETERS} == {
        contract.PROMOTION_SOURCE_LEDGER_PARAMETER: "", contract.PROMOTION_SOURCE_ENVIRONMENT_PARAMETER: "",
        contract.PROMOTION_READER_ACCOUNT_PARAMETER: prod_account,
        contract.PROMOTION_READER_PROJECT_PARAMETER: PROJECT}
    assert all(dev[k] == "" for k in contract.PROMOTION_PARAMETERS)
    # The ledger prod reads is the one staging's deployer writes (deployer/engine/ledger.py).
    from deployer.engine import ledger
    assert prod[contract.PROMOTION_SOURCE_LEDGER_PARAMETER] == ledger.bucket_name(
        "ia-comafi-staging", staging_account, "us-east-1")


def test_the_promotion_read_waits_for_the_other_environments_account(tmp_path):
    where = _pinned_params(tmp_path, {"prod": "222222222222"})  # staging still says set-me
    prod = params.cfn_parameter_values(contract.CI_ACCESS, params.load_params("prod", params_dir=where))
    assert all(prod[k] == "" for k in contract.PROMOTION_PARAMETERS)
    (where / "staging.yaml").unlink()
    prod = params.cfn_parameter_values(contract.CI_ACCESS, params.load_params("prod", params_dir=where))
    assert all(prod[k] == "" for k in contract.PROMOTION_PARAMETERS)


def test_a_broken_promotion_source_file_is_named(tmp_path):
    where = _pinned_params(tmp_path, {"prod": "222222222222"})
    (where / "staging.yaml").write_text("fargate_cpu: 3\n")
    prod = params.load_params("prod", params_dir=where)
    with pytest.raises(params.ParamError, match="staging's params.*fargate_cpu"):
        params.cfn_parameter_values(contract.CI_ACCESS, prod)


@pytest.mark.parametrize(("name", "bad"), [
    (contract.PROMOTION_READER_ACCOUNT_PARAMETER, "12345"),
    (contract.PROMOTION_SOURCE_LEDGER_PARAMETER, "Bad_Bucket"),
    (contract.PROMOTION_READER_PROJECT_PARAMETER, "x*"),
])
def test_cloudformation_refuses_a_malformed_promotion_value(doc, name, bad):
    pattern = re.compile(doc["Parameters"][name]["AllowedPattern"])
    assert pattern.fullmatch("") and not pattern.fullmatch(bad)


# -- the release ledger ---------------------------------------------------------------------------------------


def test_the_ledger_bucket_locks_every_record_and_outlives_its_stack(doc, res):
    bucket = res["ReleaseLedgerBucket"]
    props = bucket["Properties"]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert props["BucketName"] == LEDGER
    assert props["ObjectLockEnabled"] is True
    assert doc["Resources"]["ReleaseLedgerBucket"]["Properties"]["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
        "Mode": "COMPLIANCE", "Days": {"Ref": "ReleaseRetentionDays"}}}}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True)
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    # Nothing expires a record: the lifecycle only clears uploads cut short.
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert set(rule) == {"Id", "Status", "AbortIncompleteMultipartUpload"}


def test_the_ledger_bucket_refuses_plain_http(res):
    statements = res["ReleaseLedgerBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (tls,) = [s for s in statements if s["Sid"] == "DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_ledger_is_named_where_the_deployer_looks_for_it(res):
    from deployer.engine import ledger
    assert res["ReleaseLedgerBucket"]["Properties"]["BucketName"] == ledger.bucket_name(PROJECT, ACCOUNT, REGION)


def test_the_plan_role_holds_no_execute_or_write_of_what_it_plans(res):
    (policy,) = res["GithubPlanRole"]["Properties"]["Policies"]
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in _as_list(s["Action"])}
    never = {"cloudformation:ExecuteChangeSet", "cloudformation:SetStackPolicy", "cloudformation:DeleteStack",
             "cloudformation:UpdateTerminationProtection", "ecs:UpdateService", "ecr:PutImage",
             "s3:PutObjectRetention", "s3:DeleteObject"}
    assert not actions & never
    assert {"cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:DeleteChangeSet",
            "cloudformation:DescribeEvents", "iam:PassRole"} <= actions


@pytest.mark.parametrize("override", [
    "github_repo=just-a-name",
    "github_repo=org/repo:ref:refs/heads/*",
    "github_branch=feature branch",
    "oidc_provider_arn=arn:aws:iam::123456789012:oidc-provider/gitlab.com",
])
def test_bad_github_values_are_refused_before_any_aws_call(override):
    with pytest.raises(params.ParamError, match=override.split("=")[0]):
        params.load_params("prod", [override])


def test_outputs_give_the_secret_value_and_the_execution_role(doc):
    outputs = _resolved(doc)["Outputs"]
    assert outputs["DeployRoleArn"]["Value"] == f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-github-deploy"
    assert outputs["CfnExecutionRoleArn"]["Value"] == EXECUTION_ROLE_ARN
    assert outputs[contract.BUILD_ROLE_OUTPUT]["Value"] == f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-github-build"
    assert outputs[contract.PERMISSIONS_BOUNDARY_OUTPUT]["Value"] == BOUNDARY_ARN
    assert "AWS_DEPLOY_ROLE_ARN" in doc["Outputs"]["DeployRoleArn"]["Description"]
    assert outputs[contract.PLAN_ROLE_OUTPUT]["Value"] == PLAN_ROLE_ARN
    assert "AWS_PLAN_ROLE_ARN" in doc["Outputs"][contract.PLAN_ROLE_OUTPUT]["Description"]
    assert outputs[contract.RELEASE_LEDGER_OUTPUT]["Value"] == LEDGER


def test_same_input_same_bytes():
    assert templates.render(github_oidc.build()) == templates.render(github_oidc.build())


def test_deployer_change_sets_carry_the_prefix_the_ci_role_allows():
    from deployer.engine import changesets
    assert changesets.new_name().startswith(contract.CHANGE_SET_PREFIX)
