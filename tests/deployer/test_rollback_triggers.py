"""Rollback triggers: the configuration CreateChangeSet gets, and the explanation when one fires.

LocalStack accepts RollbackConfiguration but does not record it nor fire it, so a trigger firing (and the
UPDATE_ROLLBACK_COMPLETE that follows) is replayed with botocore's Stubber in AWS's response shapes.
"""

from __future__ import annotations

import datetime
import json

import boto3
import pytest
from botocore.stub import Stubber

import contract
from deployer.engine import rollback_triggers
from deployer.errors import DeployError

REGION = "us-east-1"
STACK = "ia-comafi-compute"
STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/0d6a3b40-e6a1-11f0-9a1f-0a1b2c3d4e5f"
ALARM = "ia-comafi-release-health"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{ALARM}"
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
OUTPUT = contract.ROLLBACK_TRIGGER_OUTPUTS[contract.COMPUTE][0]


pytestmark = pytest.mark.usefixtures("stubbed_aws_env")


def client(service: str):
    return boto3.session.Session(region_name=REGION).client(service, region_name=REGION)


# --- configuration ------------------------------------------------------------------------------------------

def test_the_deployed_alarms_become_the_triggers():
    cfg = rollback_triggers.configuration({OUTPUT: ALARM_ARN, "ApiUrl": "http://x"}, contract.COMPUTE, 5)
    assert cfg == {"RollbackTriggers": [{"Arn": ALARM_ARN, "Type": "AWS::CloudWatch::Alarm"}],
                   "MonitoringTimeInMinutes": 5}


@pytest.mark.parametrize("deployed", [None, {}, {"ApiUrl": "http://x"}], ids=["create", "no outputs", "no alarm yet"])
def test_no_alarm_deployed_yet_is_an_explicit_empty_list(deployed):
    # Leaving RollbackConfiguration out would reuse the stack's saved triggers; naming an alarm that does not
    # exist yet fails the operation. So the update that first creates the alarms passes [].
    cfg = rollback_triggers.configuration(deployed, contract.COMPUTE, 7)
    assert cfg == {"RollbackTriggers": [], "MonitoringTimeInMinutes": 7}


def test_a_stack_without_trigger_outputs_gets_no_configuration():
    assert contract.NETWORK not in contract.ROLLBACK_TRIGGER_OUTPUTS
    assert rollback_triggers.configuration({"VpcId": "vpc-1"}, contract.NETWORK, 5) is None


def test_more_than_five_triggers_is_refused_with_the_way_out(monkeypatch):
    names = tuple(f"Alarm{i}Arn" for i in range(6))
    monkeypatch.setitem(contract.ROLLBACK_TRIGGER_OUTPUTS, contract.COMPUTE, names)
    outputs = {n: f"{ALARM_ARN}-{i}" for i, n in enumerate(names)}
    with pytest.raises(DeployError, match="at most 5.*composite alarm"):
        rollback_triggers.configuration(outputs, contract.COMPUTE, 5)
    del outputs[names[0]]
    assert len(rollback_triggers.configuration(outputs, contract.COMPUTE, 5)["RollbackTriggers"]) == 5


def test_monitoring_time_beyond_cloudformations_limit_is_refused():
    with pytest.raises(DeployError, match="0..180"):
        rollback_triggers.configuration({}, contract.COMPUTE, 181)


# --- explain ------------------------------------------------------------------------------------------------

def event(logical_id: str, status: str, seconds: int, reason: str = "", rtype: str = "") -> dict:
    stack = logical_id == STACK
    return {"StackId": STACK_ID, "EventId": f"{logical_id}-{status}-{seconds}", "StackName": STACK,
            "LogicalResourceId": logical_id, "PhysicalResourceId": STACK_ID if stack else f"{logical_id}-phys",
            "ResourceType": "AWS::CloudFormation::Stack" if stack else rtype,
            "Timestamp": T0 + datetime.timedelta(seconds=seconds), "ResourceStatus": status,
            **({"ResourceStatusReason": reason} if reason else {})}


