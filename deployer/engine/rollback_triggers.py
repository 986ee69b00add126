"""CloudFormation rollback triggers: the alarms an update of compute (or waf) is watched by, and, when one fires,
which alarm it was and why.

``configuration`` is the ``RollbackConfiguration`` to pass to CreateChangeSet; ``explain`` turns an update that
ended in UPDATE_ROLLBACK_COMPLETE into the lines that say which alarm rolled it back, its state reason and the
stack's rollback events (empty when the rollback had another cause).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import contract
from deployer.engine import events, stack_status
from deployer.errors import DeployError

MAX_TRIGGERS = 5  # CloudFormation's limit per stack (RollbackConfiguration.RollbackTriggers)
MAX_MONITORING_MINUTES = 180  # CloudFormation's limit (RollbackConfiguration.MonitoringTimeInMinutes: 0..180)
ALARM_TYPE = "AWS::CloudWatch::Alarm"

# arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME; a name may hold spaces, so it ends at a quote, bracket or comma.
_ALARM_ARN = re.compile(r"arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:alarm:[^,\]\[\"'\n]+")


def configuration(deployed_outputs: dict | None, stack_key: str, minutes: int) -> dict | None:
    """The ``RollbackConfiguration`` for the change set of ``stack_key``, from the stack's outputs as deployed now.

    ``deployed_outputs`` is None (or {}) for a CREATE. The alarms' ARNs come from the outputs named in
    ``contract.ROLLBACK_TRIGGER_OUTPUTS[stack_key]``; an output the deployed stack does not have yet (the update
    that first creates the alarms) is left out, since a trigger naming an alarm that does not exist fails the
    whole operation. With none, the list is empty on purpose: leaving RollbackConfiguration out would make
    CloudFormation reuse the triggers saved on the stack. None for a stack that has no trigger outputs at all
    (its change sets carry no RollbackConfiguration, and its updates wait no monitoring time).
    """
    names = contract.ROLLBACK_TRIGGER_OUTPUTS.get(stack_key)
    if names is None:
        return None
    if not 0 <= minutes <= MAX_MONITORING_MINUTES:
        raise DeployError(f"rollback monitoring time {minutes} min is outside CloudFormation's "
                          f"0..{MAX_MONITORING_MINUTES}; fix rollback_monitoring_minutes")
    outputs = deployed_outputs or {}
    arns = [outputs[name] for name in names if outputs.get(name)]
    if len(arns) > MAX_TRIGGERS:
        raise DeployError(
            f"{stack_key} names {len(arns)} rollback-trigger alarms ({', '.join(n for n in names if outputs.get(n))}) "
            f"and CloudFormation accepts at most {MAX_TRIGGERS}: combine them into a composite alarm and list its "
            "output in contract.ROLLBACK_TRIGGER_OUTPUTS instead"
        )
    return {"RollbackTriggers": [{"Arn": arn, "Type": ALARM_TYPE} for arn in arns],
            "MonitoringTimeInMinutes": minutes}


def alarm_name(arn: str) -> str:
    return arn.split(":", 6)[6]


def _rollback_start(seen: list[dict], stack_name: str) -> dict | None:
    for event in seen:
        if (event.get("ResourceType") == "AWS::CloudFormation::Stack" and event.get("LogicalResourceId") == stack_name
                and event.get("ResourceStatus") in stack_status.ROLLBACK_STARTED):
            return event
    return None


def _fired(cw, arns: list[str], since: datetime | None) -> list[tuple[str, str, str]]:
    """(name, state, reason) of each alarm among ``arns`` that was in ALARM during the operation: its last
    transition to ALARM since ``since`` (the alarm may be OK again by now, after the rollback), else its current
    state if that is ALARM."""
    names = [alarm_name(a) for a in arns]
    found = cw.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    current = {a["AlarmName"]: a for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])}
    fired = []
    for name in names:
        kwargs = {"AlarmName": name, "HistoryItemType": "StateUpdate", "ScanBy": "TimestampDescending"}
        if since is not None:
            kwargs["StartDate"] = since
        history = cw.describe_alarm_history(**kwargs).get("AlarmHistoryItems", [])
        to_alarm = [h for h in history if _new_state(h)[0] == "ALARM"]
        if to_alarm:
            state, reason = _new_state(to_alarm[0])
            fired.append((name, f"{state} at {to_alarm[0]['Timestamp']:%H:%M:%S}", reason))
        elif current.get(name, {}).get("StateValue") == "ALARM":
            fired.append((name, "ALARM", current[name].get("StateReason", "")))
    return fired


def _new_state(item: dict) -> tuple[str, str]:
    # HistoryData of a StateUpdate is a JSON document: {"oldState": {...}, "newState": {"stateValue",
    # "stateReason", ...}}; HistorySummary ("Alarm updated from OK to ALARM") is its one-line form.
    try:
        new = json.loads(item.get("HistoryData") or "{}").get("newState", {})
    except ValueError:
        new = {}
    state = new.get("stateValue") or item.get("HistorySummary", "").rsplit(" ", 1)[-1]
    return state, new.get("stateReason", "")


def explain(cw, stack_name: str, seen: list[dict], triggers: list[str]) -> list[str]:
    """Why an operation of ``stack_name`` rolled back, when a rollback trigger did it; [] otherwise.

    ``seen`` are the stack events of the operation (oldest first, as ``events.stream`` returns them). The alarm
    is the one named in the reason of the stack's own ROLLBACK_IN_PROGRESS event. CloudFormation's wording of that
    reason is not documented, so it is matched by the alarm's ARN only; when the reason names none and no resource
    failed (nothing else can have started the rollback), ``triggers`` (the alarm ARNs the change set carried) are
    asked which one went to ALARM during the operation.
    """
    start = _rollback_start(seen, stack_name)
    if start is None:
        return []
    reason = start.get("ResourceStatusReason") or ""
    named = list(dict.fromkeys(m.strip() for m in _ALARM_ARN.findall(reason)))
    since = seen[0].get("Timestamp") if seen else None
    if named:
        fired = _fired(cw, named, since) or [(alarm_name(a), "ALARM", "") for a in named]
    else:
        if any(stack_status.is_resource_failure(e.get("ResourceStatus", ""))
               and e.get("LogicalResourceId") != stack_name for e in seen):
            return []  # a resource failed: that started the rollback (events.causes names it)
        fired = _fired(cw, triggers, since) if triggers else []
        if not fired:
            return []
    lines = [f"{stack_name} was rolled back by its rollback trigger(s): the release broke an alarm"]
    for name, state, why in fired:
        lines.append(f"alarm {name}: {state}" + (f": {why}" if why else ""))
    rollback = [e for e in seen if "ROLLBACK" in e.get("ResourceStatus", "")]
    if rollback:
        lines.append("rollback events:")
        lines += ["  " + events.describe_event(e) for e in rollback]
    lines.append("next: the stack is back on its previous template and parameters; look at the alarm and the "
                 "service's logs, fix the release, then deploy again")
    return lines
