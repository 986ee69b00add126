"""Two environments in one account: each one's CI principals reach none of the other's resources.

Accounts are apart by default (staging and prod each in their own), but dev and prod may share one, and then
every CI statement must be scoped to its own environment. Here dev, staging and prod render the github-oidc
stack for one ACCOUNT, and for each ordered pair (A, B) every write action each of A's CI principals holds (the
execution, deploy and build roles, the outside-prod managed policies, and the plan role once it exists) is
asked of every resource B's templates create: names from contract.RESOURCE_NAMES for B's project, tags B's.
The evaluator is tests/templates/test_policy_evaluation.py's (IAM's rules, requests checked against the
Service Authorization Reference).

A request carries what A chooses in order to meet its own conditions (its Project tag in the request, its
execution role, an e-mail protocol...) and what B's resource is (its tags, its roles' boundary, the ECS
namespace); it never carries a create's key (ec2:CreateAction...) against what already exists, and a create of
a resource AWS names (a VPC, a key) is not asked of B's resource of that type, since it cannot name one. What
gets through must be exactly the rows of docs/threat-model.md's "Two environments in one account" table. The
same requests on A's own resources are allowed (the near miss: the test cannot pass by denying everything),
and putting a prefix back (``alarm:{project}-*``) is caught.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from functools import cache

import pytest

import contract
from templates import alarms, alerts, github_oidc
from tests.templates.test_escalation_audit import (
    ACCOUNT,
    REGION,
    ROOT,
    _is_write,
    _privilege,
    _render,
    _resource_type_keys,
    _resource_types,
    resolved,
)
from tests.templates.test_policy_evaluation import MODEL, _list, _matches, allowed

ENVIRONMENTS = ("dev", "staging", "prod")
# Both environments' hosted_zone_id name the same zone: the case HostedZoneRecords cannot separate.
SHARED_ZONE = "Z0123456789TESTZONE"
# Every CI role of a project, by the contract's name kind; one the template does not create is skipped.
CI_ROLES = {"execution": "cfn_execution_role", "deploy": "oidc_deploy_role", "build": "build_role",
            "plan": "plan_role"}
# Keys whose value is a fact of the resource asked about, never the caller's choice.
RESOURCE_FACTS = ("iam:PermissionsBoundary", "application-autoscaling:service-namespace",
                  "application-autoscaling:scalable-dimension")
# Keys AWS sets only when the call tags what it is creating at that moment.
CREATE_ONLY_KEYS = ("ec2:CreateAction", "elasticloadbalancing:CreateAction")
# Creates of a resource whose id AWS generates (or whose create returns the existing one unchanged): the
# request names a new resource of these types, never another environment's ("": the action has no resource
# type at all).
CREATES_NEW = {
    **{f"ec2:{action}": new for action, (new, _) in github_oidc._EC2_CREATE.items()},
    "kms:CreateKey": ("",),
    "acm:RequestCertificate": ("",),
    "elasticloadbalancing:CreateLoadBalancer": ("loadbalancer/app/",),
    "elasticloadbalancing:CreateTargetGroup": ("targetgroup",),
}


def _values(environment: str) -> dict:
    return {"ProjectName": contract.default_project_name(environment), "Environment": environment,
            "GithubEnvironment": environment, "BedrockModelId": MODEL, "HostedZoneId": SHARED_ZONE}


@cache
def _rendered() -> dict:
    return _render(contract.CI_ACCESS)


@cache
def principals(environment: str) -> dict[str, list[dict]]:
    """Each CI role of the environment -> every statement it holds (inline and attached managed policies)."""
    res = resolved(_rendered(), _values(environment))
    project = contract.default_project_name(environment)
    out = {}
    for principal, kind in CI_ROLES.items():
        name = contract.resource_name(kind, project)
        roles = [r for r in res.values() if r["Type"] == "AWS::IAM::Role" and r["Properties"]["RoleName"] == name]
        if not roles:
            continue
        (role,) = roles
        out[principal] = [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        out[principal] += [s for r in res.values() if r["Type"] == "AWS::IAM::ManagedPolicy"
                           and name in r["Properties"].get("Roles", [])
                           for s in r["Properties"]["PolicyDocument"]["Statement"]]
    return out


# -- what each environment's templates create -----------------------------------------------------------------

@dataclass(frozen=True)
class Resource:
    service: str
    type: str  # the Service Authorization Reference's resource type
    arn: str
    tagged: bool  # CloudFormation puts the stack's tags (Project, Environment) on it


def _id(project: str, what: str, length: int = 17) -> str:
    """A stable id of AWS's making, different for each project."""
    return hashlib.sha256(f"{project}/{what}".encode()).hexdigest()[:length]


