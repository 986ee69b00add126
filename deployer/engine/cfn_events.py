"""What CloudFormation itself found: DescribeEvents (pre-deployment validation, since November 2025).

For a change set (by its id) the events say why it FAILED (FAIL-mode validation: property syntax, a name that
already exists) and, when it succeeded, what the WARN-mode validations noticed (a bucket that is not empty where
a delete is planned, a service quota, ECR delete readiness). For an execution (by the operation id its stack
events carry) they hold the provisioning and hook errors.

Where the API is not there (an older endpoint, an emulator, a role without cloudformation:DescribeEvents) the
readers return None, and the caller keeps what it has: the change set's StatusReason, the stack events.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

# The answers that mean "this endpoint or these credentials cannot answer DescribeEvents", not a failure.
UNAVAILABLE = frozenset({"InvalidAction", "UnknownOperationException", "UnknownOperation", "NotImplemented",
                         "InternalFailure", "AccessDenied", "AccessDeniedException"})
ERROR_TYPES = frozenset({"VALIDATION_ERROR", "PROVISIONING_ERROR", "HOOK_INVOCATION_ERROR"})
MAX_PAGES = 20


@dataclass(frozen=True)
class Found:
    severity: str  # "error" | "warning"
    text: str

    def to_json(self) -> dict:
        return {"severity": self.severity, "text": self.text}


def read(cfn, **selector) -> list[dict] | None:
    """Every event DescribeEvents returns for ``selector`` (ChangeSetName=..., or OperationId=...); None when
    the API cannot be asked here."""
    if not hasattr(cfn, "describe_events"):
        return None
    found: list[dict] = []
    kwargs = dict(selector)
    try:
        for _ in range(MAX_PAGES):
            page = cfn.describe_events(**kwargs)
            found += page.get("OperationEvents", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error.get("Code") in UNAVAILABLE or status in (404, 501):
            return None
        raise
    return found


def describe(event: dict) -> str:
    """One event as one line: what failed or warned, where, and CloudFormation's reason."""
    where = event.get("LogicalResourceId") or ""
    if event.get("ResourceType"):
        where = f"{where} ({event['ResourceType']})".strip()
    if event.get("EventType") == "VALIDATION_ERROR" or event.get("ValidationName"):
        what = f"validation {event.get('ValidationName') or '?'} ({event.get('ValidationFailureMode') or '?'})"
        reason = event.get("ValidationStatusReason") or event.get("ResourceStatusReason") or ""
        path = event.get("ValidationPath")
        if path:
            where = f"{where} {path}".strip()
    elif event.get("EventType") == "HOOK_INVOCATION_ERROR":
        what = f"hook {event.get('HookType') or '?'} {event.get('HookStatus') or ''}".strip()
        reason = event.get("HookStatusReason") or ""
    else:
        what = event.get("ResourceStatus") or event.get("EventType") or ""
        reason = event.get("ResourceStatusReason") or ""
    return ": ".join(part for part in (what, where, " ".join(reason.split())) if part)


def findings(events: list[dict]) -> list[Found]:
    """The errors (FAIL-mode validation, provisioning and hook errors) and the WARN-mode validations."""
    found: list[Found] = []
    for e in events:
        warn = e.get("ValidationFailureMode") == "WARN" or e.get("HookFailureMode") == "WARN"
        failed = e.get("EventType") in ERROR_TYPES or (e.get("ResourceStatus") or "").endswith("_FAILED")
        validation = e.get("EventType") == "VALIDATION_ERROR" or bool(e.get("ValidationName"))
        if not (validation or failed):
            continue
        item = Found("warning" if warn else "error", describe(e))
        if item not in found:
            found.append(item)
    return found


def change_set_findings(cfn, change_set_id: str) -> list[Found] | None:
    events = read(cfn, ChangeSetName=change_set_id)
    return None if events is None else findings(events)


def operation_findings(cfn, operation_id: str) -> list[Found] | None:
    events = read(cfn, OperationId=operation_id, Filters={"FailedEvents": True})
    return None if events is None else findings(events)
