"""waf stack: a REGIONAL WebACL in front of the compute stack's ALB, and its request log.

Default allow; the rules block, in priority order, a flood of POST /v1/query
from one IP, a per-IP request flood and the three AWS managed rule groups of
the original CDK design. Blocked and counted requests are logged to CloudWatch Logs with the
credentials redacted. Imports only the ALB ARN.
"""

from __future__ import annotations

import json

from troposphere import Output, Ref, Sub, Template, logs
from troposphere import wafv2 as waf

import contract
from templates import alarms, naming, params, storage

RATE_WINDOW_SECONDS = 300

# The model-backed route: unauthenticated, and each call can cost a Bedrock invocation.
QUERY_METHOD = "POST"
QUERY_PATH = "/v1/query"

# Rule names are their metric names (contract.py: the dashboard reads them). Priority order is this tuple's.

# Headers that carry credentials: never written to the log.
REDACTED_HEADERS = ("authorization", "cookie")
# What the log keeps. WAF logs every request it inspects unless a filter drops it, and a filter can only keep
# or drop by the action taken: allowed requests are the bulk and are in the ALB access logs already.
LOGGED_ACTIONS = ("BLOCK", "COUNT")
LOG_GROUP_ARN = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroup}"


def build() -> Template:
    t = Template(Description="ia-comafi waf: WebACL (rate limits and AWS managed rules) on the API's ALB, "
                             "and its log of blocked requests")
    p = params.add_parameters(t, contract.WAF)

    web_acl = _create_web_acl(t, p)
    _associate_with_load_balancer(t, web_acl)
    _add_logging(t, p, web_acl)
    blocked = alarms.create_blocked_requests_alarm(
        t, p, web_acl.VisibilityConfig.MetricName, naming.import_value(contract.ALARM_TOPIC_ARN)
    )

    t.add_output(Output(contract.WEB_ACL_ARN, Description="ARN of the WebACL on the ALB", Value=web_acl.GetAtt("Arn")))
    t.add_output(Output(contract.BLOCKED_REQUESTS_ALARM_ARN, Value=blocked.GetAtt("Arn"),
                        Description="Blocked-requests alarm the deployer passes as waf's rollback trigger"))
    return t


def _visibility(metric_name) -> waf.VisibilityConfig:
    return waf.VisibilityConfig(
        CloudWatchMetricsEnabled=True,
        MetricName=metric_name,
        SampledRequestsEnabled=True,
    )


def _rate_rule(name: str, limit, priority: int, scope_down: waf.Statement | None = None) -> waf.WebACLRule:
    statement = waf.RateBasedStatement(Limit=limit, AggregateKeyType="IP", EvaluationWindowSec=RATE_WINDOW_SECONDS)
    if scope_down is not None:
        statement.ScopeDownStatement = scope_down
    return waf.WebACLRule(
        Name=name,
        Priority=priority,
        Action=waf.RuleAction(Block=waf.BlockAction()),
        Statement=waf.Statement(RateBasedStatement=statement),
        VisibilityConfig=_visibility(name),
    )


def _query_route() -> waf.Statement:
    """POST /v1/query: only the requests this statement matches count toward the query rule's limit."""
    method = waf.ByteMatchStatement(
        FieldToMatch=waf.FieldToMatch(Method={}),
        PositionalConstraint="EXACTLY",
        SearchString=QUERY_METHOD,
        TextTransformations=[waf.TextTransformation(Priority=0, Type="NONE")],
    )
    # URL_DECODE first: uvicorn hands the app a percent-decoded path, so /v1/%71uery reaches the same route
    # and must count too.
    path = waf.ByteMatchStatement(
        FieldToMatch=waf.FieldToMatch(UriPath={}),
        PositionalConstraint="EXACTLY",
        SearchString=QUERY_PATH,
        TextTransformations=[waf.TextTransformation(Priority=0, Type="URL_DECODE")],
    )
    return waf.Statement(AndStatement=waf.AndStatement(Statements=[
        waf.Statement(ByteMatchStatement=method),
        waf.Statement(ByteMatchStatement=path),
    ]))


