"""Escalation audit: can CI (or a role CI creates) become more than this project?

A condition-aware check over every statement the CloudFormation execution role,
the deploy role and the build role hold, and over the permissions boundary,
against the known IAM escalation methods: creating or rewriting a role without
the boundary, removing the boundary, writing users, groups, access keys, login
profiles or policy versions, PassRole on a wildcard or to a service that runs
code, wildcard actions, "*" resources where AWS offers a resource type, tags on
resources that exist, and writes bound to nothing of this project.

Action facts (resource types, condition keys, access levels) come from the IAM
Service Authorization Reference as parliament ships it (iam_definition.json),
so a condition key an action does not support, or a "*" the reference does not
force, is a finding too. Templates are checked resolved: every Fn::Sub filled
with a real project, account and region, every Fn::If chosen.

Run against another checkout's templates (to show the audit fails on them):
``python -m tests.templates.test_escalation_audit``, from that checkout.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

import contract
import templates
from tests.templates.cfn import conditions, resolve

PROJECT = "ia-comafi"
ACCOUNT = "123456789012"
REGION = "us-east-1"
VALUES = {
    "ProjectName": PROJECT, "GithubRepo": "acme-bank/ia-comafi-v1", "GithubBranch": "master",
    "GithubEnvironment": "prod", "OidcProviderArn": "", "HostedZoneId": "Z0123456789TESTZONE",
    "Environment": "prod", "BedrockModelId": "anthropic.claude-3-haiku-20240307-v1:0",
}
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{contract.resource_name('permissions_boundary', PROJECT)}"
PRINCIPALS = {"execution": "cfn_execution_role", "deploy": "oidc_deploy_role", "build": "build_role",
              "plan": "plan_role"}
CI_ROLE_ARNS = [f"arn:aws:iam::{ACCOUNT}:role/{contract.resource_name(kind, PROJECT)}" for kind in PRINCIPALS.values()]

# The IAM calls that create a role or widen what it may do: each supports iam:PermissionsBoundary (the reference).
BOUNDED_ROLE_ACTIONS = {f"iam:{a}" for a in (
    "CreateRole", "PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
    "PutRolePermissionsBoundary")}
# Never, for any CI principal.
FORBIDDEN_IAM = re.compile(
    r"iam:(DeleteRolePermissionsBoundary|CreatePolicyVersion|SetDefaultPolicyVersion|DeletePolicyVersion"
    r"|CreateInstanceProfile|AddRoleToInstanceProfile"
    r"|(Create|Delete|Update|Put|Attach|Detach|Add|Remove|Upload|Enable|Deactivate|Resync|Reset|Change|Tag|Untag)"
    r"\w*(User|Group|AccessKey|LoginProfile|SSHPublicKey|ServiceSpecificCredential|SigningCertificate|MFADevice"
    r"|Password)\w*)$")
# Services that run code as the role they are given.
CODE_RUNNING_SERVICES = {
    "ec2.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "ecs.amazonaws.com",
    "codebuild.amazonaws.com", "glue.amazonaws.com", "sagemaker.amazonaws.com", "batch.amazonaws.com",
    "states.amazonaws.com", "datapipeline.amazonaws.com", "elasticbeanstalk.amazonaws.com",
    "cloudformation.amazonaws.com", "scheduler.amazonaws.com", "events.amazonaws.com", "ssm.amazonaws.com",
}
# A condition on one of these keys ties a write to this project's resources.
PROJECT_BINDING_KEYS = {
    f"aws:RequestTag/{contract.PROJECT_TAG}", f"aws:ResourceTag/{contract.PROJECT_TAG}", "ec2:CreateAction",
    "elasticloadbalancing:CreateAction",
}
# Writes whose statement must carry this condition key, whatever it names.
REQUIRED_KEYS = {
    "iam:PassRole": "iam:PassedToService",
    "iam:AttachRolePolicy": "iam:PolicyARN",
    "iam:DetachRolePolicy": "iam:PolicyARN",
    "iam:CreateServiceLinkedRole": "iam:AWSServiceName",
    "cloudformation:CreateChangeSet": "cloudformation:RoleArn",
    "cloudformation:CreateStack": "cloudformation:RoleArn",
    "cloudformation:UpdateStack": "cloudformation:RoleArn",
    "ec2:CreateTags": "ec2:CreateAction",
    "elasticloadbalancing:AddTags": "elasticloadbalancing:CreateAction",
    "sns:Subscribe": "sns:Protocol",
    # An alarm's actions run as CloudWatch when it changes state (stop an instance, scale a service).
    "cloudwatch:PutMetricAlarm": "cloudwatch:AlarmActions",
    "cloudwatch:PutCompositeAlarm": "cloudwatch:AlarmActions",
    "wafv2:PutLoggingConfiguration": "wafv2:LogDestinationResource",
    "application-autoscaling:RegisterScalableTarget": "application-autoscaling:service-namespace",
    "route53:ChangeResourceRecordSets": "route53:ChangeResourceRecordSetsRecordTypes",
    # A rule's targets receive what it matches: the alert rules send the alarm topic and nothing else.
    "events:PutTargets": "events:TargetArn",
}
LEDGER_ARN = f"arn:aws:s3:::{contract.resource_name('release_ledger', PROJECT, ACCOUNT, REGION)}"
# A record is put only as a new object (If-None-Match: *), locked in COMPLIANCE mode.
LEDGER_KEYS = {"s3:PutObject": {"s3:if-none-match", "s3:object-lock-mode"}}
# Writes bound to nothing of this project, because AWS offers no narrower resource or condition key for them
# (the Service Authorization Reference). Each is a residual risk docs/threat-model.md lists by Sid.
ACCEPTED_UNBOUND = {
    "LogsAccountWide": "log deliveries and log resource policies have no resource type: WAF logging needs them",
    "Listeners": "listeners carry no tags and sit under a load balancer CloudFormation names",
    "LoadBalancingSetWebAcl": "SetWebAcl has no resource type",
    "WebAclAssociation": "wafv2 association accepts no condition key; the ALB side is any ALB",
    "ScalableTarget": "scalable targets are random ids; the one key is the namespace (ecs)",
    "ServiceLinkedRoles": "service-linked roles are AWS's, bounded by iam:AWSServiceName to three services",
    "EcrLogin": "a registry login token has no resource type",
    "ManagedRuleSets": "a web ACL that names AWS managed rule groups authorizes them too; they are not changed",
    "PullImageLogin": "a registry login token has no resource type",
    "HostedZoneRecords": "record sets carry no tags: the one zone hosted_zone_id names, A and CNAME records only",
}
# Calls the reference lists with a resource type that AWS still authorizes on "*" only, in the form deploy.py
# makes them.
STAR_ONLY = {
    "cloudformation:DescribeStacks": "without a stack name (deploy.py lists the project's stacks)",
    # The CloudWatch API Reference: a composite alarm is returned only to a caller scoped to "*".
    "cloudwatch:DescribeAlarms": "the release-health composite alarm (CloudFormation's read, deploy.py's trigger)",
    "cloudwatch:DescribeAlarmHistory": "the release-health composite alarm's history (deploy.py's trigger)",
}
ROOT = Path(__file__).resolve().parents[2]
# Actions newer than parliament's copy of the reference, entered as AWS documents them, so the audit judges them
# like any other instead of reporting them unknown. Each entry goes once parliament knows the action (a test
# below fails then). DescribeEvents (November 2025) returns a stack's operation events, change-set validation
# included: a read, granted on the project's stacks as DescribeStackEvents is; should AWS authorize it on
# another resource, the call is refused and the deployer reads the stack events instead (templates/github_oidc.py).
NEWER_THAN_PARLIAMENT = {
    "cloudformation:describeevents": {
        "privilege": "DescribeEvents", "access_level": "Read",
        "resource_types": [{"resource_type": "stack*", "condition_keys": [], "dependent_actions": []}],
    },
}


# -- the Service Authorization Reference ---------------------------------------------------------------------


@cache
def _reference() -> dict[str, dict]:
    import parliament

    path = Path(parliament.__file__).parent / "iam_definition.json"
    return {
        f"{service['prefix']}:{p['privilege']}".lower(): p
        for service in json.loads(path.read_text())
        for p in service["privileges"]
    }


def _privilege(action: str) -> dict | None:
    return _reference().get(action.lower()) or NEWER_THAN_PARLIAMENT.get(action.lower())


@cache
def _resource_types() -> dict[tuple[str, str], list[str]]:
    import parliament

    path = Path(parliament.__file__).parent / "iam_definition.json"
    return {(service["prefix"], r["resource"].lower()): r["condition_keys"]
            for service in json.loads(path.read_text()) for r in service["resources"]}


def _resource_type_keys(prefix: str, resource_type: str) -> list[str]:
    """Condition keys the reference lists for a resource type (its resource table), e.g. a KMS key's tags."""
    return _resource_types().get((prefix, resource_type.rstrip("*").lower()), [])


