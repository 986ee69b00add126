"""The waf template: rule order, the rate limit, managed groups that block, visibility, the ALB association."""

from __future__ import annotations

import pytest

import templates
from templates import params, waf
from tests.templates.cfn import walk

EXPECTED_RULES = [
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


def test_regional_acl_named_after_the_project_allows_by_default(acl):
    assert acl["Scope"] == "REGIONAL"
    assert acl["Name"] == {"Fn::Sub": "${ProjectName}-web-acl"}
    assert acl["DefaultAction"] == {"Allow": {}}


def test_rules_in_the_seed_priority_order(acl):
    assert [(rule["Priority"], rule["Name"]) for rule in acl["Rules"]] == EXPECTED_RULES


def test_rate_limit_blocks_an_ip_over_the_parameter_in_five_minutes(rules):
    rule = rules["RateLimitPerIP"]
    assert rule["Action"] == {"Block": {}}
    statement = rule["Statement"]["RateBasedStatement"]
    assert statement == {"Limit": {"Ref": "WafRateLimit"}, "AggregateKeyType": "IP", "EvaluationWindowSec": 300}


@pytest.mark.parametrize("name", [name for _, name in EXPECTED_RULES[1:]])
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
