"""The waf template: rule order, the rate limits, managed groups that block, visibility, the ALB association,
the request log (name, retention, redactions, filter, delivery grant)."""

from __future__ import annotations

import json

import pytest

import contract
import templates
from templates import params, waf
from tests.templates.cfn import walk

EXPECTED_RULES = [
    (0, "RateLimitQueryPerIP"),
    (1, "RateLimitPerIP"),
    (2, "AWSManagedRulesCommonRuleSet"),
    (3, "AWSManagedRulesKnownBadInputsRuleSet"),
    (4, "AWSManagedRulesAmazonIpReputationList"),
]


@pytest.fixture(scope="module")
def tpl() -> dict:
    return templates.load_yaml(templates.render(waf.build()))


@pytest.fixture(scope="module")
def acl(tpl) -> dict:
    (acl,) = [r for r in tpl["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
    return acl["Properties"]


@pytest.fixture(scope="module")
def rules(acl) -> dict:
    return {rule["Name"]: rule for rule in acl["Rules"]}


def test_parameters_are_exactly_the_waf_schema(tpl):
    assert set(tpl["Parameters"]) == {p.cfn_name for p in params.stack_parameters("waf")}
    rate = tpl["Parameters"]["WafRateLimit"]
    assert rate["Type"] == "Number"
    assert (rate["MinValue"], rate["MaxValue"]) == (10, 2000000000)
    query = tpl["Parameters"]["WafQueryRateLimit"]
    # 10 is WAF's smallest rate-based limit.
    assert (query["Type"], query["MinValue"], query["MaxValue"]) == ("Number", 10, 2000000000)
    assert tpl["Parameters"]["WafLogRetentionDays"]["AllowedValues"] == [str(d) for d in params.LOG_RETENTION_DAYS]


def test_regional_acl_named_after_the_project_allows_by_default(acl):
    assert acl["Scope"] == "REGIONAL"
    assert acl["Name"] == {"Fn::Sub": "${ProjectName}-web-acl"}
    assert acl["DefaultAction"] == {"Allow": {}}


def test_rules_in_the_cdk_priority_order_after_the_query_rule(acl):
    assert [(rule["Priority"], rule["Name"]) for rule in acl["Rules"]] == EXPECTED_RULES
    # The dashboard reads the rate rules' metrics under the contract's names.
    assert EXPECTED_RULES[0][1] == contract.WAF_QUERY_RATE_METRIC
    assert EXPECTED_RULES[1][1] == contract.WAF_RATE_METRIC


def test_query_rule_limits_post_v1_query_per_ip_by_its_own_parameter(rules):
    rule = rules["RateLimitQueryPerIP"]
    assert rule["Action"] == {"Block": {}}
    statement = rule["Statement"]["RateBasedStatement"]
    assert statement["Limit"] == {"Ref": "WafQueryRateLimit"}
    assert (statement["AggregateKeyType"], statement["EvaluationWindowSec"]) == ("IP", 300)
    method, path = statement["ScopeDownStatement"]["AndStatement"]["Statements"]
    assert method == {"ByteMatchStatement": {
        "FieldToMatch": {"Method": {}}, "PositionalConstraint": "EXACTLY", "SearchString": "POST",
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    # Decoded before matching: the app serves /v1/%71uery as /v1/query, so that spelling must count too.
    assert path == {"ByteMatchStatement": {
        "FieldToMatch": {"UriPath": {}}, "PositionalConstraint": "EXACTLY", "SearchString": "/v1/query",
        "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}]}}


def test_query_limit_defaults_far_below_the_general_one():
    prod = params.load_params("prod")
    assert prod["waf_query_rate_limit"] == 100
    assert prod["waf_query_rate_limit"] * 10 <= prod["waf_rate_limit"]


def test_rate_limit_blocks_an_ip_over_the_parameter_in_five_minutes(rules):
    rule = rules["RateLimitPerIP"]
    assert rule["Action"] == {"Block": {}}
    statement = rule["Statement"]["RateBasedStatement"]
    assert statement == {"Limit": {"Ref": "WafRateLimit"}, "AggregateKeyType": "IP", "EvaluationWindowSec": 300}


@pytest.mark.parametrize("name", [name for _, name in EXPECTED_RULES[2:]])
def test_managed_groups_keep_their_own_block_actions(rules, name):
    rule = rules[name]
    assert rule["Statement"] == {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}}
    # None, not Count: Count would only observe and never block.
    assert rule["OverrideAction"] == {"None": {}}
    assert "Action" not in rule


def test_metrics_and_sampled_requests_on_every_rule_and_the_acl(acl):
    configs = [acl["VisibilityConfig"]] + [rule["VisibilityConfig"] for rule in acl["Rules"]]
    for config in configs:
        assert config["CloudWatchMetricsEnabled"] is True
        assert config["SampledRequestsEnabled"] is True
        assert config["MetricName"]
    assert [rule["VisibilityConfig"]["MetricName"] for rule in acl["Rules"]] == [n for _, n in EXPECTED_RULES]
    # The dashboard graphs the contract's list: it must be the WebACL's rules, in priority order.
    assert [rule["VisibilityConfig"]["MetricName"] for rule in acl["Rules"]] == list(contract.WAF_RULE_METRICS)


def test_acl_is_associated_with_the_imported_alb(tpl):
    (association,) = [r for r in tpl["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACLAssociation"]
    acl_id = next(k for k, r in tpl["Resources"].items() if r["Type"] == "AWS::WAFv2::WebACL")
    assert association["Properties"] == {
        "ResourceArn": {"Fn::ImportValue": {"Fn::Sub": "${ProjectName}-AlbArn"}},
        "WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]},
    }


def test_imports_only_the_alb_and_alarm_topic_arns_and_exports_nothing(tpl):
    imports = {node["Fn::ImportValue"]["Fn::Sub"]
               for node in walk(tpl) if isinstance(node, dict) and "Fn::ImportValue" in node}
    assert imports == {"${ProjectName}-AlbArn", "${ProjectName}-AlarmTopicArn"}
    assert not [o for o in tpl.get("Outputs", {}).values() if "Export" in o]


# --- the request log ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logging_config(tpl) -> dict:
    (config,) = [r for r in tpl["Resources"].values() if r["Type"] == "AWS::WAFv2::LoggingConfiguration"]
    return config


def test_log_group_is_named_as_waf_requires_with_retention_from_params(tpl):
    group = tpl["Resources"]["WafLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    # WAF refuses any log group whose name does not start with aws-waf-logs-.
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "aws-waf-logs-${ProjectName}"}
    assert contract.resource_name("waf_log_group", "ia-comafi").startswith("aws-waf-logs-")
    assert group["Properties"]["RetentionInDays"] == {"Ref": "WafLogRetentionDays"}
    # Retained: the record of blocked requests outlives the stack; the next create adopts it (its name is fixed).
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"


def test_acl_logs_to_that_group_by_an_arn_without_the_wildcard_suffix(logging_config):
    props = logging_config["Properties"]
    assert props["ResourceArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    # GetAtt Arn of a log group ends in ":*", which WAF rejects: the ARN is built from the name.
    assert props["LogDestinationConfigs"] == [{"Fn::Sub": [
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroup}",
        {"LogGroup": {"Ref": "WafLogGroup"}}]}]


def test_credentials_are_redacted_from_the_log(logging_config):
    assert logging_config["Properties"]["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}}, {"SingleHeader": {"Name": "cookie"}}]


def test_log_keeps_blocked_and_counted_requests_and_drops_allowed_ones(logging_config):
    assert logging_config["Properties"]["LoggingFilter"] == {
        "DefaultBehavior": "DROP",
        "Filters": [{
            "Behavior": "KEEP",
            "Requirement": "MEETS_ANY",
            "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}, {"ActionCondition": {"Action": "COUNT"}}],
        }],
    }


def test_log_delivery_may_write_only_to_this_group_for_this_account(tpl, logging_config):
    policy = tpl["Resources"]["WafLogDeliveryPolicy"]
    assert policy["Type"] == "AWS::Logs::ResourcePolicy"
    assert policy["Properties"]["PolicyName"] == {"Fn::Sub": "${ProjectName}-waf-log-delivery"}
    text, variables = policy["Properties"]["PolicyDocument"]["Fn::Sub"]
    assert variables == {"LogGroup": {"Ref": "WafLogGroup"}}
    (statement,) = json.loads(text)["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroup}:log-stream:*")
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
        "ArnLike": {"aws:SourceArn": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"},
    }
    # WAF checks the grant when logging is turned on: the policy must exist first.
    assert logging_config["DependsOn"] == ["WafLogDeliveryPolicy"]
