"""The release safety net: every alarm (metric, dimensions, statistic, threshold, period, missing data), the
encrypted topic they notify, ECS's deployment alarms, the rollback-trigger outputs and the dashboard."""

from __future__ import annotations

import json
import math
import re

import pytest

import contract
from templates import alarms, params
from tests.templates import cfn
from tests.templates.cfn import of_type

TOPIC = {"Ref": "AlarmTopic"}
IMPORTED_TOPIC = {"Fn::ImportValue": {"Fn::Sub": "${ProjectName}-AlarmTopicArn"}}
ALB = {"LoadBalancer": {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]}}
TARGETS = {"TargetGroup": {"Fn::GetAtt": ["TargetGroup", "TargetGroupFullName"]}, **ALB}
SERVICE = {"ClusterName": {"Ref": "Cluster"}, "ServiceName": {"Fn::GetAtt": ["Service", "Name"]}}
WEB_ACL = {"WebACL": {"Fn::Sub": "${ProjectName}-web-acl"}, "Region": {"Ref": "AWS::Region"}, "Rule": "ALL"}
ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")

# Single-metric alarms: (stack, logical id) -> what each must watch and how.
SINGLE_METRIC = {
    ("compute", "UnhealthyHostsAlarm"): dict(
        name="unhealthy-hosts", namespace="AWS/ApplicationELB", metric="UnHealthyHostCount", dimensions=TARGETS,
        statistic="Maximum", comparison="GreaterThanThreshold", threshold=0, period=60,
        periods={"Ref": "AlarmUnhealthyMinutes"}, datapoints={"Ref": "AlarmUnhealthyMinutes"},
        missing="notBreaching"),
    ("compute", "CpuHighAlarm"): dict(
        name="cpu-high", namespace="AWS/ECS", metric="CPUUtilization", dimensions=SERVICE, statistic="Average",
        comparison="GreaterThanThreshold", threshold={"Ref": "AlarmCpuPercent"}, period=60, periods=5,
        datapoints=5, missing="notBreaching"),
    ("compute", "MemoryHighAlarm"): dict(
        name="memory-high", namespace="AWS/ECS", metric="MemoryUtilization", dimensions=SERVICE,
        statistic="Average", comparison="GreaterThanThreshold", threshold={"Ref": "AlarmMemoryPercent"},
        period=60, periods=5, datapoints=5, missing="notBreaching"),
    # Missing data is breaching here only: Container Insights' silence is itself "no task reports running".
    ("compute", "RunningTasksLowAlarm"): dict(
        name="running-tasks-low", namespace="ECS/ContainerInsights", metric="RunningTaskCount",
        dimensions=SERVICE, statistic="Minimum", comparison="LessThanThreshold",
        threshold={"Ref": "MinCapacity"}, period=60, periods=5, datapoints=3, missing="breaching"),
    ("waf", "BlockedRequestsAlarm"): dict(
        name="waf-blocked-requests", namespace="AWS/WAFV2", metric="BlockedRequests", dimensions=WEB_ACL,
        statistic="Sum", comparison="GreaterThanThreshold", threshold={"Ref": "AlarmWafBlockedRequests"},
        period=300, periods=1, datapoints=1, missing="notBreaching"),
}
# Metric-math alarms: their queries, what the returned expression is compared with, and how.
METRIC_MATH = {
    "ServerErrorRateAlarm": dict(
        name="5xx-rate",
        queries={
            "requests": ("RequestCount", "Sum"),
            "elb5xx": ("HTTPCode_ELB_5XX_Count", "Sum"),
            "target5xx": ("HTTPCode_Target_5XX_Count", "Sum"),
        },
        returned="rate", threshold={"Ref": "Alarm5xxRatePercent"}),
    "LatencyAlarm": dict(
        name="latency-p95",
        queries={"requests": ("RequestCount", "Sum"), "p95": ("TargetResponseTime", "p95")},
        returned="latency", threshold={"Ref": "AlarmLatencyP95Ms"}),
}
RELEASE_ALARMS = {"ServerErrorRateAlarm", "UnhealthyHostsAlarm", "LatencyAlarm"}


@pytest.fixture(scope="module")
def compute(docs) -> dict:
    return docs["compute"]


@pytest.fixture(scope="module")
def res(compute) -> dict:
    return compute["Resources"]


def props(doc: dict, logical_id: str) -> dict:
    return doc["Resources"][logical_id]["Properties"]


def dimensions(items: list) -> dict:
    return {d["Name"]: d["Value"] for d in items}