@cache
def resources(environment: str) -> list[Resource]:
    """What the environment's stacks hold, named as its templates name them."""
    project = contract.default_project_name(environment)

    def name(kind: str) -> str:
        return contract.resource_name(kind, project, ACCOUNT, REGION)

    def arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    cluster, service, alb = name("cluster"), name("service"), name("load_balancer")
    topic = arn("sns", name("alarm_topic"))
    out = [
        *(Resource("cloudformation", "stack", arn("cloudformation", f"stack/{contract.stack_name(project, s.key)}/"
                                                  f"{_id(project, s.key, 8)}-0000-1111-2222-333344445555"), True)
          for s in contract.STACKS),
        *(Resource("iam", "role", arn("iam", f"role/{name(kind)}", region=""), True)
          for kind in (*contract.APP_ROLES, *CI_ROLES.values())),
        Resource("iam", "policy", arn("iam", f"policy/{name('permissions_boundary')}", region=""), False),
        Resource("secretsmanager", "Secret", arn("secretsmanager", f"secret:{name('secret')}-AbCdEf"), True),
        Resource("ecs", "cluster", arn("ecs", f"cluster/{cluster}"), True),
        Resource("ecs", "service", arn("ecs", f"service/{cluster}/{service}"), True),
        Resource("ecs", "task-definition", arn("ecs", f"task-definition/{service}:7"), True),
        Resource("ecr", "repository", arn("ecr", f"repository/{name('repository')}"), True),
        Resource("wafv2", "webacl", arn("wafv2", f"regional/webacl/{name('web_acl')}/{_id(project, 'acl')}"), True),
        Resource("sns", "topic", topic, True),
        # The alarm e-mail's subscription: subscriptions carry no tags and have no resource type.
        Resource("sns", "", f"{topic}:{_id(project, 'subscription', 32)}", False),
        Resource("kms", "key", arn("kms", f"key/{_id(project, 'key', 32)}"), True),
        Resource("kms", "alias", arn("kms", name("alarm_key_alias")), False),
        *(Resource("cloudwatch", "alarm", arn("cloudwatch", f"alarm:{name('alarm_prefix')}{what}"), True)
          for what in alarms.ALARMS),
        # Target tracking's alarms: Application Auto Scaling names and creates them, untagged.
        Resource("cloudwatch", "alarm", arn("cloudwatch", f"alarm:TargetTracking-service/{cluster}/{service}-"
                                                          f"AlarmHigh-{_id(project, 'tt', 36)}"), False),
        Resource("cloudwatch", "dashboard", arn("cloudwatch", f"dashboard/{name('dashboard')}", region=""), True),
        Resource("elasticloadbalancing", "loadbalancer/app/",
                 arn("elasticloadbalancing", f"loadbalancer/app/{alb}/{_id(project, 'alb', 16)}"), True),
        # Listeners carry no tags (their schema: taggable false).
        Resource("elasticloadbalancing", "listener/app",
                 arn("elasticloadbalancing", f"listener/app/{alb}/{_id(project, 'alb', 16)}/{_id(project, 'l', 16)}"),
                 False),
        Resource("elasticloadbalancing", "targetgroup",
                 arn("elasticloadbalancing", f"targetgroup/{project[:12]}-Targe-{_id(project, 'tg', 12)}/"
                                             f"{_id(project, 'tg', 16)}"), True),
        # Scalable targets carry no tags: CloudFormation's ScalableTarget is not taggable.
        Resource("application-autoscaling", "ScalableTarget",
                 arn("application-autoscaling", f"scalable-target/{_id(project, 'st', 36)}"), False),
        Resource("acm", "certificate", arn("acm", f"certificate/{_id(project, 'cert', 36)}"), True),
        Resource("route53", "hostedzone", f"arn:aws:route53:::hostedzone/{SHARED_ZONE}", False),
        *(Resource("events", "rule-on-default-event-bus", arn("events", f"rule/{name(kind)}"), True)
          for kind in alerts.RULES),
        Resource("budgets", "budget", arn("budgets", f"budget/{name('budget')}", region=""), True),
        Resource("cloudtrail", "trail", arn("cloudtrail", f"trail/{name('trail')}"), True),
        *(Resource("logs", "log-group", arn("logs", f"log-group:{name(kind)}{suffix}"), True)
          for kind in ("container_log_group", "flow_log_group", "waf_log_group") for suffix in ("", ":*")),
        *(Resource("s3", "bucket", f"arn:aws:s3:::{name(kind)}", True)
          for kind in ("unhandled_bucket", "alb_logs_bucket", "deploy_artifacts", "release_ledger", "trail_bucket")),
        Resource("s3", "object", f"arn:aws:s3:::{name('unhandled_bucket')}/unhandled/2026/12/03/q.json", False),
        Resource("s3", "object", f"arn:aws:s3:::{name('deploy_artifacts')}/templates/compute.yaml", False),
        Resource("s3", "object", f"arn:aws:s3:::{name('release_ledger')}/{contract.RELEASES_PREFIX}/{environment}/"
                                 f"20261203T000000.000000Z-{_id(project, 'release', 12)}.json", False),
        *(Resource("ec2", kind, arn("ec2", f"{kind}/{prefix}-{_id(project, kind)}"), True) for kind, prefix in (
            ("vpc", "vpc"), ("subnet", "subnet"), ("route-table", "rtb"), ("security-group", "sg"),
            ("internet-gateway", "igw"), ("natgateway", "nat"), ("elastic-ip", "eipalloc"),
            ("vpc-endpoint", "vpce"), ("vpc-flow-log", "fl"), ("network-interface", "eni"))),
    ]
    return out


