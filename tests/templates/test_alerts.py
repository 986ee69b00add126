"""Someone is told: the EventBridge rules against recorded CloudTrail events, the topic and key policies that
let the rules and the budget publish (evaluated, not string-matched), the budget, and the trail.

The events follow the shapes of AWS's documentation ("CloudTrail record contents", each service's "Logging
... API calls with AWS CloudTrail" samples, EventBridge's "AWS API Call via CloudTrail" envelope): a call the
execution role makes for CloudFormation carries ``invokedBy: cloudformation.amazonaws.com`` and the role as
``sessionContext.sessionIssuer.arn``; the deploy job's session is a web identity of GitHub's provider.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import math
import re

import pytest
from moto.events.models import EventPattern, EventPatternParser

import contract
import generate
from deployer import cli
from deployer.engine import pricing as cost
from deployer.output import Printer
from templates import alerts, params
from testkit import placeholders
from tests.templates import cfn

PROJECT = "ia-comafi"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "us-east-1"
REPOSITORY_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{contract.resource_name('repository', PROJECT)}"
DIGEST = "sha256:" + "ab" * 32
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{contract.resource_name('alarm_topic', PROJECT)}"
EXECUTION_ROLE = contract.resource_name("cfn_execution_role", PROJECT)
DEPLOY_ROLE = contract.resource_name("oidc_deploy_role", PROJECT)
ARTIFACTS_BUCKET = contract.resource_name("deploy_artifacts", PROJECT, ACCOUNT, REGION)
UNHANDLED_BUCKET = contract.resource_name("unhandled_bucket", PROJECT, ACCOUNT, REGION)


# -- the templates, resolved for one account and region -------------------------------------------------------


def _resolve(node, values: dict):
    """Fn::Sub, Ref and Fn::ImportValue filled in with ``values`` (a name -> its value)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            arg = node["Fn::Sub"]
            text, local = (arg, {}) if isinstance(arg, str) else arg
            names = {**values, **{k: _resolve(v, values) for k, v in local.items()}}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m.group(1)]), text)
        if set(node) == {"Ref"}:
            return values[node["Ref"]]
        if set(node) == {"Fn::ImportValue"}:
            return values[_resolve(node["Fn::ImportValue"], values)]
        return {k: _resolve(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, values) for v in node]
    return node


def _values(project: str = PROJECT, region: str = REGION) -> dict:
    return {
        "AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": region, "AWS::URLSuffix": "amazonaws.com",
        "ProjectName": project, "AlarmTopic": TOPIC_ARN.replace(PROJECT, project).replace(REGION, region),
        f"{project}-{contract.REPOSITORY_URI}": REPOSITORY_URI.replace(PROJECT, project).replace(REGION, region),
        "TrailBucket": contract.resource_name("trail_bucket", project, ACCOUNT, region),
        "TrailBucket.Arn": "arn:aws:s3:::" + contract.resource_name("trail_bucket", project, ACCOUNT, region),
    }


@pytest.fixture(scope="module")
def compute(docs) -> dict:
    return docs[contract.COMPUTE]


@pytest.fixture(scope="module")
def rules(compute) -> dict[str, dict]:
    """Logical id -> the rule's properties, resolved."""
    return {name: _resolve(r["Properties"], _values()) for name, r in compute["Resources"].items()
            if r["Type"] == "AWS::Events::Rule"}


# -- matching: moto's EventBridge matcher -----------------------------------------------------------------------


def _one_element_each(node):
    """Every way of taking one element of each array of objects in ``node``. EventBridge matches a field inside
    an array of objects against each element (event-ruler's README, "JSON Array Matching"); moto's flattener
    stops at such an array, so each element is offered to moto on its own."""
    if isinstance(node, dict):
        keys = list(node)
        for combo in itertools.product(*(_one_element_each(node[k]) for k in keys)):
            yield dict(zip(keys, combo, strict=True))
    elif isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        for item in node:
            yield from _one_element_each(item)
    else:
        yield node


def matches(pattern: dict, event: dict) -> bool:
    compiled = EventPattern.load(json.dumps(pattern))
    return any(compiled.matches_event(variant) for variant in _one_element_each(event))