def default(cfn_name: str) -> int:
    return next(p.default for p in params.SCHEMA if p.cfn_name == cfn_name)


# --- every alarm ---------------------------------------------------------------------------------------------


def test_compute_carries_at_least_five_alarms_and_every_alarm_is_tested(docs, res):
    assert len(of_type(res, "AWS::CloudWatch::Alarm")) >= 5
    found = {(stack, name) for stack, doc in docs.items() for name, r in doc["Resources"].items()
             if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert found == set(SINGLE_METRIC) | {("compute", name) for name in METRIC_MATH}


@pytest.mark.parametrize("stack, logical_id", sorted(SINGLE_METRIC))
def test_single_metric_alarm(docs, stack, logical_id):
    want = SINGLE_METRIC[(stack, logical_id)]
    alarm = props(docs[stack], logical_id)
    assert alarm["AlarmName"] == {"Fn::Sub": "${ProjectName}-" + want["name"]}
    assert (alarm["Namespace"], alarm["MetricName"]) == (want["namespace"], want["metric"])
    assert dimensions(alarm["Dimensions"]) == want["dimensions"]
    assert alarm["Statistic"] == want["statistic"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (want["comparison"], want["threshold"])
    assert alarm["Period"] == want["period"]
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (want["periods"], want["datapoints"])
    assert alarm["TreatMissingData"] == want["missing"]


@pytest.mark.parametrize("logical_id", sorted(METRIC_MATH))
def test_metric_math_alarm(res, logical_id):
    want = METRIC_MATH[logical_id]
    alarm = res[logical_id]["Properties"]
    assert alarm["AlarmName"] == {"Fn::Sub": "${ProjectName}-" + want["name"]}
    assert not {"Namespace", "MetricName", "Statistic", "ExtendedStatistic"} & set(alarm)
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    stats = {qid: q["MetricStat"] for qid, q in queries.items() if "MetricStat" in q}
    assert {qid: (s["Metric"]["MetricName"], s["Stat"]) for qid, s in stats.items()} == want["queries"]
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "AWS/ApplicationELB"
        assert dimensions(stat["Metric"]["Dimensions"]) == ALB
        assert stat["Period"] == 60
    # Exactly one series is compared with the threshold: the expression.
    assert [qid for qid, q in queries.items() if q["ReturnData"]] == [want["returned"]]
    assert "Expression" in queries[want["returned"]]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", want["threshold"])
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
    assert alarm["TreatMissingData"] == "notBreaching"


class _Series(float):
    """One datapoint of a metric-math series: dividing by zero gives NaN, as CloudWatch does not raise."""

    def __add__(self, other):
        return _Series(float(self) + other)

    __radd__ = __add__

    def __mul__(self, other):
        return _Series(float(self) * other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _Series(float(self) / other if other else float("nan"))


def evaluate(expression: dict, datapoints: dict) -> float:
    """A metric-math expression of the template for one period (None: no datapoint), parameters at defaults."""
    text = re.sub(r"\$\{(\w+)\}", lambda m: str(default(m.group(1))), expression["Fn::Sub"])
    names = {
        "IF": lambda condition, yes, no: yes if condition else no,
        "FILL": lambda value, fill: _Series(fill if math.isnan(value) else value),
        # No datapoint is NaN: it poisons arithmetic, as a missing value does in metric math.
        **{name: _Series(math.nan if value is None else value) for name, value in datapoints.items()},
    }
    return float(eval(text, {"__builtins__": {}}, names))  # noqa: S307 - the template's own text, in a test


def _expression(res: dict, logical_id: str) -> dict:
    (query,) = [q for q in res[logical_id]["Properties"]["Metrics"] if q["ReturnData"]]
    return query["Expression"]


@pytest.mark.parametrize("requests, elb5xx, target5xx, rate", [
    (None, None, None, 0),  # no traffic: ALB publishes nothing, the rate is 0, not missing
    (2, None, 1, 0),  # one failure in two requests is too few to be a rate (AlarmMinRequests, default 10)
    (100, None, 10, 10),  # target 5xx
    (100, 3, 2, 5 / 103 * 100),  # both sources; ELB 5xx also counts as traffic
    (0, 50, None, 100),  # 503s with no target to route to: RequestCount has none of them
    (1000, None, None, 0),
])
def test_5xx_rate_is_a_percentage_of_requests_judged_only_with_enough_traffic(res, requests, elb5xx, target5xx,
                                                                               rate):
    got = evaluate(_expression(res, "ServerErrorRateAlarm"),
                   {"requests": requests, "elb5xx": elb5xx, "target5xx": target5xx})
    assert got == pytest.approx(rate)


@pytest.mark.parametrize("requests, p95, millis", [(None, None, 0), (3, 9.0, 0), (50, 1.5, 1500), (50, 6.2, 6200)])
def test_latency_is_p95_in_milliseconds_judged_only_with_enough_traffic(res, requests, p95, millis):
    assert evaluate(_expression(res, "LatencyAlarm"), {"requests": requests, "p95": p95}) == pytest.approx(millis)


def test_latency_threshold_is_in_milliseconds(compute):
    parameter = compute["Parameters"]["AlarmLatencyP95Ms"]
    assert (parameter["MinValue"], parameter["MaxValue"]) == (100, 60000)


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(docs):
    topic = {"compute": TOPIC, "waf": IMPORTED_TOPIC}
    seen = 0
    for stack, doc in docs.items():
        for name, resource in doc["Resources"].items():
            if resource["Type"] not in ALARM_TYPES:
                continue
            seen += 1
            alarm = resource["Properties"]
            assert alarm["AlarmActions"] == [topic[stack]], (stack, name)
            assert alarm["OKActions"] == [topic[stack]], (stack, name)
            assert alarm.get("ActionsEnabled", True) is True, (stack, name)
    assert seen == len(SINGLE_METRIC) + len(METRIC_MATH) + 1  # the composite too


def test_alarm_names_carry_the_project_prefix_and_are_unique(docs):
    names = [r["Properties"]["AlarmName"]["Fn::Sub"] for doc in docs.values()
             for r in doc["Resources"].values() if r["Type"] in ALARM_TYPES]
    prefix = contract.resource_name("alarm_prefix", "${ProjectName}")
    assert all(name.startswith(prefix) for name in names)
    assert len(set(names)) == len(names)


def test_alarms_lists_exactly_the_alarms_the_templates_create(docs):
    # The CI roles' alarm statements and the topic's and key's confused-deputy guard name ALARMS one by one.
    names = {r["Properties"]["AlarmName"]["Fn::Sub"] for doc in docs.values()
             for r in doc["Resources"].values() if r["Type"] in ALARM_TYPES}
    assert names == set(alarms.alarm_name_texts())
    with pytest.raises(ValueError, match="not in alarms.ALARMS"):
        alarms.alarm_name("anything-else")


def test_thresholds_are_parameters_with_bounds(docs):
    thresholds = {
        stack: {r["Properties"]["Threshold"]["Ref"] for r in doc["Resources"].values()
                if r["Type"] == "AWS::CloudWatch::Alarm" and isinstance(r["Properties"]["Threshold"], dict)}
        for stack, doc in docs.items()
    }
    assert thresholds["compute"] == {"Alarm5xxRatePercent", "AlarmLatencyP95Ms", "AlarmCpuPercent",
                                     "AlarmMemoryPercent", "MinCapacity"}
    assert thresholds["waf"] == {"AlarmWafBlockedRequests"}
    for stack, names in thresholds.items():
        for name in names:
            parameter = docs[stack]["Parameters"][name]
            assert parameter["Type"] == "Number" and "MinValue" in parameter and "MaxValue" in parameter
            assert parameter["MinValue"] <= default(name) <= parameter["MaxValue"]


# --- what rolls back ----------------------------------------------------------------------------------------


def test_ecs_rolls_back_a_deployment_that_trips_the_5xx_or_unhealthy_host_alarm(res):
    deployment = res["Service"]["Properties"]["DeploymentConfiguration"]
    assert deployment["Alarms"] == {
        "AlarmNames": [{"Ref": "ServerErrorRateAlarm"}, {"Ref": "UnhealthyHostsAlarm"}],
        "Enable": True,
        "Rollback": True,
    }
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


def test_release_health_composite_is_any_release_alarm(res):
    composite = res["ReleaseHealthAlarm"]["Properties"]
    assert composite["AlarmName"] == {"Fn::Sub": "${ProjectName}-release-health"}
    rule = composite["AlarmRule"]["Fn::Sub"]
    terms = rule.split(" OR ")
    assert {re.fullmatch(r'ALARM\("\$\{(\w+)\}"\)', term).group(1) for term in terms} == RELEASE_ALARMS
    assert len(terms) == len(RELEASE_ALARMS)


def test_rollback_trigger_outputs_are_the_alarm_arns(docs):
    compute_output, = contract.ROLLBACK_TRIGGER_OUTPUTS[contract.COMPUTE]
    waf_output, = contract.ROLLBACK_TRIGGER_OUTPUTS[contract.WAF]
    assert docs["compute"]["Outputs"][compute_output]["Value"] == {"Fn::GetAtt": ["ReleaseHealthAlarm", "Arn"]}
    assert docs["waf"]["Outputs"][waf_output]["Value"] == {"Fn::GetAtt": ["BlockedRequestsAlarm", "Arn"]}
    # CloudFormation accepts at most five rollback triggers per operation.
    assert all(len(outputs) <= 5 for outputs in contract.ROLLBACK_TRIGGER_OUTPUTS.values())


def test_rollback_monitoring_minutes_is_for_the_deployer_only(docs):
    param = params.BY_KEY["rollback_monitoring_minutes"]
    assert (param.type, param.default, param.min, param.max, param.stacks) == (int, 5, 0, 180, ())
    assert not [doc for doc in docs.values() if "RollbackMonitoringMinutes" in doc.get("Parameters", {})]


# --- who is told --------------------------------------------------------------------------------------------


def _statements(document: dict) -> list[dict]:
    return document["Statement"]


def test_topic_is_encrypted_with_its_own_rotating_key(res):
    topic = res["AlarmTopic"]["Properties"]
    assert topic["TopicName"] == {"Fn::Sub": "${ProjectName}-alarms"}
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlarmKey", "Arn"]}
    assert res["AlarmKey"]["Properties"]["EnableKeyRotation"] is True
    alias = res["AlarmKeyAlias"]["Properties"]
    assert alias == {"AliasName": {"Fn::Sub": "alias/${ProjectName}-alarms"}, "TargetKeyId": {"Ref": "AlarmKey"}}


# Each alarm by name: "${ProjectName}-*" would admit another environment's alarms of the account
# (ia-comafi-* matches ia-comafi-dev-*).
OUR_ALARMS = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnEquals": {"aws:SourceArn": [
        {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${ProjectName}-" + what}
        for what in alarms.ALARMS]},
}


def test_key_policy_lets_cloudwatch_use_the_key_and_nothing_broader(res):
    statements = _statements(res["AlarmKey"]["Properties"]["KeyPolicy"])
    by_principal = {json.dumps(s["Principal"], sort_keys=True): s for s in statements}
    # EventBridge's and Budgets' statements: tests/templates/test_alerts.py.
    assert len(by_principal) == len(statements) == 4
    root = by_principal[json.dumps({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}})]
    assert (root["Effect"], root["Action"], root["Resource"]) == ("Allow", ["kms:*"], ["*"])
    cloudwatch = by_principal[json.dumps({"Service": "cloudwatch.amazonaws.com"})]
    assert cloudwatch["Effect"] == "Allow"
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Resource"] == ["*"]  # in a key policy, "*" is this key
    assert cloudwatch["Condition"] == OUR_ALARMS