def rolled_back_update(rollback_reason: str) -> list[dict]:
    """A release the service took (every resource UPDATE_COMPLETE), then undone during the monitoring time."""
    return [
        event(STACK, "UPDATE_IN_PROGRESS", 0, "User Initiated"),
        event("TaskDefinition", "UPDATE_IN_PROGRESS", 5, "Requested update requires the creation of a new "
              "physical resource; hence creating one.", "AWS::ECS::TaskDefinition"),
        event("TaskDefinition", "UPDATE_COMPLETE", 6, rtype="AWS::ECS::TaskDefinition"),
        event("Service", "UPDATE_IN_PROGRESS", 8, rtype="AWS::ECS::Service"),
        event("Service", "UPDATE_COMPLETE", 200, rtype="AWS::ECS::Service"),
        event(STACK, "UPDATE_ROLLBACK_IN_PROGRESS", 320, rollback_reason),
        event("Service", "UPDATE_IN_PROGRESS", 325, rtype="AWS::ECS::Service"),
        event("Service", "UPDATE_COMPLETE", 500, rtype="AWS::ECS::Service"),
        event(STACK, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", 505),
        event("TaskDefinition", "DELETE_COMPLETE", 510, rtype="AWS::ECS::TaskDefinition"),
        event(STACK, "UPDATE_ROLLBACK_COMPLETE", 512),
    ]


STATE_REASON = ("Threshold Crossed: 2 out of the last 2 datapoints [12.5 (01/01/26 12:04:00), 9.1 (01/01/26 "
                "12:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).")


def metric_alarm(state: str, reason: str) -> dict:
    return {"AlarmName": ALARM, "AlarmArn": ALARM_ARN, "StateValue": state, "StateReason": reason,
            "StateUpdatedTimestamp": T0 + datetime.timedelta(minutes=9), "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB", "ComparisonOperator": "GreaterThanThreshold", "Threshold": 5.0,
            "EvaluationPeriods": 2, "Period": 60, "Statistic": "Average", "ActionsEnabled": True}


def to_alarm_history() -> dict:
    data = {"version": "1.0",
            "oldState": {"stateValue": "OK", "stateReason": "Threshold Crossed: 1 datapoint [0.0 (01/01/26 "
                                                             "11:58:00)] was not greater than the threshold (5.0)."},
            "newState": {"stateValue": "ALARM", "stateReason": STATE_REASON,
                         "stateReasonData": {"version": "1.0", "statistic": "Average", "period": 60,
                                             "recentDatapoints": [9.1, 12.5], "threshold": 5.0}}}
    return {"AlarmHistoryItems": [{
        "AlarmName": ALARM, "AlarmType": "MetricAlarm", "Timestamp": T0 + datetime.timedelta(minutes=5, seconds=10),
        "HistoryItemType": "StateUpdate", "HistorySummary": "Alarm updated from OK to ALARM",
        "HistoryData": json.dumps(data)}]}


def stub_alarm(cw_stub: Stubber, now_state: str = "OK") -> None:
    cw_stub.add_response("describe_alarms",
                         {"MetricAlarms": [metric_alarm(now_state, "back to normal after the rollback")],
                          "CompositeAlarms": []},
                         {"AlarmNames": [ALARM], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]})
    cw_stub.add_response("describe_alarm_history", to_alarm_history(),
                         {"AlarmName": ALARM, "HistoryItemType": "StateUpdate", "ScanBy": "TimestampDescending",
                          "StartDate": T0})


def test_a_fired_trigger_is_named_with_the_reason_it_fired_and_the_rollback_events():
    # AWS documents no wording for the stack's reason; it names the alarm's ARN, which is all that is matched.
    seen = rolled_back_update(f"Rollback triggered by alarm(s) in ALARM state: [{ALARM_ARN}]")
    cw = client("cloudwatch")
    with Stubber(cw) as cw_stub:
        stub_alarm(cw_stub)
        lines = rollback_triggers.explain(cw, STACK, seen, [ALARM_ARN])
        cw_stub.assert_no_pending_responses()
    text = "\n".join(lines)
    assert f"alarm {ALARM}: ALARM at 12:05:10: {STATE_REASON}" in lines  # the reason it fired, not "back to normal"
    assert "back to normal" not in text
    rollback = lines[lines.index("rollback events:") + 1:]
    assert any("UPDATE_ROLLBACK_IN_PROGRESS" in x for x in rollback)
    assert any("UPDATE_ROLLBACK_COMPLETE" in x for x in rollback)
    assert not any("TaskDefinition" in x and "UPDATE_COMPLETE" in x for x in rollback)  # the release, not the undo
    assert lines[-1].startswith("next: ")


def test_a_reason_without_the_arn_falls_back_to_the_triggers_the_change_set_carried():
    seen = rolled_back_update("Stack update rolled back: a rollback trigger went into ALARM")
    cw = client("cloudwatch")
    with Stubber(cw) as cw_stub:
        stub_alarm(cw_stub, now_state="ALARM")
        lines = rollback_triggers.explain(cw, STACK, seen, [ALARM_ARN])
    assert f"alarm {ALARM}: ALARM at 12:05:10: {STATE_REASON}" in lines


def test_a_rollback_a_resource_caused_is_not_blamed_on_an_alarm():
    seen = rolled_back_update("The following resource(s) failed to update: [Service].")
    seen.insert(4, event("Service", "UPDATE_FAILED", 190, "Resource handler returned message: \"Error occurred "
                         "during operation 'ECS Deployment Circuit Breaker was triggered'.\"", "AWS::ECS::Service"))
    cw = client("cloudwatch")
    with Stubber(cw):  # no responses queued: any AWS call fails the test
        assert rollback_triggers.explain(cw, STACK, seen, [ALARM_ARN]) == []


def test_quiet_saved_triggers_do_not_explain_a_rollback():
    seen = rolled_back_update("Stack update cancelled")
    cw = client("cloudwatch")
    with Stubber(cw) as cw_stub:
        cw_stub.add_response("describe_alarms", {"MetricAlarms": [metric_alarm("OK", "fine")]})
        cw_stub.add_response("describe_alarm_history", {"AlarmHistoryItems": []})
        assert rollback_triggers.explain(cw, STACK, seen, [ALARM_ARN]) == []


def test_an_update_that_succeeded_needs_no_explanation():
    seen = [event(STACK, "UPDATE_IN_PROGRESS", 0, "User Initiated"), event(STACK, "UPDATE_COMPLETE", 300)]
    cw = client("cloudwatch")
    with Stubber(cw):
        assert rollback_triggers.explain(cw, STACK, seen, [ALARM_ARN]) == []