def _told(rules: dict, event: dict) -> list[str]:
    """The rules that send ``event`` to the alarm topic."""
    return sorted(name for name, rule in rules.items()
                  if matches(rule["EventPattern"], event) and [t["Arn"] for t in rule["Targets"]] == [TOPIC_ARN])


# -- recorded CloudTrail events ------------------------------------------------------------------------------


def _identity(role: str, account: str = ACCOUNT) -> dict:
    issuer = {"type": "Role", "principalId": "AROAEXAMPLEROLEID1234", "arn": f"arn:aws:iam::{account}:role/{role}",
              "accountId": account, "userName": role}
    if role == EXECUTION_ROLE:
        session, extra = "AWSCloudFormation", {"invokedBy": "cloudformation.amazonaws.com"}
        federation = {}
    else:
        session, extra = "GitHubActions", {}
        federation = {"federatedProvider": f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"}
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLEID1234:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLEKEYID1234",
        "sessionContext": {"sessionIssuer": issuer, "webIdFederationData": federation,
                           "attributes": {"creationDate": "2026-12-02T19:00:00Z", "mfaAuthenticated": "false"}},
        **extra,
    }


def call(service: str, name: str, request: dict | None = None, role: str = EXECUTION_ROLE, error: str | None = None,
         account: str = ACCOUNT) -> dict:
    """An "AWS API Call via CloudTrail" event as EventBridge's default bus receives it."""
    detail = {
        "eventVersion": "1.09",
        "userIdentity": _identity(role, account),
        "eventTime": "2026-12-02T19:05:00Z",
        "eventSource": f"{service}.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "cloudformation.amazonaws.com" if role == EXECUTION_ROLE else "203.0.113.10",
        "userAgent": "cloudformation.amazonaws.com" if role == EXECUTION_ROLE else "Boto3/1.35.0",
        "requestParameters": request or {},
        "responseElements": None,
        "requestID": "3a9e1f2b-0000-4c1d-9a77-example",
        "eventID": "6f1e2d3c-0000-4b5a-8c9d-example",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error:
        detail |= {"errorCode": error, "errorMessage": f"User is not authorized to perform: {service}:{name}"}
    return {"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": alerts.API_CALL,
            "source": f"aws.{service}", "account": account, "time": "2026-12-02T19:05:00Z", "region": REGION,
            "resources": [], "detail": detail}


def _task_definition(*images: str) -> dict:
    return {"family": contract.resource_name("service", PROJECT), "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"], "cpu": "512", "memory": "1024",
            "containerDefinitions": [{"name": f"c{i}", "image": image, "essential": True,
                                      "portMappings": [{"containerPort": 8000, "protocol": "tcp"}]}
                                     for i, image in enumerate(images)]}


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}}]})
APP_ROLE = f"{PROJECT}-compute-task"
IAM_RULE, ACCESS_RULE, LIFECYCLE_RULE = "CiIamCallsRule", "CiAccessCallsRule", "CiLifecycleCallsRule"