def test_topic_policy_lets_only_our_alarms_publish(res):
    policy = res["AlarmTopicPolicy"]["Properties"]
    assert policy["Topics"] == [TOPIC]
    statements = _statements(policy["PolicyDocument"])
    # EventBridge's and Budgets' statements: tests/templates/test_alerts.py.
    assert sorted(s["Principal"]["Service"] for s in statements) == [
        "budgets.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com"]
    (statement,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Allow", ["sns:Publish"], [TOPIC])
    assert statement["Condition"] == OUR_ALARMS


@pytest.mark.parametrize("email", ["", "oncall@example.com"])
def test_alarm_email_subscribes_only_when_given(compute, email):
    created = cfn.created(compute, {"AlarmEmail": email})
    # The topic's own property, never an AWS::SNS::Subscription: deleting one calls sns:Unsubscribe, which IAM
    # authorizes only on "*" (every topic of the account), and CI holds none.
    assert of_type(created, "AWS::SNS::Subscription") == {}
    subscriptions = created["AlarmTopic"]["Properties"].get("Subscription")
    if not email:
        assert subscriptions is None
        return
    assert subscriptions == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]


@pytest.mark.parametrize("email, ok", [("", True), ("oncall@example.com", True), ("not-an-address", False),
                                       ("a@b", False)])