# What a deploy of any environment also touches, of the account's and AWS's: no environment's own, so never
# asked across environments; only for the near miss.
ACCOUNT_RESOURCES = [
    *(Resource("iam", "role", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{service}/AWSServiceRoleFor{role}", False)
      for service, role in (("ecs.amazonaws.com", "ECS"), ("elasticloadbalancing.amazonaws.com",
                                                           "ElasticLoadBalancing"),
                            ("ecs.application-autoscaling.amazonaws.com", "ApplicationAutoScaling_ECSService"))),
    Resource("wafv2", "managedruleset",
             f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/managedruleset/AWS/AWSManagedRulesCommonRuleSet", False),
]


# -- the requests ---------------------------------------------------------------------------------------------

def _supported(action: str) -> set[str]:
    privilege = _privilege(action)
    keys = {k for r in privilege["resource_types"] for k in r["condition_keys"]}
    keys |= {k for r in privilege["resource_types"] for k in _resource_type_keys(action.split(":")[0],
                                                                                r["resource_type"])}
    return keys


def _types(action: str) -> set[str]:
    return {r["resource_type"].rstrip("*").lower() for r in _privilege(action)["resource_types"]}


def _applies(action: str, resource: Resource) -> bool:
    """The action authorizes this type of resource (an action with no resource type: whatever it names)."""
    if action.split(":")[0] != resource.service and not (action.startswith("wafv2:") and
                                                         resource.service == "elasticloadbalancing"):
        return False
    types = _types(action) - {""}
    return not types or resource.type.lower() in types


def _context(statement: dict, action: str, resource: Resource, owner: str, creating: bool) -> dict:
    """A request of ``action`` on ``resource`` (``owner``'s): the statement's own condition values where the
    caller chooses them, the resource's facts where it does not; a create's keys only when ``creating``."""
    supported = _supported(action)
    context = {}
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            if key.startswith("aws:ResourceTag/") or key in RESOURCE_FACTS:
                continue
            if key in CREATE_ONLY_KEYS and not creating:
                continue
            value = wanted if operator.startswith("ForAllValues:") else _list(wanted)[0]
            context[key] = value
    project = contract.default_project_name(owner)
    if resource.tagged:
        context.update({f"aws:ResourceTag/{contract.PROJECT_TAG}": project,
                        f"aws:ResourceTag/{contract.ENVIRONMENT_TAG}": owner})
    if resource.service == "iam" and resource.type == "role":
        context["iam:PermissionsBoundary"] = f"arn:aws:iam::{ACCOUNT}:policy/" + contract.resource_name(
            "permissions_boundary", project)
    if resource.service == "application-autoscaling":
        context.update({"application-autoscaling:service-namespace": "ecs",
                        "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount"})
    return {k: v for k, v in context.items() if k.startswith("aws:") or k in supported}


def _writes(statements: list[dict]):
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        for action in _list(statement["Action"]):
            if _is_write(action):
                yield statement, action


def reached(caller: str, owner: str, statements: list[dict] | None = None) -> set[tuple[str, str, str]]:
    """(principal, Sid, action) of every statement of ``caller``'s CI roles that lets a write through onto one of
    ``owner``'s resources."""
    found = set()
    for principal, held in (statements or principals(caller)).items():
        for statement, action in _writes(held):
            for resource in resources(owner):
                if not _applies(action, resource):
                    continue
                if resource.type in CREATES_NEW.get(action, ()) or CREATES_NEW.get(action) == ("",):
                    continue
                context = _context(statement, action, resource, owner, creating=False)
                if _matches(statement, action, resource.arn, context) and allowed(held, action, resource.arn,
                                                                                   context):
                    found.add((principal, statement.get("Sid", "?"), action))
    return found


PAIRS = [(a, b) for a in ENVIRONMENTS for b in ENVIRONMENTS if a != b]


# -- the residual table ---------------------------------------------------------------------------------------

def residual_table() -> set[tuple[str, str]]:
    """(Sid, action) of each row of docs/threat-model.md's "Two environments in one account" table."""
    text = (ROOT / "docs" / "threat-model.md").read_text()
    section = text.split("## Two environments in one account", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[0]) <= {"-", " "} or cells[0] == "statement":
            continue
        (sid,) = re.findall(r"`(\w+)`", cells[0])
        for action in re.findall(r"`([\w-]+:\w+)`", cells[1]):
            rows.add((sid, action))
    return rows


# -- the tests ------------------------------------------------------------------------------------------------

def test_the_model_names_real_resource_types():
    known = set(_resource_types())
    for environment in ENVIRONMENTS:
        for resource in [*resources(environment), *ACCOUNT_RESOURCES]:
            assert not resource.type or (resource.service, resource.type.lower()) in known, resource


def test_every_ci_principal_is_evaluated():
    for environment in ENVIRONMENTS:
        held = principals(environment)
        assert {"execution", "deploy", "build"} <= set(held), environment
        if environment != contract.PRODUCTION:
            sids = {s.get("Sid") for s in held["deploy"] + held["execution"]}
            # The outside-prod managed policies are the environment's too.
            assert {"DeleteProjectStacks", "DeleteProjectLoadBalancer", "BucketGuards"} <= sids


@pytest.mark.parametrize(("caller", "owner"), PAIRS, ids=[f"{a}-reaches-{b}" for a, b in PAIRS])
def test_an_environments_ci_reaches_only_the_accepted_residue_of_another(caller, owner):
    through = {(sid, action) for _, sid, action in reached(caller, owner)}
    table = residual_table()
    assert through <= table, f"{caller}'s CI can write to {owner}'s resources: {sorted(through - table)}"


def test_the_table_lists_exactly_what_gets_through():
    through = {(sid, action) for caller, owner in PAIRS for _, sid, action in reached(caller, owner)}
    assert residual_table() == through


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_same_requests_on_the_environments_own_resources_are_allowed(environment):
    """Every write each CI statement holds goes through on some resource of the environment's own: the
    cross-environment denials are the statements' scope, not an evaluator that denies everything."""
    own = [*resources(environment), *ACCOUNT_RESOURCES]
    missing = []
    for principal, held in principals(environment).items():
        for statement, action in _writes(held):
            if not any(_applies(action, r) and allowed(held, action, r.arn, _context(
                    statement, action, r, environment, creating=True)) for r in own):
                missing.append((principal, statement.get("Sid"), action))
    assert missing == []


def _with_alarm_prefix(statements: dict[str, list[dict]], project: str) -> dict[str, list[dict]]:
    out = copy.deepcopy(statements)
    prefix = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{contract.resource_name('alarm_prefix', project)}"
    for held in out.values():
        for s in held:
            if s.get("Sid", "").startswith("ProjectAlarms"):
                s["Resource"] = [prefix + "*"]
    return out


def test_putting_the_alarm_prefix_back_lets_prod_reach_the_other_environments_alarms():
    widened = _with_alarm_prefix(principals(contract.PRODUCTION), contract.default_project_name("prod"))
    for owner in ("dev", "staging"):
        through = {(sid, action) for _, sid, action in reached(contract.PRODUCTION, owner, widened)}
        assert ("ProjectAlarms", "cloudwatch:DeleteAlarms") in through - residual_table(), owner
        assert ("ProjectAlarmsNotifyOnlyTheTopic", "cloudwatch:PutMetricAlarm") in through, owner


def test_a_wildcard_where_a_name_was_lets_an_environment_through():
    # The listener statement scoped by the ALB's fixed name, opened to any ALB: caught.
    held = copy.deepcopy(principals("dev"))
    for s in held["execution"]:
        if s.get("Sid") == "Listeners":
            s["Resource"] = [f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/*/*/*"]
    through = reached("dev", contract.PRODUCTION, held)
    assert ("execution", "Listeners", "elasticloadbalancing:ModifyListener") in through
