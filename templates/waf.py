"""waf stack: a REGIONAL WebACL in front of the compute stack's ALB.

Default allow; the rules block, in priority order, a per-IP request flood and
the three AWS managed rule groups of the seed. Imports only the ALB ARN.
"""

from __future__ import annotations

from troposphere import Output, Ref, Template
from troposphere import wafv2 as waf

import contract
from templates import alarms, naming, params

RATE_WINDOW_SECONDS = 300

# Priority order is the order of this tuple (1-based), as in the seed.
RATE_RULE = "RateLimitPerIP"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
# Every rule's name, which is also its CloudWatch metric name (the compute dashboard graphs each one).
RULE_NAMES = (RATE_RULE, *MANAGED_RULE_GROUPS)


def build() -> Template:
    t = Template(Description="ia-comafi waf: WebACL (rate limit and AWS managed rules) on the API's ALB")
    p = params.add_parameters(t, contract.WAF)

    web_acl = _create_web_acl(t, p)
    _associate_with_load_balancer(t, web_acl)
    blocked = alarms.create_blocked_requests_alarm(
        t, p, web_acl.VisibilityConfig.MetricName, naming.import_value(contract.ALARM_TOPIC_ARN)
    )

    t.add_output(Output(contract.WEB_ACL_ARN, Description="ARN of the WebACL on the ALB", Value=web_acl.GetAtt("Arn")))
    (blocked_output,) = contract.ROLLBACK_TRIGGER_OUTPUTS[contract.WAF]
    t.add_output(Output(blocked_output, Description="Blocked-requests alarm the deployer passes as waf's rollback "
                        "trigger", Value=blocked.GetAtt("Arn")))
    return t


def _visibility(metric_name) -> waf.VisibilityConfig:
    return waf.VisibilityConfig(
        CloudWatchMetricsEnabled=True,
        MetricName=metric_name,
        SampledRequestsEnabled=True,
    )


def _rate_limit_rule(p: dict, priority: int) -> waf.WebACLRule:
    return waf.WebACLRule(
        Name=RATE_RULE,
        Priority=priority,
        Action=waf.RuleAction(Block=waf.BlockAction()),
        Statement=waf.Statement(
            RateBasedStatement=waf.RateBasedStatement(
                Limit=Ref(p["waf_rate_limit"]),
                AggregateKeyType="IP",
                EvaluationWindowSec=RATE_WINDOW_SECONDS,
            )
        ),
        VisibilityConfig=_visibility(RATE_RULE),
    )


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
    rules = [_rate_limit_rule(p, priority=1)]
    rules += [_managed_rule(name, priority) for priority, name in enumerate(MANAGED_RULE_GROUPS, start=2)]
    name = naming.resource_name_sub("web_acl")
    # No LoggingConfiguration: full request logs cost per request, while the
    # metrics and sampled requests below show what each rule blocks.
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