def test_alarm_email_param_accepts_empty_or_an_address(email, ok):
    param = params.BY_KEY["alarm_email"]
    if ok:
        assert param.parse(email, from_cli=True) == email
    else:
        with pytest.raises(params.ParamError, match="alarm_email"):
            param.parse(email, from_cli=True)


def test_topic_arn_is_exported_for_the_waf_alarm(compute):
    output = compute["Outputs"][contract.ALARM_TOPIC_ARN]
    assert output["Value"] == TOPIC
    assert output["Export"]["Name"] == {"Fn::Sub": "${ProjectName}-AlarmTopicArn"}


# --- how to look --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(res) -> tuple[str, dict, dict]:
    """(body text, body, Fn::Sub variables)."""
    text, variables = res["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return text, json.loads(text), variables


def _dimensions_of(metric: list) -> dict:
    """A dashboard metric [namespace, name, dim, value, ..., {options}]'s dimensions."""
    pairs = [item for item in metric[2:] if not isinstance(item, dict)]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def _metrics(body: dict) -> list[list]:
    return [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]


def test_dashboard_body_is_sorted_json_whose_placeholders_all_resolve(res, compute, dashboard):
    text, body, variables = dashboard
    assert text == json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert variables == {
        "LoadBalancer": ALB["LoadBalancer"],
        "TargetGroup": TARGETS["TargetGroup"],
        "Cluster": SERVICE["ClusterName"],
        "Service": SERVICE["ServiceName"],
    }
    for placeholder in re.findall(r"\$\{([^}]+)\}", text):
        name, _, attribute = placeholder.partition(".")
        known = set(variables) | set(compute["Parameters"]) | {"AWS::Region"} | set(res)
        assert name in known, placeholder
        assert not attribute or name in res, placeholder
    assert res["Dashboard"]["Properties"]["DashboardName"] == {"Fn::Sub": "${ProjectName}"}


def test_dashboard_shows_what_an_operator_looks_at(res, dashboard):
    _, body, _ = dashboard
    shown = {(m[0], m[1]) for m in _metrics(body)}
    assert shown >= {
        ("AWS/ApplicationELB", "RequestCount"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_4XX_Count"), ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_4XX_Count"), ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "HealthyHostCount"), ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("ECS/ContainerInsights", "RunningTaskCount"), ("ECS/ContainerInsights", "DesiredTaskCount"),
        ("AWS/ECS", "CPUUtilization"), ("AWS/ECS", "MemoryUtilization"),
        ("AWS/WAFV2", "AllowedRequests"), ("AWS/WAFV2", "BlockedRequests"),
    }
    latency = {m[-1]["stat"] for m in _metrics(body) if m[1] == "TargetResponseTime"}
    assert latency == {"p50", "p95", "p99"}
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    shown_alarms = {re.fullmatch(r"\$\{(\w+)\.Arn\}", arn).group(1) for arn in alarm_widget["properties"]["alarms"]}
    assert shown_alarms == {name for name, r in res.items() if r["Type"] in ALARM_TYPES}


