"""The project's CloudWatch alarms as they stand now (the status verb's alarm table)."""

from __future__ import annotations

import contract

STATE_ORDER = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}


def project_alarms(cw, project: str, topic_arn: str) -> list[dict]:
    """The project's alarms (metric and composite), those in ALARM first. The name prefix "{project}-" is shared
    with another project named "{project}-dev", so an alarm is ours when it notifies our topic (every alarm the
    templates create does)."""
    prefix = contract.resource_name("alarm_prefix", project)
    found = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix,
                                                             AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
        found += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
    ours = [a for a in found if topic_arn in a.get("AlarmActions", [])]
    return sorted(ours, key=lambda a: (STATE_ORDER.get(a.get("StateValue", ""), 3), a["AlarmName"]))
