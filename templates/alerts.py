"""Someone is told: of the CI roles' sensitive calls, of spend beyond the estimate, through the alarm topic.

compute.build() creates the EventBridge rules that send the alarm topic every sensitive call the CloudFormation
execution role or the deploy role makes (IAM role, policy and trust changes; a task definition whose image is
not the project's repository by digest; bucket, key, repository, secret, topic and log-group policy or
retention changes; stack policy and protection; the WebACL let go; the trail or the rules themselves touched),
and the monthly budget at ``budget_multiple`` times the cost estimate (generate.py and deploy.py pass the amount
as ``contract.BUDGET_AMOUNT_PARAMETER``). alarms.create_topic admits both to the topic and to its key with the
statements below, each scoped to its rule or budget. The github-oidc stack, which an admin deploys, creates the
multi-region trail those calls reach EventBridge through when the account has none (``create_trail``).

The roles are named by their fixed ARNs (contract.RESOURCE_NAMES), so compute needs nothing from the CI access
stack, which is deployed first. A call matches whether AWS allowed it or refused it (CloudTrail records both):
a refused attempt by a CI role is news too.
"""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs import sns as sns_actions
from awacs.aws import Allow, ArnEquals, Condition, Principal, Statement, StringEquals
from troposphere import Equals, GetAtt, Not, Parameter, Ref, Sub, Template, budgets, cloudtrail, events, s3

import contract
from templates import naming, storage
from templates.metadata import checkov_skip

EVENTS_PRINCIPAL = "events.amazonaws.com"
BUDGETS_PRINCIPAL = "budgets.amazonaws.com"
CLOUDTRAIL_PRINCIPAL = "cloudtrail.amazonaws.com"
API_CALL = "AWS API Call via CloudTrail"

# The principals whose calls are watched: CloudFormation's (the execution role, whatever a template asks) and the
# deploy job's. Their sessions name the role as sessionIssuer.arn.
CI_ROLES = ("cfn_execution_role", "oidc_deploy_role")

# IAM is a global service: CloudTrail delivers its events to EventBridge in us-east-1 only, so the IAM rule exists
# there only (docs/threat-model.md says what another region misses).
IAM_EVENTS_REGION = "us-east-1"
IN_IAM_EVENTS_REGION = "InIamEventsRegion"
IAM_CALLS = (
    "AttachRolePolicy", "CreatePolicy", "CreatePolicyVersion", "CreateRole", "CreateServiceLinkedRole",
    "DeletePolicy", "DeleteRole", "DeleteRolePermissionsBoundary", "DeleteRolePolicy", "DetachRolePolicy",
    "PutRolePermissionsBoundary", "PutRolePolicy", "SetDefaultPolicyVersion", "UpdateAssumeRolePolicy",
    "UpdateRole",
)
# Calls of the regional services, event source -> event names (CloudTrail's names, write calls only: EventBridge
# never receives a Get, List or Describe). Two rules, since one pattern holds 2,048 characters.
# Who may reach a resource or is told of it: resource policies, keys, the WebACL, the trail and these rules.
ACCESS_CALLS: dict[str, tuple[str, ...]] = {
    "cloudtrail.amazonaws.com": ("DeleteTrail", "PutEventSelectors", "StopLogging", "UpdateTrail"),
    "ecr.amazonaws.com": ("DeleteRepositoryPolicy", "SetRepositoryPolicy"),
    "events.amazonaws.com": ("DeleteRule", "DisableRule", "PutRule", "PutTargets", "RemoveTargets"),
    "kms.amazonaws.com": ("DisableKey", "DisableKeyRotation", "PutKeyPolicy", "ScheduleKeyDeletion"),
    "s3.amazonaws.com": ("DeleteBucketPolicy", "PutBucketAcl", "PutBucketOwnershipControls", "PutBucketPolicy"),
    "secretsmanager.amazonaws.com": ("DeleteResourcePolicy", "DeleteSecret", "PutResourcePolicy"),
    "sns.amazonaws.com": ("DeleteTopic", "SetTopicAttributes", "Unsubscribe"),
    "wafv2.amazonaws.com": ("DeleteLoggingConfiguration", "DeleteWebACL", "DisassociateWebACL"),
}
# What is kept, for how long, what is protected, and what runs. Not ecr:PutImageTagMutability: CloudFormation's
# repository handler calls it on every update of the repository, and the task definition runs a digest, which no
# tag move changes.
LIFECYCLE_CALLS: dict[str, tuple[str, ...]] = {
    "cloudformation.amazonaws.com": ("DeleteStack", "SetStackPolicy", "UpdateTerminationProtection"),
    "ec2.amazonaws.com": ("DeleteFlowLogs",),
    "ecr.amazonaws.com": ("DeleteLifecyclePolicy", "DeleteRepository", "PutLifecyclePolicy"),
    "elasticloadbalancing.amazonaws.com": ("DeleteLoadBalancer",),
    "logs.amazonaws.com": ("DeleteLogGroup", "DeleteResourcePolicy", "DeleteRetentionPolicy", "PutResourcePolicy",
                           "PutRetentionPolicy"),
}
# Bucket settings: sensitive on every bucket but deploy.py's artifacts bucket, whose public access block,
# encryption and lifecycle the deploy role sets once when it creates it.
BUCKET_SETTINGS = (
    "DeleteBucketEncryption", "DeleteBucketLifecycle", "DeleteBucketPublicAccessBlock", "PutBucketEncryption",
    "PutBucketLifecycle", "PutBucketPublicAccessBlock", "PutBucketVersioning",
)