def test_dashboard_graphs_what_each_waf_rule_blocks(docs, dashboard):
    _, body, _ = dashboard
    rules = {rule["VisibilityConfig"]["MetricName"]
             for acl in of_type(docs["waf"]["Resources"], "AWS::WAFv2::WebACL").values()
             for rule in acl["Properties"]["Rules"]}
    (acl,) = of_type(docs["waf"]["Resources"], "AWS::WAFv2::WebACL").values()
    acl_metric = acl["Properties"]["VisibilityConfig"]["MetricName"]["Fn::Sub"]
    waf = [(m[1], _dimensions_of(m)) for m in _metrics(body) if m[0] == "AWS/WAFV2"]
    assert {dims["Rule"] for name, dims in waf if name == "BlockedRequests"} == rules | {"ALL"}
    assert [dims["Rule"] for name, dims in waf if name == "AllowedRequests"] == ["ALL"]
    for _, dims in waf:
        assert dims == {"WebACL": acl_metric, "Region": "${AWS::Region}", "Rule": dims["Rule"]}


def test_dashboard_url_opens_that_dashboard(compute):
    assert compute["Outputs"][contract.DASHBOARD_URL]["Value"] == {"Fn::Sub": [
        "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
        "#dashboards:name=${Dashboard}",
        {"Dashboard": {"Ref": "Dashboard"}},
    ]}


def test_compute_template_fits_cloudformation(bodies):
    # CloudFormation takes a template up to 1 MB from S3 (51,200 bytes inline); compute is about 35 KB of YAML.
    size = len(bodies["compute"].encode())
    assert size < 1_000_000, size