def _has_resource_type(action: str) -> bool:
    return any(r["resource_type"] for r in _privilege(action)["resource_types"])


def _is_write(action: str) -> bool:
    return _privilege(action)["access_level"] in {"Write", "Permissions management", "Tagging"}


# -- resolving a template -------------------------------------------------------------------------------------


def _sub(text: str, extra: dict) -> str:
    names = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::URLSuffix":
             "amazonaws.com", **extra}
    return re.sub(r"\$\{([^}!]+)\}", lambda m: str(names.get(m.group(1), f"x-{m.group(1)}")), text)


def _attrs(resources: dict, values: dict) -> dict:
    """Ref and GetAtt values of the resources a policy can name."""
    out = {}
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            role = _fill(props.get("RoleName"), values, {}) or f"{PROJECT}-stack-{name}-ABC123"
            out[name] = role
            out[f"{name}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{role}"
        elif kind == "AWS::IAM::ManagedPolicy":
            policy = _fill(props.get("ManagedPolicyName"), values, {}) or f"{PROJECT}-{name}"
            out[name] = f"arn:aws:iam::{ACCOUNT}:policy/{policy}"
        elif kind == "AWS::IAM::OIDCProvider":
            out[name] = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
        elif kind == "AWS::S3::Bucket" and props.get("BucketName"):
            bucket = _fill(props["BucketName"], values, {})
            out[name] = bucket
            out[f"{name}.Arn"] = f"arn:aws:s3:::{bucket}"
        elif kind == "AWS::Logs::LogGroup":
            group = _fill(props.get("LogGroupName"), values, {}) or name
            out[name] = group
            out[f"{name}.Arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
    return out


def _import(name: str) -> str:
    output = name.removeprefix(f"{PROJECT}-")
    samples = {
        contract.SECRET_ARN: f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
                             f"{contract.resource_name('secret', PROJECT)}-AbCdEf",
        contract.UNHANDLED_BUCKET_ARN: "arn:aws:s3:::" + contract.resource_name("unhandled_bucket", PROJECT, ACCOUNT,
                                                                                 REGION),
        contract.REPOSITORY_ARN: f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/"
                                 f"{contract.resource_name('repository', PROJECT)}",
    }
    return samples.get(output, f"x-{output}")


def _fill(node, values: dict, attrs: dict):
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            arg = node["Fn::Sub"]
            if isinstance(arg, list):
                text, local = arg
                return _sub(text, {**values, **{k: _fill(v, values, attrs) for k, v in local.items()}})
            return _sub(arg, {**values, **{k: v for k, v in attrs.items() if "." not in k},
                              **{k: v for k, v in attrs.items() if "." in k}})
        if set(node) == {"Ref"}:
            return attrs.get(node["Ref"], values.get(node["Ref"], f"x-{node['Ref']}"))
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            key = ".".join(target) if isinstance(target, list) else target
            return attrs.get(key, f"x-{key}")
        if set(node) == {"Fn::Join"}:
            sep, items = node["Fn::Join"]
            return sep.join(str(_fill(i, values, attrs)) for i in items)
        if set(node) == {"Fn::ImportValue"}:
            return _import(_fill(node["Fn::ImportValue"], values, attrs))
        return {k: _fill(v, values, attrs) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values, attrs) for v in node]
    return node


def resolved(doc: dict, values: dict | None = None) -> dict[str, dict]:
    """The template's resources as CloudFormation would create them for ``values``."""
    values = {**VALUES, **(values or {})}
    active = conditions(doc, values)
    live = {name: resolve(r, active) for name, r in doc["Resources"].items()
            if "Condition" not in r or active[r["Condition"]]}
    attrs = _attrs(live, values)
    return {name: _fill(r, values, attrs) for name, r in live.items()}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def principal_statements(res: dict) -> dict[str, list[dict]]:
    """Every statement each CI principal holds (its inline policies and the managed policies attached to it)."""
    out = {}
    for principal, kind in PRINCIPALS.items():
        name = contract.resource_name(kind, PROJECT)
        roles = [r for r in res.values() if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == name]
        if not roles:
            continue
        (role,) = roles
        statements = [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        statements += [
            s for r in res.values()
            if r["Type"] == "AWS::IAM::ManagedPolicy" and name in r["Properties"].get("Roles", [])
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        ]
        out[principal] = statements
    return out


def boundary_statements(res: dict) -> list[dict] | None:
    name = contract.resource_name("permissions_boundary", PROJECT)
    for r in res.values():
        if r["Type"] == "AWS::IAM::ManagedPolicy" and r["Properties"].get("ManagedPolicyName") == name:
            return r["Properties"]["PolicyDocument"]["Statement"]
    return None


# -- the audit -----------------------------------------------------------------------------------------------


def _condition_values(statement: dict, key: str) -> list:
    return [v for operator in statement.get("Condition", {}).values() for k, vs in operator.items() if k == key
            for v in _as_list(vs)]


def _condition_keys(statement: dict) -> set[str]:
    return {k for operator in statement.get("Condition", {}).values() for k in operator}


def _names_project(arn: str) -> bool:
    """The ARN's resource part names this project (not only a wildcard that happens to cover it)."""
    parts = arn.split(":", 5)
    return len(parts) == 6 and PROJECT in parts[5]


def _covers(pattern: str, arn: str) -> bool:
    return fnmatch.fnmatchcase(arn, pattern)


def audit_statement(principal: str, statement: dict, bounded_role_patterns: list[str]) -> list[str]:
    """What is wrong with one Allow statement of ``principal``."""
    sid = statement.get("Sid", "?")
    where = f"{principal}/{sid}"
    if statement["Effect"] != "Allow":
        return []
    if {"NotAction", "NotResource"} & statement.keys():
        return [f"{where}: NotAction/NotResource in an Allow grants everything else"]
    actions = _as_list(statement["Action"])
    resources = _as_list(statement["Resource"])
    keys = _condition_keys(statement)
    findings = []
    for action in actions:
        if "*" in action:
            findings.append(f"{where}: wildcard action {action}")
            continue
        if _privilege(action) is None:
            findings.append(f"{where}: {action} is not in the Service Authorization Reference")
            continue
        supported = {k for r in _privilege(action)["resource_types"] for k in r["condition_keys"]}
        supported |= {k for kind in _privilege(action)["resource_types"]
                      for k in _resource_type_keys(action.split(":")[0], kind["resource_type"])}
        supported |= {re.sub(r"\$\{TagKey\}", "", k) for k in supported}
        for key in keys:
            generic = re.sub(r"/[^/]+$", "/", key) if "Tag/" in key else key
            if not key.startswith("aws:") or "Tag/" in key:
                if key not in supported and generic not in supported:
                    findings.append(f"{where}: {action} does not support the condition key {key}")
        if resources == ["*"] and _has_resource_type(action) and action not in STAR_ONLY:
            findings.append(f"{where}: {action} on * though the reference offers a resource type")
        if FORBIDDEN_IAM.match(action):
            findings.append(f"{where}: {action} (users, groups, credentials, policy versions, boundary removal)")
        if action.startswith("sts:AssumeRole"):
            findings.append(f"{where}: {action}: a CI principal never needs to become another role")
        if action == "cloudformation:UpdateTerminationProtection":
            findings.append(f"{where}: {action}: with DeleteStack, CI could delete a protected (prod) stack")
        if action in BOUNDED_ROLE_ACTIONS and _condition_values(statement, "iam:PermissionsBoundary") != [
                BOUNDARY_ARN]:
            findings.append(f"{where}: {action} without iam:PermissionsBoundary = the project's boundary")
        required = REQUIRED_KEYS.get(action)
        if required and required not in keys:
            findings.append(f"{where}: {action} without the condition {required}")
        if action.startswith("iam:") and action != "iam:CreateServiceLinkedRole":
            for ci_role in CI_ROLE_ARNS:
                # Passing the execution role to CloudFormation is the deploy role's one IAM power (below).
                passes_execution = action == "iam:PassRole" and ci_role == CI_ROLE_ARNS[0] and set(
                    _condition_values(statement, "iam:PassedToService")) == {"cloudformation.amazonaws.com"}
                if any(_covers(r, ci_role) for r in resources) and not passes_execution:
                    findings.append(f"{where}: {action} reaches the CI role {ci_role}")
            if any(_covers(r, f"arn:aws:iam::{ACCOUNT}:role/AdminRole") for r in resources):
                findings.append(f"{where}: {action} on any role of the account")
        if action == "iam:UpdateAssumeRolePolicy" and not all(r in bounded_role_patterns for r in resources):
            findings.append(f"{where}: {action} on roles this principal cannot only create bounded")
        if action == "iam:PassRole":
            services = set(_condition_values(statement, "iam:PassedToService"))
            for service in services & CODE_RUNNING_SERVICES:
                for r in resources:
                    bounded = r in bounded_role_patterns
                    execution = service == "cloudformation.amazonaws.com" and r == CI_ROLE_ARNS[0]
                    if not (bounded or execution):
                        findings.append(f"{where}: passes {r} to {service}, which runs code as an unbounded role")
        if any(r.startswith(LEDGER_ARN) for r in resources):
            # The ledger's worth is that nothing erases or rewrites a record: CI writes new, locked records only,
            # and only into this account's bucket (its name is predictable; another account could create it).
            missing = sorted(LEDGER_KEYS.get(action, set()) - keys | {"s3:ResourceAccount"} - keys)
            if missing:
                findings.append(f"{where}: {action} on the release ledger without the condition "
                                f"{', '.join(missing)}")
        unbound = [r for r in resources if not _names_project(r)]
        if _is_write(action) and unbound and not keys & PROJECT_BINDING_KEYS and sid not in ACCEPTED_UNBOUND \
                and action not in BOUNDED_ROLE_ACTIONS:
            findings.append(f"{where}: {action} on {unbound} is bound to nothing of this project")
    return findings


def audit(principals: dict[str, list[dict]]) -> list[str]:
    findings = []
    for principal, statements in principals.items():
        bounded = [
            r for s in statements if "iam:CreateRole" in _as_list(s.get("Action", []))
            and _condition_values(s, "iam:PermissionsBoundary") == [BOUNDARY_ARN] for r in _as_list(s["Resource"])
        ]
        for statement in statements:
            findings += audit_statement(principal, statement, bounded)
    return findings


def audit_boundary(statements: list[dict] | None) -> list[str]:
    if statements is None:
        return ["no permissions boundary policy"]
    findings = []
    denies = [s for s in statements if s["Effect"] == "Deny"]
    denied = {a for s in denies if s.get("Resource") == "*" or s.get("Resource") == ["*"] for a in _as_list(
        s["Action"])}
    for must in ("iam:*", "organizations:*"):
        if must not in denied:
            findings.append(f"boundary: does not deny {must}")
    sts = [s for s in denies if "sts:AssumeRole" in _as_list(s["Action"])]
    if not sts or not all(_names_project(r) for s in sts for r in _as_list(s.get("NotResource", ["*"]))):
        findings.append("boundary: does not deny assuming roles outside the project")
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        for action in _as_list(statement["Action"]):
            if "*" in action or action.split(":")[0] in {"iam", "sts", "organizations"}:
                findings.append(f"boundary/{statement.get('Sid')}: allows {action}")
            elif _privilege(action) is None:
                findings.append(f"boundary/{statement.get('Sid')}: {action} is not in the reference")
            elif _as_list(statement["Resource"]) == ["*"] and _has_resource_type(action):
                findings.append(f"boundary/{statement.get('Sid')}: {action} on *")
            elif _is_write(action) and not all(_names_project(r) for r in _as_list(statement["Resource"])):
                findings.append(f"boundary/{statement.get('Sid')}: {action} beyond the project's resources")
    return findings


# -- the tests -----------------------------------------------------------------------------------------------


def _render(key: str) -> dict:
    return templates.load_yaml(templates.render(templates.build_all()[key]))


@pytest.fixture(scope="module")
def oidc() -> dict:
    return resolved(_render(contract.CI_ACCESS))


def test_every_action_entered_beside_parliament_is_still_unknown_to_it():
    assert not set(NEWER_THAN_PARLIAMENT) & set(_reference()), "parliament knows it now: drop the entry"


def test_no_escalation_path(oidc):
    principals = principal_statements(oidc)
    assert set(principals) == set(PRINCIPALS)
    assert audit(principals) == []


def test_the_boundary_caps_the_app_roles(oidc):
    assert audit_boundary(boundary_statements(oidc)) == []


def _conditioned(res: dict) -> list[tuple[str, int, str]]:
    return [(principal, i, s.get("Sid", "?")) for principal, statements in principal_statements(res).items()
            for i, s in enumerate(statements) if "Condition" in s]


CONDITIONED = _conditioned(resolved(_render(contract.CI_ACCESS)))


def test_every_ci_principal_statement_with_a_condition_is_audited():
    sids = {sid for _, _, sid in CONDITIONED}
    assert {"StackRolesWithBoundary", "StackRolesManagedPolicy", "PassStackRoles", "Ec2TagOnCreate",
            "ProjectChangeSetsRunAsExecutionRole"} <= sids


@pytest.mark.parametrize(("principal", "position", "sid"), CONDITIONED, ids=[f"{p}-{s}" for p, _, s in CONDITIONED])
def test_removing_any_condition_is_an_escalation_finding(oidc, principal, position, sid):
    principals = copy.deepcopy(principal_statements(oidc))
    del principals[principal][position]["Condition"]
    findings = audit(principals)
    assert any(f.startswith(f"{principal}/{sid}:") for f in findings), (principal, sid, findings)


@pytest.mark.parametrize(("mutation", "expected"), [
    (lambda s: s.append({"Sid": "X", "Effect": "Allow", "Action": ["iam:DeleteRolePermissionsBoundary"],
                         "Resource": [f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-compute-*"]}), "boundary removal"),
    (lambda s: s.append({"Sid": "X", "Effect": "Allow", "Action": ["iam:CreateAccessKey"],
                         "Resource": [f"arn:aws:iam::{ACCOUNT}:user/{PROJECT}-x"]}), "credentials"),
    (lambda s: s.append({"Sid": "X", "Effect": "Allow", "Action": ["iam:CreatePolicyVersion"],
                         "Resource": [BOUNDARY_ARN]}), "policy versions"),
    (lambda s: s.append({"Sid": "X", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": ["*"],
                         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}),
     "runs code"),
    (lambda s: s.append({"Sid": "X", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}), "wildcard"),
    (lambda s: s.append({"Sid": "X", "Effect": "Allow", "Action": ["cloudformation:UpdateTerminationProtection"],
                         "Resource": [f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{PROJECT}-data/*"]}),
     "protected"),
    (lambda s: s.append({"Sid": "X", "Effect": "Allow", "Action": ["ec2:TerminateInstances"],
                         "Resource": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"]}), "bound to nothing"),
])
def test_the_audit_names_each_escalation_method(oidc, mutation, expected):
    principals = copy.deepcopy(principal_statements(oidc))
    mutation(principals["execution"])
    assert any(expected in f for f in audit(principals))


def test_the_audit_rejects_a_boundary_that_allows_iam(oidc):
    statements = copy.deepcopy(boundary_statements(oidc))
    statements.append({"Sid": "X", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": ["*"]})
    assert any("allows iam:PassRole" in f for f in audit_boundary(statements))
    without_deny = [s for s in boundary_statements(oidc) if s.get("Sid") != "NeverIamOrOrganizations"]
    assert "boundary: does not deny iam:*" in audit_boundary(without_deny)


def test_every_accepted_unbound_write_is_in_the_threat_model(oidc):
    threat_model = (ROOT / "docs" / "threat-model.md").read_text().split("## Residual risks", 1)[1].split("\n## ", 1)[0]
    used = {s.get("Sid") for statements in principal_statements(oidc).values() for s in statements}
    used |= {s.get("Sid") for s in boundary_statements(oidc)}
    for sid in ACCEPTED_UNBOUND:
        assert sid in used, f"{sid} is accepted but no statement has it any more"
        assert f"`{sid}`" in threat_model, sid


# -- every role of the app stacks carries the boundary --------------------------------------------------------


def _app_roles(values: dict) -> dict[str, dict]:
    out = {}
    for key in contract.APP_STACKS:
        doc = _render(key)
        res = resolved(doc, values)
        out.update({f"{key}/{n}": r for n, r in res.items() if r["Type"] == "AWS::IAM::Role"})
    return out


def test_every_app_stack_role_carries_the_boundary_once_the_ci_stack_exists():
    roles = _app_roles({contract.PERMISSIONS_BOUNDARY_PARAMETER: BOUNDARY_ARN, "FlowLogs": "true"})
    assert {"network/FlowLogRole", "compute/TaskExecutionRole", "compute/TaskRole"} <= set(roles)
    for name, role in roles.items():
        assert role["Properties"].get("PermissionsBoundary") == BOUNDARY_ARN, name


def test_without_the_ci_stack_the_roles_have_no_boundary_so_an_admin_can_deploy():
    for name, role in _app_roles({"FlowLogs": "true"}).items():
        assert "PermissionsBoundary" not in role["Properties"], name


def test_the_boundary_parameter_accepts_only_empty_or_a_policy_arn():
    for key in contract.APP_STACKS:
        doc = _render(key)
        has_roles = any(r["Type"] == "AWS::IAM::Role" for r in doc["Resources"].values())
        parameter = doc.get("Parameters", {}).get(contract.PERMISSIONS_BOUNDARY_PARAMETER)
        if not has_roles:
            continue
        assert parameter["Type"] == "String" and parameter["Default"] == "", key
        pattern = re.compile(parameter["AllowedPattern"])
        assert pattern.fullmatch("") and pattern.fullmatch(BOUNDARY_ARN), key
        for bad in ("arn:aws:iam::aws:policy/AdministratorAccess", f"arn:aws:iam::{ACCOUNT}:role/x", "x"):
            assert not pattern.fullmatch(bad), (key, bad)


def test_the_boundary_allows_what_the_app_roles_need():
    """Each app role's own statements fall inside the boundary (else the role would lose them on real AWS)."""
    oidc_res = resolved(_render(contract.CI_ACCESS))
    allows = [s for s in boundary_statements(oidc_res) if s["Effect"] == "Allow"]
    roles = _app_roles({contract.PERMISSIONS_BOUNDARY_PARAMETER: BOUNDARY_ARN, "FlowLogs": "true"})
    for name, role in roles.items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                for action in _as_list(statement["Action"]):
                    for resource in _as_list(statement["Resource"]):
                        assert any(action in _as_list(a["Action"]) and any(
                            _covers(pattern, resource) for pattern in _as_list(a["Resource"])) for a in allows), \
                            (name, action, resource)


# -- parliament, over every identity policy of every template -------------------------------------------------

PARLIAMENT_IGNORE = Path(__file__).with_name("parliament_ignore.yaml")


def _identity_policies() -> list[tuple[str, dict]]:
    out = []
    for key in templates.build_all():
        res = resolved(_render(key), {contract.PERMISSIONS_BOUNDARY_PARAMETER: BOUNDARY_ARN, "FlowLogs": "true"})
        for name, r in res.items():
            props = r.get("Properties", {})
            if r["Type"] == "AWS::IAM::Role":
                out += [(f"{key}/{name}/{p['PolicyName']}", p["PolicyDocument"]) for p in props.get("Policies", [])]
            elif r["Type"] in {"AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::RolePolicy"}:
                out.append((f"{key}/{name}", props["PolicyDocument"]))
    return out


def _without_newer_actions(document: dict) -> dict:
    out = copy.deepcopy(document)
    kept = []
    for statement in out["Statement"]:
        if "Action" in statement:
            statement["Action"] = [a for a in _as_list(statement["Action"]) if a.lower() not in NEWER_THAN_PARLIAMENT]
            if not statement["Action"]:
                continue
        kept.append(statement)
    out["Statement"] = kept
    return out


def _parliament() -> tuple[list[str], list[dict]]:
    """(findings no ignore entry explains, ignore entries that explained none)."""
    import parliament
    from parliament import statement

    # parliament's reference data types multi-valued ARN keys (events:TargetArn) as ArrayOfARN, which its own
    # code predates and raises on: an array of ARNs takes the ARN operators (with ForAllValues/ForAnyValue).
    known = getattr(statement.translate_documentation_types, "__wrapped__", statement.translate_documentation_types)

    def translate(name):
        return known("ARN" if name == "ArrayOfARN" else name)

    translate.__wrapped__ = known
    statement.translate_documentation_types = translate

    ignored = yaml.safe_load(PARLIAMENT_IGNORE.read_text())["ignore"]
    used: set[int] = set()
    findings = []
    for where, document in _identity_policies():
        # An action parliament does not know stops its policy-level checks (the escalation ones): it is left
        # out of what parliament reads, and the audit above judges it from NEWER_THAN_PARLIAMENT.
        document = _without_newer_actions(document)
        for finding in parliament.analyze_policy_string(json.dumps(document)).findings:
            text = f"{finding.detail} {json.dumps(finding.location, default=str)}"
            matches = [i for i, entry in enumerate(ignored)
                       if entry["issue"] == finding.issue and entry["policy"] == where and entry["match"] in text]
            used.update(matches)
            if not matches:
                findings.append(f"{where}: {finding.issue} {text}")
    return findings, [entry for i, entry in enumerate(ignored) if i not in used]


def test_parliament_finds_nothing_unexplained():
    findings, _ = _parliament()
    assert findings == []


def test_every_parliament_exception_is_explained_and_used():
    _, unused = _parliament()
    assert unused == []
    for entry in yaml.safe_load(PARLIAMENT_IGNORE.read_text())["ignore"]:
        assert len(entry["reason"]) > 40, entry


def main() -> int:
    """Audit the github-oidc template of the checkout this runs in; print the findings."""
    sys.path.insert(0, str(Path.cwd()))
    res = resolved(templates.load_yaml(templates.render(templates.build_all()[contract.CI_ACCESS])))
    findings = audit(principal_statements(res)) + audit_boundary(boundary_statements(res))
    print("\n".join(findings) or "no findings")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
