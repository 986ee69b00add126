"""The release safety net the compute and waf stacks carry: alarms, the encrypted topic they notify, the dashboard.

compute.build() creates the topic, the service's alarms, the "release health" composite (the deployer's
CloudFormation rollback trigger for compute) and the dashboard; waf.build() creates the blocked-requests
alarm on the topic compute exports. Every alarm is named "{project}-<what>" and notifies the topic on ALARM
and on OK. Missing data is decided per alarm, and each choice says why next to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from awacs import kms as kms_actions
from awacs import sns as sns_actions
from awacs.aws import Allow, ArnEquals, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import Equals, GetAtt, If, Not, Ref, Sub, Template, cloudwatch, kms, sns

from templates import alerts, naming

HAS_ALARM_EMAIL = "HasAlarmEmail"

# ALB and ECS publish these metrics every minute; a one-minute period lets an alarm turn within the
# deployer's rollback monitoring window (rollback_monitoring_minutes, default 5).
PERIOD = 60
# WAF counts per 5-minute window, the window its rate-based rule uses too.
WAF_PERIOD = 300

RELEASE_MINUTES = 3  # 5xx rate and latency: three bad minutes in a row, so one slow burst is not a rollback
SATURATION_MINUTES = 5  # CPU and memory: auto scaling gets five minutes to add tasks first
TASKS_WINDOW = 5  # running tasks: 3 low minutes out of 5, so one late Container Insights datapoint is no alarm
TASKS_LOW_MINUTES = 3

ALB = "AWS/ApplicationELB"
ECS = "AWS/ECS"
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
WAFV2 = "AWS/WAFV2"
WAF_ALL_RULES = "ALL"  # WAF's Rule dimension value for the whole WebACL

CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"


# Every alarm the compute and waf stacks create, by what follows the "{project}-" prefix. IAM statements name
# each one (alarm_name_texts): "{project}-*" would also match the alarms of "{project}-dev" and
# "{project}-staging", which may share the account.
ALARMS = (
    "5xx-rate", "unhealthy-hosts", "latency-p95", "cpu-high", "memory-high", "running-tasks-low", "release-health",
    "waf-blocked-requests",
)


def alarm_name(what: str) -> Sub:
    return Sub(alarm_name_text(what))


def alarm_name_text(what: str) -> str:
    """An alarm's name as Fn::Sub text; only the names ALARMS lists, so no alarm escapes the CI statements."""
    if what not in ALARMS:
        raise ValueError(f"alarm {what!r} is not in alarms.ALARMS {ALARMS}: add it there")
    return naming.resource_name_text("alarm_prefix") + what


def alarm_name_texts() -> list[str]:
    return [alarm_name_text(what) for what in ALARMS]