HAS_BUDGET = "HasBudget"
# Told as the month's spend passes the budget, and as AWS forecasts it will.
BUDGET_NOTIFICATIONS = ("ACTUAL", "FORECASTED")

CREATES_TRAIL = "CreatesTrail"
# PCI DSS 10.5.1 asks for a year of audit trail; older log files expire.
TRAIL_LOG_DAYS = 365

_sub_text = naming.resource_name_text


def _arn(service: str, resource: str, region: str = "${AWS::Region}") -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:{service}:{region}:${{AWS::AccountId}}:{resource}")


def ci_role_arns() -> list[Sub]:
    return [_arn("iam", f"role/{_sub_text(kind)}", region="") for kind in CI_ROLES]


RULES = ("iam_calls_rule", "access_calls_rule", "lifecycle_calls_rule")


def rule_arns() -> list[Sub]:
    """The rules' ARNs, known before they exist (the topic and key policies name them)."""
    return [_arn("events", f"rule/{_sub_text(kind)}") for kind in RULES]


def budget_arn() -> Sub:
    return _arn("budgets", f"budget/{_sub_text('budget')}", region="")


def _from(source_arns) -> Condition:
    # Confused-deputy guard: the service acts for this account's rule or budget only.
    return Condition([StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                      ArnEquals("aws:SourceArn", source_arns)])


# (Sid, service principal, the ARNs it publishes for)
_PUBLISHERS = (
    ("EventBridgeRulesPublish", EVENTS_PRINCIPAL, rule_arns),
    ("BudgetPublishes", BUDGETS_PRINCIPAL, lambda: [budget_arn()]),
)


def key_statements() -> list[Statement]:
    """The alarm key's statements for the rules and the budget: an encrypted topic takes a message only from a
    publisher that may use its key."""
    return [Statement(Sid=sid, Effect=Allow, Principal=Principal("Service", principal),
                      Action=[kms_actions.Decrypt, kms_actions.Action("GenerateDataKey*")], Resource=["*"],
                      Condition=_from(arns()))
            for sid, principal, arns in _PUBLISHERS]


def topic_statements(topic) -> list[Statement]:
    """The alarm topic's statements for the rules and the budget."""
    return [Statement(Sid=sid, Effect=Allow, Principal=Principal("Service", principal), Action=[sns_actions.Publish],
                      Resource=[Ref(topic)], Condition=_from(arns()))
            for sid, principal, arns in _PUBLISHERS]


# ---- the rules ----


def _calls(source: str, names, **more) -> dict:
    return {"eventSource": [source], "eventName": list(names), **more}


def project_image_prefix() -> Sub:
    """How the task definition names the project's image: its repository, by digest."""
    return Sub("${Repository}@sha256:", Repository=naming.import_value(contract.REPOSITORY_URI))


def _pattern(*calls: dict) -> dict:
    """The CI roles' calls among ``calls``, each {eventSource, eventName, ...}."""
    only = {"$or": list(calls)} if len(calls) > 1 else calls[0]
    return {"detail-type": [API_CALL], "detail": {"userIdentity": _by_ci_roles(), **only}}


def _by_ci_roles() -> dict:
    return {"sessionContext": {"sessionIssuer": {"arn": ci_role_arns()}}}


def iam_pattern() -> dict:
    return _pattern(_calls("iam.amazonaws.com", IAM_CALLS))


def access_pattern() -> dict:
    return _pattern(*(_calls(source, names) for source, names in ACCESS_CALLS.items()))


def lifecycle_pattern() -> dict:
    return _pattern(
        *(_calls(source, names) for source, names in LIFECYCLE_CALLS.items()),
        _calls("s3.amazonaws.com", BUCKET_SETTINGS, requestParameters={
            "bucketName": [{"anything-but": naming.resource_name_sub("deploy_artifacts")}]}),
        # Any container whose image is not the project's repository by digest (EventBridge matches a field of an
        # array of objects against each element).
        _calls("ecs.amazonaws.com", ["RegisterTaskDefinition"], requestParameters={
            "containerDefinitions": {"image": [{"anything-but": {"prefix": project_image_prefix()}}]}}),
    )


