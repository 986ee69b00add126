"""`status` and `outputs`.

moto holds the stacks, the ECS service and task definition, the target group and the container log group;
it cannot show a deployment's rollout failing, a stopped task's reason, or targets with health (moto's ECS
never runs a task, so nothing registers in the target group). Those come from Stubber'd ECS and ELBv2
clients answering as AWS does for a crash-looping service.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import boto3
from botocore.stub import Stubber

from testkit.placeholders import PROD
from tests.operator.conftest import (
    PROJECT,
    REGION,
    SERVICE_PARAMS,
    cfn_stack,
    client,
    deployment,
    describe_services,
    run,
    service,
    task_definition_arn,
)

IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{PROJECT}-api:4f2c9e1"
LOG_GROUP = f"/ecs/{PROJECT}/api"


def deploy_all(target_group: str = "", api_url: str = "http://alb.example") -> None:
    for key in ("network", "data", "waf"):
        cfn_stack(f"{PROJECT}-{key}", {f"{key.title()}Marker": key})
    compute = {"ApiUrl": api_url, "ClusterName": f"{PROJECT}-cluster", "ServiceName": f"{PROJECT}-api"}
    if target_group:
        compute["TargetGroupArn"] = target_group
    cfn_stack(f"{PROJECT}-compute", compute)


def moto_service() -> str:
    """Cluster, task definition, service, target group as compute creates them (names from naming.py)."""
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName=f"{PROJECT}-cluster")
    ecs.register_task_definition(family=f"{PROJECT}-api", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="512", memory="1024",
                                 containerDefinitions=[{"name": "api", "image": IMAGE, "essential": True}])
    ecs.create_service(cluster=f"{PROJECT}-cluster", serviceName=f"{PROJECT}-api", taskDefinition=f"{PROJECT}-api",
                       desiredCount=1, launchType="FARGATE")
    vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return boto3.client("elbv2", region_name=REGION).create_target_group(
        Name="api", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]


def test_status_with_moto_shows_stacks_service_image_and_on_trouble_the_log_tail(moto, capsys):
    tg = moto_service()
    deploy_all(tg)
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="api/api/abc")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName="api/api/abc", logEvents=[
        {"timestamp": now - 2000 + i, "message": f"line {i}"} for i in range(30)])
    result = run([*PROD, "status"])
    out = result.out
    # moto starts no task: 0 of 1 running is a problem, so status exits 1 and shows the newest log lines.
    assert result.code == 1, out
    for key in ("network", "data", "compute", "waf"):
        assert f"{PROJECT}-{key}" in out
    assert "CREATE_COMPLETE" in out
    assert "github-oidc" in out and "NOT DEPLOYED" in out  # optional: listed, not a problem
    assert "tasks: 1 desired, 0 running" in out
    assert f"task definition: {PROJECT}-api:1" in out
    assert f"image: {IMAGE} (tag 4f2c9e1)" in out
    assert "targets: no targets" in out
    assert "problem: 0 of 1 tasks running" in out
    assert "problem: no targets registered in the target group" in out
    assert f"last 20 log lines ({LOG_GROUP}):" in out
    assert "  line 29" in out and "  line 10" in out and "  line 9\n" not in out


def test_status_of_nothing_deployed_says_so(moto, capsys):
    result = run([*PROD, "status"])
    assert result.code == 1
    assert f"problem: stack {PROJECT}-network is not deployed" in result.out
    assert f"problem: service {PROJECT}-api not found in cluster {PROJECT}-cluster" in result.out


TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/{PROJECT}-api/0123456789abcdef"
STOPPED_TASK = f"arn:aws:ecs:{REGION}:123456789012:task/{PROJECT}-cluster/5d4c3b2a1f0e49d8a7b6c5d4e3f2a1b0"
FAILING = "ecs-svc/4444444444444444444"
STABLE = "ecs-svc/3333333333333333333"


def crash_looping_clients():
    """ECS, ELBv2 and Logs as AWS answers while a new deployment's tasks crash on start."""
    ecs, elbv2, logs = client("ecs"), client("elbv2"), client("logs")
    s_ecs, s_elb, s_logs = Stubber(ecs), Stubber(elbv2), Stubber(logs)
    svc = service([
        deployment(FAILING, "PRIMARY", 8, 0, pending=1, failed=4, rollout="FAILED",
                   reason="ECS deployment circuit breaker: tasks failed to start."),
        deployment(STABLE, "ACTIVE", 7, 1, rollout="COMPLETED"),
    ], desired=1, running=1, pending=1, revision=8,
        events=(f"(service {PROJECT}-api) has started 1 tasks: (task 5d4c3b2a).",))
    s_ecs.add_response("describe_services", describe_services(svc), SERVICE_PARAMS)
    s_ecs.add_response("describe_task_definition", {"taskDefinition": {
        "taskDefinitionArn": task_definition_arn(8), "family": f"{PROJECT}-api", "revision": 8,
        "containerDefinitions": [{"name": "api", "image": IMAGE.replace("4f2c9e1", "badc0de")}]}},
        {"taskDefinition": task_definition_arn(8)})
    s_elb.add_response("describe_target_health", {"TargetHealthDescriptions": [
        {"Target": {"Id": "10.0.2.15", "Port": 8000, "AvailabilityZone": f"{REGION}a"},
         "HealthCheckPort": "8000", "TargetHealth": {"State": "healthy"}},
        {"Target": {"Id": "10.0.3.27", "Port": 8000, "AvailabilityZone": f"{REGION}b"},
         "HealthCheckPort": "8000", "TargetHealth": {
             "State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
             "Description": "Health checks failed with these codes: [502]"}},
    ]}, {"TargetGroupArn": TG_ARN})
    s_ecs.add_response("list_tasks", {"taskArns": [STOPPED_TASK]},
                       {"cluster": f"{PROJECT}-cluster", "serviceName": f"{PROJECT}-api", "desiredStatus": "STOPPED"})
    s_ecs.add_response("describe_tasks", {"tasks": [{
        "taskArn": STOPPED_TASK, "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "stoppedAt": dt.datetime(2024, 5, 1, 12, 3, 4, tzinfo=dt.UTC),
        "containers": [{"name": "api", "lastStatus": "STOPPED", "exitCode": 1}],
    }], "failures": []}, {"cluster": f"{PROJECT}-cluster", "tasks": [STOPPED_TASK]})
    s_logs.add_response("get_log_events", {"events": [
        {"timestamp": 1714564980000, "message": "Traceback (most recent call last):", "ingestionTime": 1714564981000},
        {"timestamp": 1714564980001, "message": "KeyError: 'REDIS_HOST'", "ingestionTime": 1714564981000},
    ], "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}, {
        "logGroupName": LOG_GROUP, "logStreamName": "api/api/5d4c3b2a1f0e49d8a7b6c5d4e3f2a1b0",
        "startFromHead": False, "limit": 20})
    return {"ecs": ecs, "elbv2": elbv2, "logs": logs}, (s_ecs, s_elb, s_logs)


