"""Each risk rule: one change that triggers it and one near-miss that does not.

Changes are in the plan file's shape (plan_file.change_record): the before/after properties are
DescribeChangeSet's BeforeContext/AfterContext (IncludePropertyValues), JSON text as AWS returns it.
"""

from __future__ import annotations

import json

import pytest

from deployer.engine import risk
from deployer.errors import BadInput


def change(type_, action="Modify", replacement="False", before=None, after=None, policy_action=None,
           details=(), logical_id="Thing"):
    return {"action": action, "logical_id": logical_id, "type": type_, "replacement": replacement,
            "policy_action": policy_action or "", "details": list(details),
            "before_context": json.dumps({"Properties": before}) if before is not None else "",
            "after_context": json.dumps({"Properties": after}) if after is not None else ""}


def rules(c: dict, change_type: str = "UPDATE") -> set[tuple[str, str]]:
    return {(f.risk, f.rule) for f in risk.change_findings("data", change_type, [c])}


def lifecycle(days: int) -> dict:
    return {"LifecycleConfiguration": {"Rules": [{"Id": "expire", "Status": "Enabled", "ExpirationInDays": days}]}}


CASES = {
    # rule: (a change that triggers it, its near-miss)
    ("data-loss", "stateful-replaced"): (
        change("AWS::S3::Bucket", replacement="Conditional", policy_action="ReplaceAndRetain"),
        change("AWS::S3::Bucket", replacement="False")),
    ("data-loss", "stateful-deleted"): (
        change("AWS::Logs::LogGroup", action="Remove", policy_action="Delete"),
        change("AWS::ECR::Repository", action="Remove", policy_action="Retain")),
    ("data-loss", "retention-shortened"): (
        change("AWS::S3::Bucket", before=lifecycle(90), after=lifecycle(1)),
        change("AWS::S3::Bucket", before=lifecycle(90), after=lifecycle(365))),
    ("data-loss", "protection-off"): (
        change("AWS::S3::Bucket", before={"VersioningConfiguration": {"Status": "Enabled"}},
               after={"VersioningConfiguration": {"Status": "Suspended"}}),
        change("AWS::S3::Bucket", before={"VersioningConfiguration": {"Status": "Suspended"}},
               after={"VersioningConfiguration": {"Status": "Enabled"}})),
    ("access", "iam"): (
        change("AWS::IAM::Role", details=[{"name": "Policies", "path": "/Properties/Policies"}]),
        change("AWS::IAM::Role", details=[{"name": "Tags", "path": "/Properties/Tags"}])),
    ("access", "security-group-widened"): (
        change("AWS::EC2::SecurityGroup", before={"SecurityGroupIngress": []},
               after={"SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                                "CidrIp": "0.0.0.0/0"}]}),
        change("AWS::EC2::SecurityGroup",
               before={"SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                                                 "CidrIp": "0.0.0.0/0"}]},
               after={"SecurityGroupIngress": []})),
    ("access", "resource-policy"): (
        change("AWS::KMS::Key", details=[{"name": "KeyPolicy", "path": "/Properties/KeyPolicy"}]),
        change("AWS::KMS::Key", details=[{"name": "Description", "path": "/Properties/Description"}])),
    ("access", "public-access"): (
        change("AWS::S3::Bucket", before={"PublicAccessBlockConfiguration": {"BlockPublicPolicy": True}},
               after={"PublicAccessBlockConfiguration": {"BlockPublicPolicy": False}}),
        change("AWS::S3::Bucket", before={"PublicAccessBlockConfiguration": {"BlockPublicPolicy": False}},
               after={"PublicAccessBlockConfiguration": {"BlockPublicPolicy": True}})),
    ("availability", "fewer-tasks"): (
        change("AWS::ECS::Service", before={"DesiredCount": 2}, after={"DesiredCount": 1}),
        change("AWS::ECS::Service", before={"DesiredCount": 1}, after={"DesiredCount": 2})),
    ("availability", "capacity-lowered"): (
        change("AWS::ApplicationAutoScaling::ScalableTarget", before={"MinCapacity": 2, "MaxCapacity": 3},
               after={"MinCapacity": 1, "MaxCapacity": 3}),
        change("AWS::ApplicationAutoScaling::ScalableTarget", before={"MinCapacity": 1, "MaxCapacity": 3},
               after={"MinCapacity": 1, "MaxCapacity": 4})),
    ("availability", "serving-replaced"): (
        change("AWS::ElasticLoadBalancingV2::LoadBalancer", replacement="True"),
        change("AWS::ElasticLoadBalancingV2::LoadBalancer", replacement="False")),
    ("availability", "listener-removed"): (
        change("AWS::ElasticLoadBalancingV2::Listener", action="Remove", replacement=""),
        change("AWS::ElasticLoadBalancingV2::Listener", action="Add", replacement="")),
    ("availability", "waf-weakened"): (
        change("AWS::WAFv2::WebACL", before={"Rules": [{"Name": "RateLimitPerIP", "Action": {"Block": {}}}]},
               after={"Rules": [{"Name": "RateLimitPerIP", "Action": {"Count": {}}}]}),
        change("AWS::WAFv2::WebACL",
               before={"Rules": [{"Name": "RateLimitPerIP", "Action": {"Block": {}}, "Limit": 2000}]},
               after={"Rules": [{"Name": "RateLimitPerIP", "Action": {"Block": {}}, "Limit": 1000}]})),
}


@pytest.mark.parametrize("rule", sorted(CASES), ids=lambda r: r[1])
def test_each_rule_triggers_on_its_change_and_not_on_the_near_miss(rule):
    triggering, near_miss = CASES[rule]
    assert rule in rules(triggering)
    assert rule not in rules(near_miss)


def test_every_change_rule_has_a_case():
    assert {(r[0], r[1]) for r in risk.CHANGE_RULES} == set(CASES)


def test_an_ordinary_change_carries_no_class():
    task = change("AWS::ECS::TaskDefinition", replacement="True",
                  details=[{"name": "ContainerDefinitions", "path": "/Properties/ContainerDefinitions"}])
    assert rules(task) == set()


def test_a_first_create_carries_no_class():
    assert rules(change("AWS::IAM::Role", action="Add", replacement=""), change_type="CREATE") == set()


def test_a_waf_rule_removed_is_availability():
    c = change("AWS::WAFv2::WebACL", before={"Rules": [{"Name": "A", "Action": {"Block": {}}}, {"Name": "B"}]},
               after={"Rules": [{"Name": "B"}]})
    [finding] = risk.change_findings("waf", "UPDATE", [c])
    assert (finding.risk, finding.rule) == ("availability", "waf-weakened") and "A" in finding.reason


def test_retention_from_details_when_no_context_is_returned():
    c = change("AWS::Logs::LogGroup", details=[{"name": "RetentionInDays", "path": "/Properties/RetentionInDays",
                                                "before": "14", "after": "1"}])
    assert ("data-loss", "retention-shortened") in rules(c)


def test_an_ecr_lifecycle_keeping_fewer_images_is_data_loss():
    def policy(n):
        return {"LifecyclePolicy": {"LifecyclePolicyText": json.dumps(
            {"rules": [{"selection": {"countType": "imageCountMoreThan", "countNumber": n}}]})}}
    assert ("data-loss", "retention-shortened") in rules(change("AWS::ECR::Repository", before=policy(10),
                                                                after=policy(2)))
    assert ("data-loss", "retention-shortened") not in rules(change("AWS::ECR::Repository", before=policy(10),
                                                                    after=policy(20)))


@pytest.mark.parametrize(("name", "before", "after", "expected"), [
    ("UnhandledExpiryDays", "90", "1", ("data-loss", "retention-shortened")),
    ("LogRetentionDays", "14", "7", ("data-loss", "retention-shortened")),
    ("AlbDeletionProtection", "true", "false", ("data-loss", "protection-off")),
    ("PermissionsBoundary", "", "arn:aws:iam::111111111111:policy/b", ("access", "iam")),
    ("MinCapacity", "2", "1", ("availability", "capacity-lowered")),
])
def test_parameter_rules(name, before, after, expected):
    found = {(f.risk, f.rule) for f in risk.parameter_findings("data", [{"name": name, "before": before,
                                                                         "after": after}])}
    assert expected in found
    # the near-miss: the same parameter the other way
    back = {(f.risk, f.rule) for f in risk.parameter_findings("data", [{"name": name, "before": after,
                                                                        "after": before}])}
    if expected[1] != "iam":  # any boundary change is access, either way
        assert expected not in back


def test_a_retention_raised_is_not_data_loss():
    assert risk.parameter_findings("data", [{"name": "UnhandledExpiryDays", "before": "90", "after": "365"}]) == []


def test_cost_rises_above_the_threshold_only():
    assert [f.risk for f in risk.cost_finding(100.0, 160.0, 50.0)] == ["cost"]
    assert risk.cost_finding(100.0, 140.0, 50.0) == []
    assert risk.cost_finding(160.0, 100.0, 50.0) == []


def test_classes_are_in_a_fixed_order_and_accept_checks_names():
    findings = risk.cost_finding(0, 100, 1) + risk.parameter_findings(
        "data", [{"name": "UnhandledExpiryDays", "before": "90", "after": "1"}])
    assert risk.classes(findings) == ["data-loss", "cost"]
    assert risk.validate_accepted(["data-loss", "cost", "data-loss"]) == ("data-loss", "cost")
    with pytest.raises(BadInput, match="'dataloss' is not a risk class; allowed: data-loss, access"):
        risk.validate_accepted(["dataloss"])