def _managed_rule(name: str, priority: int) -> waf.WebACLRule:
    # OverrideAction None keeps each group's own block actions (Count would only observe).
    return waf.WebACLRule(
        Name=name,
        Priority=priority,
        OverrideAction=waf.OverrideAction(**{"None": {}}),
        Statement=waf.Statement(ManagedRuleGroupStatement=waf.ManagedRuleGroupStatement(VendorName="AWS", Name=name)),
        VisibilityConfig=_visibility(name),
    )


def _create_web_acl(t: Template, p: dict) -> waf.WebACL:
    # The query rule goes first: a request it blocks is never counted by the looser rules after it.
    rules = [
        _rate_rule(contract.WAF_QUERY_RATE_METRIC, Ref(p["waf_query_rate_limit"]), priority=0,
                   scope_down=_query_route()),
        _rate_rule(contract.WAF_RATE_METRIC, Ref(p["waf_rate_limit"]), priority=1),
    ]
    rules += [_managed_rule(name, priority) for priority, name in enumerate(contract.WAF_MANAGED_RULE_GROUPS, start=2)]
    name = naming.resource_name_sub("web_acl")
    return t.add_resource(
        waf.WebACL(
            "WebAcl",
            Name=name,
            Scope="REGIONAL",
            DefaultAction=waf.DefaultAction(Allow=waf.AllowAction()),
            Rules=rules,
            VisibilityConfig=_visibility(name),
        )
    )


def _associate_with_load_balancer(t: Template, web_acl: waf.WebACL) -> None:
    t.add_resource(
        waf.WebACLAssociation(
            "WebAclAssociation",
            ResourceArn=naming.import_value(contract.ALB_ARN),
            WebACLArn=web_acl.GetAtt("Arn"),
        )
    )


def _add_logging(t: Template, p: dict, web_acl: waf.WebACL) -> None:
    log_group = t.add_resource(
        storage.log_group("WafLogGroup", "waf_log_group", Ref(p["waf_log_retention_days"]))
    )
    # The log group's ARN as WAF wants it: GetAtt Arn ends in ":*", which WAF rejects as not an ARN.
    log_group_arn = Sub(LOG_GROUP_ARN, LogGroup=Ref(log_group))
    # PutLoggingConfiguration would otherwise add this grant itself to an account-wide policy, which needs
    # logs:PutResourcePolicy on every log group for whoever deploys, and outlives the stack. Declared here it
    # covers only this group, only for deliveries from this account, and goes with the stack.
    # CloudWatch Logs takes the policy as a JSON string: one Fn::Sub over it fills in the names.
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "WafLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{LOG_GROUP_ARN}:log-stream:*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
                "ArnLike": {"aws:SourceArn": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"},
            },
        }],
    }
    delivery = t.add_resource(
        logs.ResourcePolicy(
            "WafLogDeliveryPolicy",
            PolicyName=naming.resource_name_sub("waf_log_policy"),
            PolicyDocument=Sub(json.dumps(policy, sort_keys=True), LogGroup=Ref(log_group)),
        )
    )
    t.add_resource(
        waf.LoggingConfiguration(
            "WafLogging",
            DependsOn=[delivery.title],
            ResourceArn=web_acl.GetAtt("Arn"),
            LogDestinationConfigs=[log_group_arn],
            RedactedFields=[
                waf.LoggingConfigurationFieldToMatch(SingleHeader=waf.SingleHeader(Name=header))
                for header in REDACTED_HEADERS
            ],
            LoggingFilter=waf.LoggingFilter(
                DefaultBehavior="DROP",
                Filters=[
                    waf.Filter(
                        Behavior="KEEP",
                        Requirement="MEETS_ANY",
                        Conditions=[
                            waf.Condition(ActionCondition=waf.ActionCondition(Action=action))
                            for action in LOGGED_ACTIONS
                        ],
                    )
                ],
            ),
        )
    )