def alarm_arns() -> list[Sub]:
    """Every alarm of this project, by name: "{project}-*" would admit another environment's alarms."""
    return [Sub(f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{name}")
            for name in alarm_name_texts()]


def _from_our_alarms() -> Condition:
    # Confused-deputy guard: CloudWatch acts for this account's alarms of this project only, so an alarm of
    # another environment in the account cannot publish to this topic nor use its key.
    return Condition([
        StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
        ArnEquals("aws:SourceArn", alarm_arns()),
    ])


def notify(topic_arn) -> dict:
    """The actions of an alarm: the topic hears of ALARM and of the return to OK."""
    return {"AlarmActions": [topic_arn], "OKActions": [topic_arn]}


# ---- the topic ----


def create_topic(t: Template, p: dict) -> sns.Topic:
    """The alarm topic, encrypted with a key of its own that CloudWatch may use, and the optional e-mail."""
    t.add_condition(HAS_ALARM_EMAIL, Not(Equals(Ref(p["alarm_email"]), "")))
    key = t.add_resource(
        kms.Key(
            "AlarmKey",
            Description=Sub("Encrypts the ${ProjectName} alarm topic"),
            EnableKeyRotation=True,
            KeyPolicy=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    # KMS's default key policy statement: without it nobody could administer the key, and KMS
                    # refuses a policy that locks the account out. "kms:*" on "*" (this key) is that default;
                    # IAM policies in the account decide who else may use it (AWS KMS Developer Guide,
                    # "Default key policy").
                    Statement(
                        Sid="AccountAdministers",
                        Effect=Allow,
                        Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                        Action=[kms_actions.Action("*")],
                        Resource=["*"],
                    ),
                    # The AWS-managed aws/sns key cannot carry this statement, which is why a topic encrypted
                    # with it silently drops every alarm (SNS Developer Guide, "Enable compatibility between
                    # event sources from AWS services and encrypted topics").
                    Statement(
                        Sid="CloudWatchAlarmsPublish",
                        Effect=Allow,
                        Principal=Principal("Service", CLOUDWATCH_PRINCIPAL),
                        Action=[kms_actions.Decrypt, kms_actions.Action("GenerateDataKey*")],
                        Resource=["*"],
                        Condition=_from_our_alarms(),
                    ),
                    *alerts.key_statements(),
                ],
            ),
        )
    )
    t.add_resource(
        kms.Alias("AlarmKeyAlias", AliasName=naming.resource_name_sub("alarm_key_alias"), TargetKeyId=Ref(key))
    )
    topic = t.add_resource(
        sns.Topic(
            "AlarmTopic",
            TopicName=naming.resource_name_sub("alarm_topic"),
            KmsMasterKeyId=GetAtt(key, "Arn"),
            # A property of the topic, not an AWS::SNS::Subscription: the topic's handler subscribes on create
            # and deletes the topic (and so its subscriptions) on delete, never calling sns:Unsubscribe, which
            # IAM cannot scope to a topic. CI holds no Unsubscribe, so changing the address is an admin's
            # deploy (docs/runbook.md).
            Subscription=If(HAS_ALARM_EMAIL, [sns.Subscription(Protocol="email", Endpoint=Ref(p["alarm_email"]))],
                            Ref("AWS::NoValue")),
        )
    )
    t.add_resource(
        sns.TopicPolicy(
            "AlarmTopicPolicy",
            Topics=[Ref(topic)],
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Sid="CloudWatchAlarmsPublish",
                        Effect=Allow,
                        Principal=Principal("Service", CLOUDWATCH_PRINCIPAL),
                        Action=[sns_actions.Publish],
                        Resource=[Ref(topic)],
                        Condition=_from_our_alarms(),
                    ),
                    *alerts.topic_statements(topic),
                ],
            ),
        )
    )
    return topic


# ---- metrics ----


def _metric(namespace: str, name: str, dimensions: dict) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[cloudwatch.MetricDimension(Name=k, Value=v) for k, v in dimensions.items()],
    )


def _query(query_id: str, namespace: str, name: str, dimensions: dict, stat: str) -> cloudwatch.MetricDataQuery:
    return cloudwatch.MetricDataQuery(
        Id=query_id,
        MetricStat=cloudwatch.MetricStat(Metric=_metric(namespace, name, dimensions), Period=PERIOD, Stat=stat),
        ReturnData=False,
    )


def _expression(query_id: str, expression, label: str) -> cloudwatch.MetricDataQuery:
    return cloudwatch.MetricDataQuery(Id=query_id, Expression=expression, Label=label, ReturnData=True)


@dataclass(frozen=True)
class ReleaseAlarms:
    """The alarms that judge a release by its traffic: ECS's deployment alarms and the composite's members."""

    server_errors: cloudwatch.Alarm
    unhealthy_hosts: cloudwatch.Alarm
    latency: cloudwatch.Alarm

    @property
    def deployment(self) -> list[cloudwatch.Alarm]:
        """What ECS watches while it rolls a task set out (rolls it back on ALARM)."""
        return [self.server_errors, self.unhealthy_hosts]

    @property
    def all(self) -> list[cloudwatch.Alarm]:
        return [self.server_errors, self.unhealthy_hosts, self.latency]


def create_release_alarms(t: Template, p: dict, topic: sns.Topic, load_balancer, target_group) -> ReleaseAlarms:
    """5xx rate, unhealthy targets and p95 latency: the ALB's view of whether the running release works."""
    alb = {"LoadBalancer": GetAtt(load_balancer, "LoadBalancerFullName")}
    targets = {"TargetGroup": GetAtt(target_group, "TargetGroupFullName"), **alb}
    return ReleaseAlarms(
        server_errors=t.add_resource(_server_error_rate_alarm(p, topic, alb)),
        unhealthy_hosts=t.add_resource(_unhealthy_hosts_alarm(p, topic, targets)),
        latency=t.add_resource(_latency_alarm(p, topic, alb)),
    )


def _min_requests(p: dict) -> str:
    return "${" + p["alarm_min_requests"].title + "}"