# Each call the rules must report, by the rule that reports it.
SENSITIVE = {
    "CreateRole trusted by another account": (IAM_RULE, call("iam", "CreateRole", {
        "roleName": f"{PROJECT}-compute-backdoor", "assumeRolePolicyDocument": TRUST,
        "permissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/{PROJECT}-boundary"})),
    "PutRolePolicy": (IAM_RULE, call("iam", "PutRolePolicy", {
        "roleName": APP_ROLE, "policyName": "more", "policyDocument": "{}"})),
    "UpdateAssumeRolePolicy": (IAM_RULE, call("iam", "UpdateAssumeRolePolicy", {
        "roleName": APP_ROLE, "policyDocument": TRUST})),
    "AttachRolePolicy": (IAM_RULE, call("iam", "AttachRolePolicy", {
        "roleName": APP_ROLE, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})),
    "DeleteRolePermissionsBoundary": (IAM_RULE, call("iam", "DeleteRolePermissionsBoundary", {"roleName": APP_ROLE})),
    "a refused CreateRole by the deploy role": (IAM_RULE, call("iam", "CreateRole", {
        "roleName": "x", "assumeRolePolicyDocument": TRUST}, role=DEPLOY_ROLE, error="AccessDenied")),
    "RegisterTaskDefinition from Docker Hub": (LIFECYCLE_RULE, call("ecs", "RegisterTaskDefinition", _task_definition(
        "docker.io/library/python:3.12-slim"))),
    "RegisterTaskDefinition from another account's ECR": (LIFECYCLE_RULE, call("ecs", "RegisterTaskDefinition",
        _task_definition(f"{OTHER_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{PROJECT}-api@{DIGEST}"))),
    "RegisterTaskDefinition of a look-alike repository": (LIFECYCLE_RULE, call("ecs", "RegisterTaskDefinition",
        _task_definition(f"{REPOSITORY_URI}-mirror@{DIGEST}"))),
    "RegisterTaskDefinition of the project's image by a movable tag": (LIFECYCLE_RULE, call(
        "ecs", "RegisterTaskDefinition", _task_definition(f"{REPOSITORY_URI}:latest"))),
    "RegisterTaskDefinition with a foreign sidecar": (LIFECYCLE_RULE, call("ecs", "RegisterTaskDefinition",
        _task_definition(f"{REPOSITORY_URI}@{DIGEST}", "public.ecr.aws/nginx/nginx:latest"))),
    "PutBucketPolicy": (ACCESS_RULE, call("s3", "PutBucketPolicy", {
        "bucketName": UNHANDLED_BUCKET, "bucketPolicy": {"Statement": []}, "Host": "s3.amazonaws.com"})),
    "PutBucketVersioning suspended": (LIFECYCLE_RULE, call("s3", "PutBucketVersioning", {
        "bucketName": UNHANDLED_BUCKET, "VersioningConfiguration": {"Status": "Suspended"}})),
    "PutBucketLifecycle shortening the expiry": (LIFECYCLE_RULE, call("s3", "PutBucketLifecycle", {
        "bucketName": UNHANDLED_BUCKET, "LifecycleConfiguration": {"Rule": {"Expiration": {"Days": 1}}}})),
    "PutRetentionPolicy": (LIFECYCLE_RULE, call("logs", "PutRetentionPolicy", {
        "logGroupName": f"/ecs/{PROJECT}/api", "retentionInDays": 1})),
    "DeleteLogGroup": (LIFECYCLE_RULE, call("logs", "DeleteLogGroup", {"logGroupName": f"/ecs/{PROJECT}/api"})),
    "PutKeyPolicy": (ACCESS_RULE, call("kms", "PutKeyPolicy", {
        "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "policyName": "default", "policy": "{}"})),
    "SetRepositoryPolicy": (ACCESS_RULE, call("ecr", "SetRepositoryPolicy", {
        "repositoryName": f"{PROJECT}-api", "policyText": "{}"})),
    "PutLifecyclePolicy": (LIFECYCLE_RULE, call("ecr", "PutLifecyclePolicy", {
        "repositoryName": f"{PROJECT}-api", "lifecyclePolicyText": "{}"})),
    "SetStackPolicy by the deploy role": (LIFECYCLE_RULE, call("cloudformation", "SetStackPolicy", {
        "stackName": f"{PROJECT}-data", "stackPolicyBody": "{}"}, role=DEPLOY_ROLE)),
    "DisassociateWebACL": (ACCESS_RULE, call("wafv2", "DisassociateWebACL", {
        "resourceArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/{PROJECT}-alb/0123"})),
    "StopLogging, refused": (ACCESS_RULE, call("cloudtrail", "StopLogging", {"name": f"{PROJECT}-trail"},
                                                 role=DEPLOY_ROLE, error="AccessDenied")),
    "DeleteRule of the alert rule": (ACCESS_RULE, call("events", "DeleteRule", {
        "name": contract.resource_name("lifecycle_calls_rule", PROJECT)})),
    "SetTopicAttributes on the alarm topic": (ACCESS_RULE, call("sns", "SetTopicAttributes", {
        "topicArn": TOPIC_ARN, "attributeName": "Policy", "attributeValue": "{}"})),
}

# What a release does: none of it is news.
ORDINARY = {
    "RegisterTaskDefinition of the project's image by digest": call("ecs", "RegisterTaskDefinition",
                                                                      _task_definition(f"{REPOSITORY_URI}@{DIGEST}")),
    "CreateChangeSet": call("cloudformation", "CreateChangeSet", {
        "stackName": f"{PROJECT}-compute", "changeSetName": "deploy-20261202T190500-1a2b",
        "roleARN": f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}"}, role=DEPLOY_ROLE),
    "ExecuteChangeSet": call("cloudformation", "ExecuteChangeSet", {
        "stackName": f"{PROJECT}-compute", "changeSetName": "deploy-20261202T190500-1a2b"}, role=DEPLOY_ROLE),
    "UpdateService (restart)": call("ecs", "UpdateService", {
        "cluster": f"{PROJECT}-cluster", "service": f"{PROJECT}-api", "forceNewDeployment": True},
        role=DEPLOY_ROLE),
    "DeregisterTaskDefinition": call("ecs", "DeregisterTaskDefinition", {"taskDefinition": f"{PROJECT}-api:7"}),
    "PutObject of a large template": call("s3", "PutObject", {
        "bucketName": ARTIFACTS_BUCKET, "key": "templates/compute.yaml"}, role=DEPLOY_ROLE),
    "PutImage of a release tag": call("ecr", "PutImage", {
        "repositoryName": f"{PROJECT}-api", "imageTag": "release-prod-7"}, role=DEPLOY_ROLE),
    "PutBucketPublicAccessBlock of the artifacts bucket on its creation": call("s3", "PutBucketPublicAccessBlock", {
        "bucketName": ARTIFACTS_BUCKET, "PublicAccessBlockConfiguration": {"BlockPublicAcls": True}},
        role=DEPLOY_ROLE),
    "PutMetricAlarm": call("monitoring", "PutMetricAlarm", {"alarmName": f"{PROJECT}-5xx-rate"}),
    "CreateRole by an admin (the first-time setup)": {
        **call("iam", "CreateRole", {"roleName": APP_ROLE}),
        "detail": {**call("iam", "CreateRole")["detail"], "userIdentity": {
            "type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/jane",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/Admin"}}}}},
    "CreateRole by another project's execution role": call("iam", "CreateRole", {"roleName": "x"},
                                                             role="other-project-cfn-execution"),
    "CreateRole by a role of the same name in another account": call("iam", "CreateRole", {"roleName": "x"},
                                                                       account=OTHER_ACCOUNT),
}


@pytest.mark.parametrize("what", SENSITIVE)
def test_each_sensitive_call_is_told_by_its_rule(rules, what):
    rule, event = SENSITIVE[what]
    assert _told(rules, event) == [rule]


@pytest.mark.parametrize("what", ORDINARY)
def test_the_ordinary_calls_of_a_deploy_are_not(rules, what):
    assert _told(rules, ORDINARY[what]) == []


def test_every_watched_call_has_a_recorded_sample_or_is_listed(rules):
    """Each event name a rule watches is one the table above exercises, or named here with the reason it need
    not be: a watched name nobody tested could be misspelt (CloudTrail's names, not the API's)."""
    sampled = {event["detail"]["eventName"] for _, event in SENSITIVE.values()}
    watched = set(alerts.IAM_CALLS) | set(alerts.BUCKET_SETTINGS) | {"RegisterTaskDefinition"} | {
        name for table in (alerts.ACCESS_CALLS, alerts.LIFECYCLE_CALLS) for names in table.values() for name in names}
    assert "PutBucketLifecycle" in watched and "PutBucketLifecycleConfiguration" not in watched  # CloudTrail's name
    assert sampled <= watched


def test_a_sensitive_call_is_told_whichever_ci_role_makes_it(rules):
    for rule, event in SENSITIVE.values():
        for role in (EXECUTION_ROLE, DEPLOY_ROLE):
            again = copy.deepcopy(event)
            again["detail"]["userIdentity"] = _identity(role)
            assert _told(rules, again) == [rule]


def test_the_iam_rule_exists_only_where_iam_events_arrive(compute):
    for region, present in (("us-east-1", True), ("sa-east-1", False), ("eu-west-1", False)):
        active = cfn.conditions(compute, {"AWS::Region": region})
        created = cfn.select(compute["Resources"], active)
        assert (IAM_RULE in created) is present, region
        assert ACCESS_RULE in created and LIFECYCLE_RULE in created


def test_each_pattern_fits_eventbridge_for_the_longest_project_name(compute):
    """EventBridge refuses a pattern over 2,048 characters (its default quota)."""
    for region in ("us-east-1", "ap-southeast-7"):
        longest, _ = contract.longest_project_name(region)
        project = "p" * longest
        for name, rule in compute["Resources"].items():
            if rule["Type"] != "AWS::Events::Rule":
                continue
            pattern = _resolve(rule["Properties"]["EventPattern"], _values(project, region))
            size = len(json.dumps(pattern, separators=(",", ":")))
            assert size <= 2048, (name, region, size)
            EventPatternParser(json.dumps(pattern)).parse()  # EventBridge's syntax: arrays and objects only


def test_a_removed_ci_role_goes_unreported(rules):
    """The sessionIssuer scope is what the rules watch: a rule narrowed to one role misses the other."""
    pattern = copy.deepcopy(rules[LIFECYCLE_RULE]["EventPattern"])
    pattern["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = [
        f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}"]
    assert not matches(pattern, SENSITIVE["SetStackPolicy by the deploy role"][1])


# -- the topic and key policies, evaluated -----------------------------------------------------------------


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


OPERATORS = {
    "StringEquals": lambda have, want: have == want,
    "ArnEquals": lambda have, want: have == want,
    "ArnLike": lambda have, want: fnmatch.fnmatchcase(have, want),
}


def allows(statements: list[dict], service: str, action: str, resource: str, context: dict) -> bool:
    """A resource policy's answer to a service principal's request: an Allow whose principal, action, resource
    and every condition hold (a key the request lacks fails its condition); no statement here is a Deny."""
    for s in statements:
        assert s["Effect"] == "Allow"
        if service not in _list(s["Principal"].get("Service", [])):
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _list(s["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _list(s["Resource"])):
            continue
        if all(key in context and any(OPERATORS[op](context[key], want) for want in _list(wanted))
               for op, keys in s.get("Condition", {}).items() for key, wanted in keys.items()):
            return True
    return False


@pytest.fixture(scope="module")
def policies(compute) -> dict[str, list[dict]]:
    resources = compute["Resources"]
    key = _resolve(resources["AlarmKey"]["Properties"]["KeyPolicy"]["Statement"], _values())
    topic = _resolve(resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"], _values())
    # The account's own statement (KMS's default) is IAM's business, not a service principal's.
    return {"key": [s for s in key if "Service" in s["Principal"]], "topic": topic}


RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{contract.resource_name('access_calls_rule', PROJECT)}"
LIFECYCLE_RULE_ARN = RULE_ARN.replace("access", "lifecycle")
IAM_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{contract.resource_name('iam_calls_rule', PROJECT)}"
BUDGET_ARN = f"arn:aws:budgets::{ACCOUNT}:budget/{contract.resource_name('budget', PROJECT)}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _source(arn: str, account: str = ACCOUNT) -> dict:
    return {"aws:SourceArn": arn, "aws:SourceAccount": account}


# (service principal, its source): whether it may publish to the topic and use the key.
PUBLISHERS = [
    ("events.amazonaws.com", _source(RULE_ARN), True),
    ("events.amazonaws.com", _source(IAM_RULE_ARN), True),
    ("events.amazonaws.com", _source(LIFECYCLE_RULE_ARN), True),
    ("budgets.amazonaws.com", _source(BUDGET_ARN), True),
    # Another rule or budget of this account, one of another account, a source the service does not name.
    ("events.amazonaws.com", _source(f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses-rule"), False),
    ("events.amazonaws.com", _source(RULE_ARN.replace(ACCOUNT, OTHER_ACCOUNT), OTHER_ACCOUNT), False),
    ("events.amazonaws.com", _source(RULE_ARN, OTHER_ACCOUNT), False),
    ("events.amazonaws.com", {"aws:SourceAccount": ACCOUNT}, False),
    ("events.amazonaws.com", _source(BUDGET_ARN), False),
    ("budgets.amazonaws.com", _source(f"arn:aws:budgets::{ACCOUNT}:budget/another-budget"), False),
    ("budgets.amazonaws.com", _source(BUDGET_ARN.replace(ACCOUNT, OTHER_ACCOUNT), OTHER_ACCOUNT), False),
    ("budgets.amazonaws.com", _source(BUDGET_ARN, OTHER_ACCOUNT), False),
    ("budgets.amazonaws.com", _source(RULE_ARN), False),
    ("s3.amazonaws.com", _source(f"arn:aws:s3:::{UNHANDLED_BUCKET}"), False),
]


@pytest.mark.parametrize("service, context, allowed", PUBLISHERS)
def test_only_the_rules_and_the_budget_publish_to_the_topic_and_use_its_key(policies, service, context, allowed):
    assert allows(policies["topic"], service, "sns:Publish", TOPIC_ARN, context) is allowed
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allows(policies["key"], service, action, KEY_ARN, context) is allowed
    assert not allows(policies["key"], service, "kms:ScheduleKeyDeletion", KEY_ARN, context)


def test_cloudwatch_alarms_still_publish(policies):
    alarm = {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{PROJECT}-5xx-rate",
             "aws:SourceAccount": ACCOUNT}
    assert allows(policies["topic"], "cloudwatch.amazonaws.com", "sns:Publish", TOPIC_ARN, alarm)


@pytest.mark.parametrize("document", ["topic", "key"])
def test_every_condition_of_the_new_statements_is_load_bearing(policies, document):
    """Dropping any one condition of the EventBridge or Budgets statement lets a request from elsewhere in."""
    attacks = [(service, context) for service, context, allowed in PUBLISHERS if not allowed]
    action, resource = ("sns:Publish", TOPIC_ARN) if document == "topic" else ("kms:GenerateDataKey", KEY_ARN)
    for i, statement in enumerate(policies[document]):
        if statement["Sid"] not in ("EventBridgeRulesPublish", "BudgetPublishes"):
            continue
        for op, keys in statement["Condition"].items():
            for key in keys:
                weakened = copy.deepcopy(policies[document])
                del weakened[i]["Condition"][op][key]
                assert any(allows(weakened, s, action, resource, c) for s, c in attacks), (statement["Sid"], key)


# -- the budget ------------------------------------------------------------------------------------------


def test_budget_notifies_the_topic_of_actual_and_forecast_spend_over_its_amount(compute):
    created = cfn.created(compute, {contract.BUDGET_AMOUNT_PARAMETER: "164"})
    (budget,) = cfn.of_type(created, "AWS::Budgets::Budget").values()
    props = budget["Properties"]
    assert props["Budget"]["BudgetLimit"] == {"Amount": {"Ref": contract.BUDGET_AMOUNT_PARAMETER}, "Unit": "USD"}
    assert (props["Budget"]["BudgetType"], props["Budget"]["TimeUnit"]) == ("COST", "MONTHLY")
    told = {(n["Notification"]["NotificationType"], n["Notification"]["ComparisonOperator"],
             n["Notification"]["Threshold"], n["Notification"]["ThresholdType"],
             json.dumps(n["Subscribers"], sort_keys=True)) for n in props["NotificationsWithSubscribers"]}
    subscribers = json.dumps([{"Address": {"Ref": "AlarmTopic"}, "SubscriptionType": "SNS"}], sort_keys=True)
    assert told == {(kind, "GREATER_THAN", 100, "PERCENTAGE", subscribers) for kind in ("ACTUAL", "FORECASTED")}
    assert _resolve(props["Budget"]["BudgetName"], _values()) == BUDGET_ARN.rsplit("/", 1)[1]


def test_no_budget_for_amount_zero(compute):
    assert cfn.of_type(cfn.created(compute, {contract.BUDGET_AMOUNT_PARAMETER: "0"}), "AWS::Budgets::Budget") == {}


@pytest.mark.parametrize("multiple", [1.5, 1, 3.25])
def test_budget_amount_is_the_estimate_times_the_multiple_in_whole_dollars(multiple):
    values = params.load_params("prod", [f"budget_multiple={multiple}"])
    total = cost.estimate(values).total
    assert cost.budget_amount(values) == str(math.ceil(total * multiple))
    assert int(cost.budget_amount(values)) >= total * multiple


def test_budget_multiple_zero_means_no_budget_and_bad_multiples_name_the_range():
    assert cost.budget_amount(params.load_params("prod", ["budget_multiple=0"])) == "0"
    for bad in ("-1", "11", "lots", "true"):
        with pytest.raises(params.ParamError, match=r"budget_multiple=.*a number from 0 to 10"):
            params.load_params("prod", [f"budget_multiple={bad}"])


def test_deploy_py_gives_compute_the_budget_amount_and_no_other_stack(no_aws):
    _, _, ctx = cli.prepare([*placeholders.PROD, "diff", "-p", "budget_multiple=2"], cli.templates.STACKS,
                            Printer(), stdin_tty=False)
    expected = cost.budget_amount(params.load_params("prod", ["budget_multiple=2"]))
    given = {p.key: p.parameters.get(contract.BUDGET_AMOUNT_PARAMETER) for p in ctx.plans}
    assert given == {key: (expected if key == contract.COMPUTE else None) for key in given}
    assert expected != "0"


def test_generate_py_writes_the_budget_amount_into_computes_parameters(tmp_path):
    assert generate.main(["prod", "--out", str(tmp_path), "--no-lint"]) == 0
    pairs = json.loads((tmp_path / "prod" / "compute.parameters.json").read_text())
    given = {p["ParameterKey"]: p["ParameterValue"] for p in pairs}
    assert given[contract.BUDGET_AMOUNT_PARAMETER] == cost.budget_amount(params.load_params("prod"))
    for other in ("network", "data", "waf"):
        assert contract.BUDGET_AMOUNT_PARAMETER not in (tmp_path / "prod" / f"{other}.parameters.json").read_text()


# -- the trail -----------------------------------------------------------------------------------------------


TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{contract.resource_name('trail', PROJECT)}"
TRAIL_BUCKET = contract.resource_name("trail_bucket", PROJECT, ACCOUNT, REGION)
TRAIL_TYPES = ("AWS::CloudTrail::Trail", "AWS::S3::Bucket", "AWS::S3::BucketPolicy")


def test_no_trail_unless_asked(docs):
    created = cfn.created(docs[contract.CI_ACCESS], {})
    assert params.BY_KEY["create_trail"].default is False
    # The release ledger is the stack's other bucket, always there.
    assert not [n for n, r in created.items() if r["Type"] in TRAIL_TYPES and not n.startswith("ReleaseLedger")]


def test_the_trail_records_every_region_and_iam_into_a_private_retained_bucket(docs):
    created = cfn.created(docs[contract.CI_ACCESS], {"CreateTrail": "true"})
    (trail,) = cfn.of_type(created, "AWS::CloudTrail::Trail").values()
    props = _resolve(trail["Properties"], _values())
    assert props["IsLogging"] and props["IsMultiRegionTrail"] and props["IncludeGlobalServiceEvents"]
    assert props["EnableLogFileValidation"]
    assert "EventSelectors" not in props and "AdvancedEventSelectors" not in props  # management events, all
    bucket = created["TrailBucket"]  # the stack's other bucket is the release ledger
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    block = bucket["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    assert _resolve(bucket["Properties"]["BucketName"], _values()) == TRAIL_BUCKET == props["S3BucketName"]


def test_only_this_trail_writes_the_bucket_and_only_over_tls(docs):
    created = cfn.created(docs[contract.CI_ACCESS], {"CreateTrail": "true"})
    policy = created["TrailBucketPolicy"]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    values = {**_values(), "TrailBucket.Arn": f"arn:aws:s3:::{TRAIL_BUCKET}"}
    resolved = [_resolve({k: v for k, v in s.items()}, values) for s in statements]
    for s in resolved:
        if isinstance(s["Resource"], dict):  # GetAtt of the bucket
            s["Resource"] = f"arn:aws:s3:::{TRAIL_BUCKET}"
    allows_statements = [s for s in resolved if s["Effect"] == "Allow"]
    logs = f"arn:aws:s3:::{TRAIL_BUCKET}/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/12/02/x.json.gz"
    ours = {"aws:SourceArn": TRAIL_ARN, "s3:x-amz-acl": "bucket-owner-full-control"}
    assert allows(allows_statements, "cloudtrail.amazonaws.com", "s3:PutObject", logs, ours)
    assert allows(allows_statements, "cloudtrail.amazonaws.com", "s3:GetBucketAcl", f"arn:aws:s3:::{TRAIL_BUCKET}",
                  {"aws:SourceArn": TRAIL_ARN})
    another_trail = {**ours, "aws:SourceArn": TRAIL_ARN.replace(PROJECT, "someone-else")}
    assert not allows(allows_statements, "cloudtrail.amazonaws.com", "s3:PutObject", logs, another_trail)
    assert not allows(allows_statements, "cloudtrail.amazonaws.com", "s3:PutObject",
                      logs.replace(ACCOUNT, OTHER_ACCOUNT), ours)
    (deny,) = [s for s in resolved if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Action"] == "s3:*"