def test_status_of_a_failing_rollout_shows_why_tasks_stop_and_what_they_logged(moto, capsys):
    deploy_all(TG_ARN)
    clients, stubs = crash_looping_clients()
    for s in stubs:
        s.activate()
    result = run([*PROD, "status"], clients=clients)
    for s in stubs:
        s.assert_no_pending_responses()
    out = result.out
    assert result.code == 1
    assert f"deployment {FAILING} PRIMARY: {PROJECT}-api:8, 0/1 running, 1 pending, 4 failed, rollout FAILED" in out
    assert "    ECS deployment circuit breaker: tasks failed to start." in out
    assert f"deployment {STABLE} ACTIVE: {PROJECT}-api:7, 1/1 running" in out
    assert "(tag badc0de)" in out
    assert "targets: 1 healthy, 1 unhealthy" in out
    assert "10.0.3.27:8000 unhealthy Target.ResponseCodeMismatch Health checks failed with these codes: [502]" in out
    assert "problem: 1 unhealthy target(s) of 2" in out
    assert f"problem: deployment {FAILING} FAILED" in out
    assert ("last stopped task 5d4c3b2a1f0e49d8a7b6c5d4e3f2a1b0 at 2024-05-01T12:03:04+00:00: "
            "Essential container in task exited; container api: exit code 1") in out
    assert "  KeyError: 'REDIS_HOST'" in out  # from that task's own log stream