def _requests(alb: dict) -> cloudwatch.MetricDataQuery:
    return _query("requests", ALB, "RequestCount", alb, "Sum")


def _server_error_rate_alarm(p: dict, topic: sns.Topic, alb: dict) -> cloudwatch.Alarm:
    # RequestCount counts only requests the ALB found a target for; a 503 with no target to send it to is
    # in HTTPCode_ELB_5XX_Count alone. Counting ELB 5xx in the denominator too keeps "no target at all"
    # a 100% rate instead of a division by nothing (and only understates 502/504, which both count).
    # ALB publishes no 5xx datapoint for a minute without one: FILL makes those minutes 0, and a minute
    # with fewer than AlarmMinRequests requests is judged 0%, since one failure in two requests is no rate.
    traffic = "(FILL(requests, 0) + FILL(elb5xx, 0))"
    rate = Sub(
        f"IF({traffic} >= {_min_requests(p)}, "
        f"100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / {traffic}, 0)"
    )
    return cloudwatch.Alarm(
        "ServerErrorRateAlarm",
        AlarmName=alarm_name("5xx-rate"),
        AlarmDescription="5xx responses of the ALB and of the API tasks as a percentage of requests",
        Metrics=[
            _requests(alb),
            _query("elb5xx", ALB, "HTTPCode_ELB_5XX_Count", alb, "Sum"),
            _query("target5xx", ALB, "HTTPCode_Target_5XX_Count", alb, "Sum"),
            _expression("rate", rate, "5xx % of requests"),
        ],
        ComparisonOperator="GreaterThanThreshold",
        Threshold=Ref(p["alarm_5xx_rate_percent"]),
        EvaluationPeriods=RELEASE_MINUTES,
        DatapointsToAlarm=RELEASE_MINUTES,
        # The expression yields 0 for a quiet minute, so missing data only happens when CloudWatch has
        # nothing at all (the ALB is new or gone): no traffic is not an outage, so it counts as OK.
        TreatMissingData="notBreaching",
        **notify(Ref(topic)),
    )


def _unhealthy_hosts_alarm(p: dict, topic: sns.Topic, targets: dict) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        "UnhealthyHostsAlarm",
        AlarmName=alarm_name("unhealthy-hosts"),
        AlarmDescription="An API task has failed the target group's health check for consecutive minutes",
        Namespace=ALB,
        MetricName="UnHealthyHostCount",
        Dimensions=[cloudwatch.MetricDimension(Name=k, Value=v) for k, v in targets.items()],
        Statistic="Maximum",
        Period=PERIOD,
        ComparisonOperator="GreaterThanThreshold",
        Threshold=0,
        EvaluationPeriods=Ref(p["alarm_unhealthy_minutes"]),
        DatapointsToAlarm=Ref(p["alarm_unhealthy_minutes"]),
        # ALB reports host counts every minute while targets are registered, traffic or not; a gap means
        # no target is registered at all, which the running-tasks alarm reports. Counting it here too
        # would make every fresh target group an alarm.
        TreatMissingData="notBreaching",
        **notify(Ref(topic)),
    )


def _latency_alarm(p: dict, topic: sns.Topic, alb: dict) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        "LatencyAlarm",
        AlarmName=alarm_name("latency-p95"),
        AlarmDescription="p95 response time of the API tasks (milliseconds) over the threshold",
        Metrics=[
            _requests(alb),
            _query("p95", ALB, "TargetResponseTime", alb, "p95"),
            # TargetResponseTime is in seconds, the threshold in milliseconds. A p95 of a handful of
            # requests is one slow request: a minute under AlarmMinRequests is judged 0.
            _expression("latency", Sub(f"IF(FILL(requests, 0) >= {_min_requests(p)}, 1000 * p95, 0)"), "p95 ms"),
        ],
        ComparisonOperator="GreaterThanThreshold",
        Threshold=Ref(p["alarm_latency_p95_ms"]),
        EvaluationPeriods=RELEASE_MINUTES,
        DatapointsToAlarm=RELEASE_MINUTES,
        # As for the 5xx rate: data is missing only when the ALB has no metrics at all, which is no
        # evidence of slowness.
        TreatMissingData="notBreaching",
        **notify(Ref(topic)),
    )


