"""Drift: what someone changed by hand (console, CLI) in the resources of the stacks.

``detect`` starts drift detection on every stack at once (CloudFormation runs them side by side), waits for all of
them, bounded, and reads each drifted resource's property differences. ``render`` prints them as a table,
``to_json`` for scripts, ``exit_code``: 0 in sync, 3 drifted, 1 when any detection failed or timed out (then
what was found is still shown, but "no drift" cannot be claimed).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from deployer.engine.report import table
from deployer.errors import EXIT_DIFF_CHANGES, EXIT_FAILED, EXIT_OK

IN_SYNC = "IN_SYNC"
DRIFTED = "DRIFTED"
FAILED = "FAILED"  # detection could not start, or DETECTION_FAILED
TIMED_OUT = "TIMED_OUT"

EXIT_DRIFTED = EXIT_DIFF_CHANGES  # 3, as `diff` with changes: "something differs", not "something broke"

DEFAULT_TIMEOUT = 600  # s; a stack of a few dozen resources takes a minute or two
DEFAULT_POLL = 5  # s


@dataclass(frozen=True)
class PropertyDifference:
    path: str  # PropertyPath, e.g. /SecurityGroupIngress/0/CidrIp
    expected: str
    actual: str
    kind: str  # ADD | REMOVE | NOT_EQUAL


@dataclass(frozen=True)
class ResourceDrift:
    logical_id: str
    resource_type: str
    physical_id: str
    status: str  # MODIFIED | DELETED
    differences: tuple[PropertyDifference, ...] = ()


@dataclass(frozen=True)
class StackDrift:
    stack: str
    status: str  # IN_SYNC | DRIFTED | FAILED | TIMED_OUT
    reason: str = ""
    resources: tuple[ResourceDrift, ...] = ()


def _start(cfn, name: str) -> str | StackDrift:
    try:
        return cfn.detect_stack_drift(StackName=name)["StackDriftDetectionId"]
    except ClientError as exc:
        # AWS: ValidationError "Stack with id X does not exist", or a stack in a state drift cannot be checked in.
        return StackDrift(name, FAILED, exc.response.get("Error", {}).get("Message", str(exc)))


def detect(cfn, stack_names: list[str], timeout: float = DEFAULT_TIMEOUT, poll: float = DEFAULT_POLL,
           tracker=None) -> dict[str, StackDrift]:
    """Drift of each stack, in ``stack_names``' order. Every detection is started before any is waited for.

    ``tracker``, a live view's (engine/report.py's Tracker), is told when each stack's detection starts and ends.
    """
    results: dict[str, StackDrift] = {}
    pending: dict[str, str] = {}
    for name in stack_names:
        started = _start(cfn, name)
        if isinstance(started, StackDrift):
            results[name] = started
            _told(tracker, started)
        else:
            pending[name] = started
            if tracker is not None:
                tracker.begin(name, "DETECTION_IN_PROGRESS")
    deadline = time.monotonic() + timeout
    while pending:
        for name, detection_id in list(pending.items()):
            status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
            if status["DetectionStatus"] == "DETECTION_IN_PROGRESS":
                continue
            del pending[name]
            results[name] = _finished(cfn, name, status)
            _told(tracker, results[name])
        if pending and time.monotonic() >= deadline:
            for name in pending:
                results[name] = StackDrift(name, TIMED_OUT, f"detection still running after {timeout:g} s; run "
                                                            "drift again later (the detection goes on in AWS)")
                _told(tracker, results[name])
            break
        if pending:
            time.sleep(poll)
    return {name: results[name] for name in stack_names}


def _told(tracker, result: StackDrift) -> None:
    if tracker is not None:
        tracker.finish(result.stack, result.status, failed=result.status != IN_SYNC)


def _finished(cfn, name: str, status: dict) -> StackDrift:
    resources = _drifted_resources(cfn, name) if status.get("StackDriftStatus") == DRIFTED else ()
    if status["DetectionStatus"] == "DETECTION_FAILED":
        # Some resources could not be checked (their type does not support drift, or a permission is missing);
        # those that were are listed anyway.
        return StackDrift(name, FAILED, status.get("DetectionStatusReason", ""), resources)
    drift = status.get("StackDriftStatus", "")
    if drift not in (DRIFTED, IN_SYNC):  # UNKNOWN, NOT_CHECKED: nothing can be claimed
        return StackDrift(name, FAILED, f"drift status {drift or '(none)'}")
    return StackDrift(name, drift, resources=resources)


def _drifted_resources(cfn, name: str) -> tuple[ResourceDrift, ...]:
    found: list[ResourceDrift] = []
    kwargs = {"StackName": name, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]}
    while True:
        page = cfn.describe_stack_resource_drifts(**kwargs)
        for d in page.get("StackResourceDrifts", []):
            found.append(ResourceDrift(
                logical_id=d["LogicalResourceId"], resource_type=d["ResourceType"],
                physical_id=d.get("PhysicalResourceId", ""), status=d["StackResourceDriftStatus"],
                differences=tuple(PropertyDifference(p["PropertyPath"], p["ExpectedValue"], p["ActualValue"],
                                                     p["DifferenceType"])
                                  for p in d.get("PropertyDifferences", []))))
        if not page.get("NextToken"):
            return tuple(sorted(found, key=lambda r: r.logical_id))
        kwargs["NextToken"] = page["NextToken"]


def render(results: dict[str, StackDrift]) -> list[str]:
    """One line per stack, then a table of every drifted resource's differences (a deleted one: one row)."""
    lines = []
    for r in results.values():
        lines.append(f"{r.stack}: {r.status}" + (f" ({r.reason})" if r.reason else ""))
    rows = []
    for r in results.values():
        for res in r.resources:
            if not res.differences:
                rows.append([r.stack, res.logical_id, res.resource_type, res.status, "", "", ""])
            for d in res.differences:
                rows.append([r.stack, res.logical_id, res.resource_type, f"{res.status} {d.kind}", d.path,
                             d.expected, d.actual])
    if rows:
        lines.append("")
        lines += table(["Stack", "Resource", "Type", "Drift", "Property", "Expected", "Actual"], rows)
    return lines


def to_json(results: dict[str, StackDrift]) -> str:
    """``{"stacks": [...], "exit_code": n}``, same bytes for the same results."""
    return json.dumps({"stacks": [asdict(r) for r in results.values()], "exit_code": exit_code(results)},
                      indent=2, sort_keys=True)


def exit_code(results: dict[str, StackDrift]) -> int:
    statuses = {r.status for r in results.values()}
    if statuses & {FAILED, TIMED_OUT}:
        return EXIT_FAILED
    if DRIFTED in statuses:
        return EXIT_DRIFTED
    return EXIT_OK