def create_rules(t: Template, topic) -> list[events.Rule]:
    """compute stack: the rules that send the CI roles' sensitive calls to the alarm topic (the whole
    CloudTrail event: who, what, on which resource, allowed or refused)."""
    t.add_condition(IN_IAM_EVENTS_REGION, Equals(Ref("AWS::Region"), IAM_EVENTS_REGION))
    rules = [
        ("CiIamCallsRule", "iam_calls_rule", iam_pattern(),
         "The CI roles' IAM role, policy, boundary and trust changes", {"Condition": IN_IAM_EVENTS_REGION}),
        ("CiAccessCallsRule", "access_calls_rule", access_pattern(),
         "The CI roles' resource policy, key, WebACL, trail and alert-rule changes", {}),
        ("CiLifecycleCallsRule", "lifecycle_calls_rule", lifecycle_pattern(),
         "The CI roles' retention, deletion, protection and foreign-image changes", {}),
    ]
    return [
        t.add_resource(events.Rule(
            title,
            Name=naming.resource_name_sub(kind),
            Description=f"{description}, to the alarm topic",
            State="ENABLED",
            EventPattern=pattern,
            Targets=[events.Target(Id="AlarmTopic", Arn=Ref(topic))],
            **attributes,
        ))
        for title, kind, pattern, description, attributes in rules
    ]


# ---- the budget ----


def create_budget(t: Template, topic) -> budgets.Budget:
    """compute stack: the month's cost against the estimate times budget_multiple, told to the alarm topic.

    The whole account's cost: Bedrock's on-demand calls carry no resource tag a cost filter could select, and
    they are what a flood of questions makes expensive."""
    amount = t.add_parameter(Parameter(
        contract.BUDGET_AMOUNT_PARAMETER,
        Type="Number",
        Default="0",
        MinValue=0,
        Description="Monthly budget in USD (set by generate.py and deploy.py: the cost estimate times "
                    "budget_multiple; 0: no budget)",
    ))
    t.add_condition(HAS_BUDGET, Not(Equals(Ref(amount), "0")))
    return t.add_resource(budgets.Budget(
        "MonthlyCostBudget",
        Condition=HAS_BUDGET,
        Budget=budgets.BudgetData(
            BudgetName=naming.resource_name_sub("budget"),
            BudgetType="COST",
            TimeUnit="MONTHLY",
            BudgetLimit=budgets.Spend(Amount=Ref(amount), Unit="USD"),
        ),
        NotificationsWithSubscribers=[
            budgets.NotificationWithSubscribers(
                Notification=budgets.Notification(NotificationType=kind, ComparisonOperator="GREATER_THAN",
                                                  Threshold=100, ThresholdType="PERCENTAGE"),
                Subscribers=[budgets.Subscriber(SubscriptionType="SNS", Address=Ref(topic))],
            )
            for kind in BUDGET_NOTIFICATIONS
        ],
    ))


# ---- the trail ----


def trail_arn() -> Sub:
    return _arn("cloudtrail", f"trail/{_sub_text('trail')}")


def create_trail(t: Template, p: dict) -> cloudtrail.Trail:
    """github-oidc stack, when ``create_trail`` is true: the multi-region trail (management events, IAM's
    included) without which CloudTrail sends EventBridge no API call at all, into a private, TLS-only bucket
    that only this trail writes."""
    t.add_condition(CREATES_TRAIL, Equals(Ref(p["create_trail"]), "true"))
    bucket = t.add_resource(storage.retained(storage.private_bucket(
        "TrailBucket",
        "trail_bucket",
        s3.LifecycleRule(
            Id="expire-trail-logs",
            Status="Enabled",
            ExpirationInDays=TRAIL_LOG_DAYS,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=TRAIL_LOG_DAYS),
        ),
        Condition=CREATES_TRAIL,
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        Metadata=checkov_skip(
            ("CKV_AWS_18", "this bucket is itself the audit log (the account's API calls); logging reads of it "
                           "would need a second bucket, and CloudTrail records its bucket-level calls already"),
        ),
    )))
    from_trail = {"StringEquals": {"aws:SourceArn": trail_arn()}}
    policy = t.add_resource(storage.bucket_policy(
        "TrailBucketPolicy",
        bucket,
        {
            "Sid": "CloudTrailChecksTheAcl",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
            "Action": "s3:GetBucketAcl",
            "Resource": GetAtt(bucket, "Arn"),
            "Condition": from_trail,
        },
        {
            "Sid": "CloudTrailWritesThisAccountsLogs",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
            "Action": "s3:PutObject",
            "Resource": Sub("${TrailBucket.Arn}/AWSLogs/${AWS::AccountId}/*"),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                           "aws:SourceArn": trail_arn()}},
        },
        Condition=CREATES_TRAIL,
    ))
    return t.add_resource(cloudtrail.Trail(
        "Trail",
        Condition=CREATES_TRAIL,
        DependsOn=[policy],
        TrailName=naming.resource_name_sub("trail"),
        S3BucketName=Ref(bucket),
        IsLogging=True,
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        Metadata=checkov_skip(
            ("CKV_AWS_35", "S3-managed encryption in a private, TLS-only bucket: the logs hold API call records, "
                           "no customer data; SSE-KMS would add a key policy to keep for CloudTrail "
                           "(docs/threat-model.md)"),
        ),
    ))