def create_service_alarms(t: Template, p: dict, topic: sns.Topic, cluster, service) -> list[cloudwatch.Alarm]:
    """CPU and memory saturation and too few running tasks: the service's own health, whatever the traffic."""
    dimensions = [
        cloudwatch.MetricDimension(Name="ClusterName", Value=Ref(cluster)),
        cloudwatch.MetricDimension(Name="ServiceName", Value=GetAtt(service, "Name")),
    ]
    saturation = [
        cloudwatch.Alarm(
            f"{what.capitalize()}HighAlarm",
            AlarmName=alarm_name(f"{what}-high"),
            AlarmDescription=f"Service {what} utilization high for {SATURATION_MINUTES} minutes "
                             "(auto scaling has not caught up, or is at max_capacity)",
            Namespace=ECS,
            MetricName=metric,
            Dimensions=dimensions,
            Statistic="Average",
            Period=PERIOD,
            ComparisonOperator="GreaterThanThreshold",
            Threshold=Ref(p[key]),
            EvaluationPeriods=SATURATION_MINUTES,
            DatapointsToAlarm=SATURATION_MINUTES,
            # ECS publishes utilization only while tasks run; no tasks is the running-tasks alarm's news,
            # not a saturation.
            TreatMissingData="notBreaching",
            **notify(Ref(topic)),
        )
        for what, metric, key in (
            ("cpu", "CPUUtilization", "alarm_cpu_percent"),
            ("memory", "MemoryUtilization", "alarm_memory_percent"),
        )
    ]
    tasks = cloudwatch.Alarm(
        "RunningTasksLowAlarm",
        AlarmName=alarm_name("running-tasks-low"),
        AlarmDescription="Fewer running tasks than min_capacity (tasks crashing, or Fargate not placing them)",
        Namespace=CONTAINER_INSIGHTS,
        MetricName="RunningTaskCount",
        Dimensions=dimensions,
        Statistic="Minimum",
        Period=PERIOD,
        ComparisonOperator="LessThanThreshold",
        Threshold=Ref(p["min_capacity"]),
        EvaluationPeriods=TASKS_WINDOW,
        DatapointsToAlarm=TASKS_LOW_MINUTES,
        # Container Insights (on for this cluster) reports the service every minute while it exists, so
        # silence means nothing reports a running task: that is the failure this alarm is for.
        TreatMissingData="breaching",
        **notify(Ref(topic)),
    )
    return [t.add_resource(alarm) for alarm in (*saturation, tasks)]


def create_release_health(t: Template, topic: sns.Topic, release: ReleaseAlarms) -> cloudwatch.CompositeAlarm:
    """One alarm for the three release alarms: CloudFormation takes at most five rollback triggers."""
    rule = " OR ".join(f'ALARM("${{{alarm.title}}}")' for alarm in release.all)
    return t.add_resource(
        cloudwatch.CompositeAlarm(
            "ReleaseHealthAlarm",
            AlarmName=alarm_name("release-health"),
            AlarmDescription="The running release fails its users: 5xx rate, unhealthy targets or latency "
                             "(the deployer's rollback trigger for the compute stack)",
            AlarmRule=Sub(rule),
            **notify(Ref(topic)),
        )
    )


def create_blocked_requests_alarm(t: Template, p: dict, web_acl_metric_name, topic_arn) -> cloudwatch.Alarm:
    """waf stack: the WebACL blocks far more than usual (an attack, or a rule change blocking real users)."""
    return t.add_resource(
        cloudwatch.Alarm(
            "BlockedRequestsAlarm",
            AlarmName=alarm_name("waf-blocked-requests"),
            AlarmDescription="Requests the WebACL blocked in 5 minutes, all rules together",
            Namespace=WAFV2,
            MetricName="BlockedRequests",
            Dimensions=[
                cloudwatch.MetricDimension(Name="WebACL", Value=web_acl_metric_name),
                cloudwatch.MetricDimension(Name="Region", Value=Ref("AWS::Region")),
                cloudwatch.MetricDimension(Name="Rule", Value=WAF_ALL_RULES),
            ],
            Statistic="Sum",
            Period=WAF_PERIOD,
            ComparisonOperator="GreaterThanThreshold",
            Threshold=Ref(p["alarm_waf_blocked_requests"]),
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            # WAF publishes BlockedRequests only for a window in which it blocked something: missing is zero.
            TreatMissingData="notBreaching",
            **notify(topic_arn),
        )
    )


# ---- the dashboard ----

WIDGET_WIDTH = 12  # two widgets a row (the grid is 24 wide)
WIDGET_HEIGHT = 6