def test_status_all_well_exits_0_without_looking_for_stopped_tasks(moto, capsys):
    deploy_all(TG_ARN)
    ecs, elbv2 = client("ecs"), client("elbv2")
    with Stubber(ecs) as s_ecs, Stubber(elbv2) as s_elb:
        s_ecs.add_response("describe_services", describe_services(
            service([deployment(STABLE, "PRIMARY", 7, 1, rollout="COMPLETED")])), SERVICE_PARAMS)
        s_ecs.add_response("describe_task_definition", {"taskDefinition": {
            "containerDefinitions": [{"name": "api", "image": IMAGE}]}}, {"taskDefinition": task_definition_arn(7)})
        s_elb.add_response("describe_target_health", {"TargetHealthDescriptions": [
            {"Target": {"Id": "10.0.2.15", "Port": 8000}, "TargetHealth": {"State": "healthy"}}]},
            {"TargetGroupArn": TG_ARN})
        result = run([*PROD, "status"], clients={"ecs": ecs, "elbv2": elbv2})
    assert result.code == 0, result.out
    assert "all well" in result.out and "problem" not in result.out
    assert "ListTasks" not in " ".join(result.calls)  # nothing wrong: no digging


def test_outputs_table_and_json(moto, capsys):
    deploy_all(api_url="http://ia-comafi-alb-1.us-east-1.elb.amazonaws.com")
    table = run([*PROD, "outputs"])
    assert table.code == 0
    assert any(line.split() == ["compute", "ApiUrl", "http://ia-comafi-alb-1.us-east-1.elb.amazonaws.com"]
               for line in table.out.splitlines())
    assert any(line.split() == ["github-oidc", "-", "(not", "deployed)"] for line in table.out.splitlines())
    as_json = run([*PROD, "outputs", "--json"])
    assert as_json.code == 0
    parsed = json.loads(as_json.out)  # nothing but JSON on stdout
    assert parsed["compute"]["ApiUrl"] == "http://ia-comafi-alb-1.us-east-1.elb.amazonaws.com"
    assert parsed["network"] == {"NetworkMarker": "network"}
    assert parsed["github-oidc"] is None


def put_alarm(name: str, topic: str, state: str, reason: str) -> None:
    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                        Statistic="Sum", Period=60, EvaluationPeriods=3, Threshold=5, AlarmActions=[topic],
                        OKActions=[topic], ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def test_status_lists_the_alarms_in_alarm_first_with_their_reason_and_only_this_projects(moto, capsys):
    topic = f"arn:aws:sns:{REGION}:123456789012:{PROJECT}-alarms"
    other = f"arn:aws:sns:{REGION}:123456789012:{PROJECT}-dev-alarms"  # a project named "{PROJECT}-dev"
    moto_service()
    for key in ("network", "data", "waf"):
        cfn_stack(f"{PROJECT}-{key}", {f"{key.title()}Marker": key})
    dashboard = f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name={PROJECT}"
    cfn_stack(f"{PROJECT}-compute", {"ApiUrl": "http://alb.example", "ClusterName": f"{PROJECT}-cluster",
                                     "ServiceName": f"{PROJECT}-api", "AlarmTopicArn": topic,
                                     "DashboardUrl": dashboard})
    put_alarm(f"{PROJECT}-cpu-high", topic, "OK", "Threshold Crossed: 5 datapoints were not greater than 85.0")
    put_alarm(f"{PROJECT}-unhealthy-hosts", topic, "ALARM",
              "Threshold Crossed: 3 out of the last 3 datapoints [1.0, 1.0, 1.0] were greater than the threshold (0.0)")
    put_alarm(f"{PROJECT}-dev-5xx-rate", other, "ALARM", "not ours")
    result = run([*PROD, "status"])
    assert result.code == 1
    assert "alarms: 1 ALARM, 1 OK" in result.out
    rows = [line.split() for line in result.out.splitlines() if line.strip().startswith(("ALARM ", "OK "))]
    assert [r[1] for r in rows] == [f"{PROJECT}-unhealthy-hosts", f"{PROJECT}-cpu-high"]  # ALARM first
    assert "were greater than the threshold (0.0)" in result.out
    assert "not ours" not in result.out and f"{PROJECT}-dev-5xx-rate" not in result.out
    assert f"alarm {PROJECT}-unhealthy-hosts is in ALARM" in result.err
    outputs = run([*PROD, "outputs"])
    assert any(line.split() == ["compute", "DashboardUrl", dashboard] for line in outputs.out.splitlines())