def _widget(title: str, metrics: list, stat: str, index: int, **extra) -> dict:
    properties = {
        "metrics": metrics,
        "period": PERIOD,
        "region": "${AWS::Region}",
        "stat": stat,
        "title": title,
        "view": "timeSeries",
        **extra,
    }
    return {
        "type": "metric",
        "x": (index % 2) * WIDGET_WIDTH,
        "y": (index // 2) * WIDGET_HEIGHT,
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": properties,
    }


def dashboard_body(alarms: list, waf_rules: tuple[str, ...]) -> dict:
    """The dashboard as data, ``${...}`` placeholders for the Fn::Sub around it."""
    alb = ["LoadBalancer", "${LoadBalancer}"]
    targets = ["TargetGroup", "${TargetGroup}", *alb]
    service = ["ClusterName", "${Cluster}", "ServiceName", "${Service}"]
    web_acl = ["WebACL", naming.resource_name_text("web_acl"), "Region", "${AWS::Region}"]
    metric_widgets = [
        ("Requests", [[ALB, "RequestCount", *alb]], "Sum", {}),
        (
            "4xx and 5xx responses",
            [[ALB, f"HTTPCode_{source}_{code}_Count", *alb, {"label": f"{source} {code}"}]
             for source in ("ELB", "Target") for code in ("4XX", "5XX")],
            "Sum",
            {},
        ),
        (
            "Target response time (s)",
            [[ALB, "TargetResponseTime", *alb, {"stat": stat, "label": stat}] for stat in ("p50", "p95", "p99")],
            "p95",
            {},
        ),
        (
            "Healthy and unhealthy targets",
            [[ALB, "HealthyHostCount", *targets], [ALB, "UnHealthyHostCount", *targets]],
            "Maximum",
            {},
        ),
        (
            "Tasks running vs desired",
            [[CONTAINER_INSIGHTS, "RunningTaskCount", *service], [CONTAINER_INSIGHTS, "DesiredTaskCount", *service]],
            "Average",
            {},
        ),
        (
            "Service CPU and memory (%)",
            [[ECS, "CPUUtilization", *service], [ECS, "MemoryUtilization", *service]],
            "Average",
            {"yAxis": {"left": {"min": 0, "max": 100}}},
        ),
        (
            "WAF allowed and blocked, by rule",
            [[WAFV2, "AllowedRequests", *web_acl, "Rule", WAF_ALL_RULES, {"label": "allowed"}],
             [WAFV2, "BlockedRequests", *web_acl, "Rule", WAF_ALL_RULES, {"label": "blocked (all rules)"}]]
            + [[WAFV2, "BlockedRequests", *web_acl, "Rule", rule, {"label": f"blocked by {rule}"}]
               for rule in waf_rules],
            "Sum",
            {"period": WAF_PERIOD},
        ),
    ]
    widgets = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": 2 * WIDGET_WIDTH,
            "height": 3,
            "properties": {
                "alarms": [f"${{{alarm.title}.Arn}}" for alarm in alarms],
                "title": "Alarms",
            },
        }
    ]
    for index, (title, metrics, stat, extra) in enumerate(metric_widgets):
        widget = _widget(title, metrics, stat, index, **extra)
        widget["y"] += 3
        widgets.append(widget)
    return {"widgets": widgets}


def create_dashboard(
    t: Template, alarms: list, waf_rules: tuple[str, ...], cluster, service, load_balancer, target_group
) -> cloudwatch.Dashboard:
    # Sorted keys: the same template renders to the same bytes, so an unchanged dashboard is no change set.
    body = json.dumps(dashboard_body(alarms, waf_rules), sort_keys=True, separators=(",", ":"))
    return t.add_resource(
        cloudwatch.Dashboard(
            "Dashboard",
            DashboardName=naming.resource_name_sub("dashboard"),
            DashboardBody=Sub(
                body,
                LoadBalancer=GetAtt(load_balancer, "LoadBalancerFullName"),
                TargetGroup=GetAtt(target_group, "TargetGroupFullName"),
                Cluster=Ref(cluster),
                Service=GetAtt(service, "Name"),
            ),
        )
    )


def dashboard_url(dashboard: cloudwatch.Dashboard) -> Sub:
    return Sub(
        "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
        "#dashboards:name=${Dashboard}",
        Dashboard=Ref(dashboard),
    )
