"""Risk classes of a plan: what a change set can damage, read from its changes (with their before/after values,
DescribeChangeSet IncludePropertyValues), its parameter changes and the cost estimate before and after.

Four classes, each a short table of rules; a rule is a name, what it looks for (one line an approver reads), and
a predicate over one change (or over the parameter changes). Ordinary changes carry no class. An apply refuses a
plan with a class nobody accepted (``--accept data-loss``), so the flag an approver passes names exactly what they
grant.

A stack's first create (a CREATE change set) is judged as a whole template by generate.py's gates (cfn-lint,
checkov, the IAM escalation audit): nothing exists yet that it could lose, open or take down, so its Adds carry no
class. Every rule below judges what an update does to something that exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from deployer.errors import BadInput

DATA_LOSS = "data-loss"
ACCESS = "access"
AVAILABILITY = "availability"
COST = "cost"
CLASSES = (DATA_LOSS, ACCESS, AVAILABILITY, COST)

# Resources whose contents outlive a deploy: deleting or replacing one loses what it holds.
STATEFUL_TYPES = frozenset({
    "AWS::S3::Bucket", "AWS::ECR::Repository", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup",
    "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::RDS::DBInstance", "AWS::RDS::DBCluster",
    "AWS::EFS::FileSystem", "AWS::ElastiCache::ReplicationGroup", "AWS::SQS::Queue",
})
# What CloudFormation does to a removed resource that keeps its data (PolicyAction).
KEEPS_DATA = frozenset({"Retain", "Snapshot"})
REPLACED = frozenset({"True", "Conditional"})

# Keys (anywhere in a resource's properties) that hold a retention or an expiry, in days or images.
RETENTION_KEYS = frozenset({"RetentionInDays", "ExpirationInDays", "Days", "NoncurrentDays",
                            "NoncurrentVersionExpirationInDays", "countNumber", "RecoveryWindowInDays"})
# Parameters that carry one (unhandled_expiry_days -> UnhandledExpiryDays, log_retention_days...).
RETENTION_PARAMETER = re.compile(r"(Retention|Expiry|Expiration)")
PROTECTION_PARAMETER = re.compile(r"(DeletionProtection|Versioning|ObjectLock)")
CAPACITY_PARAMETER = re.compile(r"^(Min|Max)Capacity$|DesiredCount$")
BOUNDARY_PARAMETER = re.compile(r"Boundary")

AVAILABILITY_TYPES = frozenset({"AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ECS::Service",
                                "AWS::ECS::Cluster", "AWS::ElasticLoadBalancingV2::TargetGroup"})
RESOURCE_POLICY_TYPES = frozenset({"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy",
                                   "AWS::SecretsManager::ResourcePolicy"})
POLICY_PROPERTIES = frozenset({"KeyPolicy", "RepositoryPolicyText", "PolicyDocument"})
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


@dataclass(frozen=True)
class Finding:
    risk: str  # one of CLASSES
    rule: str
    stack: str
    subject: str  # a logical id or a parameter name
    reason: str

    def to_json(self) -> dict:
        return {"class": self.risk, "rule": self.rule, "stack": self.stack, "subject": self.subject,
                "reason": self.reason}


# ---- reading a change (the plan file's shape: plan_file.change_record) ----

def _json(text):
    if isinstance(text, (dict, list)):
        return text
    if not isinstance(text, str) or not text.strip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def properties(change: dict, side: str) -> dict:
    """The resource's properties before or after (``side``), from its Before/AfterContext; {} when unknown."""
    context = _json(change.get(f"{side}_context")) or {}
    return context.get("Properties", context) if isinstance(context, dict) else {}


def _walk(node, path: tuple = ()) -> Iterable[tuple[tuple, object]]:
    """(path, value) of every leaf; JSON held in a string (an ECR lifecycle policy's text) is walked too."""
    inner = _json(node) if isinstance(node, str) else None
    node = inner if inner is not None else node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, path + (i,))
    else:
        yield path, node


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _leaves(change: dict, side: str) -> dict[tuple, object]:
    found = dict(_walk(properties(change, side)))
    for d in change.get("details", []):  # no context (older API answers): the details' own values
        path = tuple(p for p in (d.get("path") or "").split("/") if p and p != "Properties") or (d.get("name"),)
        value = d.get(side)
        if value is not None and path not in found:
            found[path] = value
    return found


def _touched(change: dict) -> set[str]:
    """The top-level properties a Modify changes: its details' names, and where the contexts differ."""
    return {d.get("name") or "" for d in change.get("details", [])} | {str(p[0]) for p in _differing_paths(change)}


def _differing_paths(change: dict) -> set[tuple]:
    before, after = _leaves(change, "before"), _leaves(change, "after")
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


# ---- data loss ----

def stateful_replaced(change: dict) -> str:
    if change["type"] in STATEFUL_TYPES and change["action"] == "Modify" and change["replacement"] in REPLACED:
        how = "may be replaced" if change["replacement"] == "Conditional" else "is replaced"
        return f"{change['type']} {how}: the new one starts empty ({change.get('policy_action') or '?'})"
    return ""


def stateful_deleted(change: dict) -> str:
    if change["type"] in STATEFUL_TYPES and change["action"] == "Remove" \
            and change.get("policy_action") not in KEEPS_DATA:
        return f"{change['type']} is deleted with what it holds (PolicyAction {change.get('policy_action') or '?'})"
    return ""


def retention_shortened(change: dict) -> str:
    before, after = _leaves(change, "before"), _leaves(change, "after")
    for path, value in sorted(after.items(), key=lambda item: str(item[0])):
        if not path or path[-1] not in RETENTION_KEYS or _number(value) is None:
            continue
        old = _number(before.get(path))
        if path not in before:
            return f"{'/'.join(map(str, path))} set to {value} where nothing expired before"
        if old is not None and _number(value) < old:
            return f"{'/'.join(map(str, path))} shortened from {before[path]} to {value}"
    return ""


def protection_off(change: dict) -> str:
    before, after = _leaves(change, "before"), _leaves(change, "after")
    for path, old in before.items():
        new = after.get(path)
        text = "/".join(map(str, path))
        if path[-1:] == ("Status",) and "VersioningConfiguration" in path and old == "Enabled" and new != "Enabled":
            return f"versioning turned off ({text}: {old} -> {new})"
        if path[-1:] in (("ObjectLockEnabled",), ("DeletionProtection",), ("DeletionProtectionEnabled",),
                         ("EnableTerminationProtection",)) and str(old).lower() in ("true", "enabled") \
                and str(new).lower() not in ("true", "enabled"):
            return f"{path[-1]} turned off ({old} -> {new})"
        if path[-1:] == ("Value",) and before.get(path[:-1] + ("Key",)) == "deletion_protection.enabled" \
                and str(old).lower() == "true" and str(new).lower() != "true":
            return f"load balancer deletion protection turned off ({old} -> {new})"
    return ""


# ---- access ----

def iam_changed(change: dict) -> str:
    if not change["type"].startswith("AWS::IAM::"):
        return ""
    touched = _touched(change)
    if change["action"] == "Modify" and touched and touched <= {"Tags", "Description"}:
        return ""
    return f"{change['type']} {change['action'].lower()}: its permissions, trust or boundary change"


def _rules(props: dict, key: str) -> set[str]:
    return {json.dumps(r, sort_keys=True) for r in props.get(key) or [] if isinstance(r, dict)}


def security_group_widened(change: dict) -> str:
    if change["type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress") \
            and change["action"] in ("Add", "Modify"):
        return f"{change['type']} {change['action'].lower()}: a rule admits more"
    if change["type"] != "AWS::EC2::SecurityGroup" or change["action"] != "Modify":
        return ""
    before, after = properties(change, "before"), properties(change, "after")
    for key in ("SecurityGroupIngress", "SecurityGroupEgress"):
        new = _rules(after, key) - _rules(before, key)
        if new:
            open_ = any(json.loads(r).get("CidrIp") in OPEN_CIDRS or json.loads(r).get("CidrIpv6") in OPEN_CIDRS
                        for r in new)
            return f"{key}: {len(new)} rule(s) added" + (" open to the internet" if open_ else "")
    if not before and not after and {"SecurityGroupIngress", "SecurityGroupEgress"} & _touched(change):
        return "security group rules change (values not shown by CloudFormation)"
    return ""


def resource_policy_changed(change: dict) -> str:
    if change["type"] in RESOURCE_POLICY_TYPES and change["action"] in ("Add", "Modify", "Remove"):
        return f"{change['type']} {change['action'].lower()}"
    if change["action"] == "Modify" and POLICY_PROPERTIES & _touched(change):
        return f"{', '.join(sorted(POLICY_PROPERTIES & _touched(change)))} changes"
    return ""


def public_access_opened(change: dict) -> str:
    before, after = _leaves(change, "before"), _leaves(change, "after")
    for path, old in before.items():
        if "PublicAccessBlockConfiguration" in path and str(old).lower() == "true" \
                and str(after.get(path)).lower() != "true":
            return f"{path[-1]} turned off"
    for path, new in after.items():
        if path[-1:] == ("Scheme",) and new == "internet-facing" and before.get(path) != new:
            return "the load balancer becomes internet-facing"
        if path[-1:] == ("AssignPublicIp",) and new == "ENABLED" and before.get(path) != new:
            return "tasks get public IP addresses"
    return ""


# ---- availability ----

def fewer_tasks(change: dict) -> str:
    return _lowered(change, ("DesiredCount",), "AWS::ECS::Service", "fewer tasks")


def capacity_lowered(change: dict) -> str:
    return _lowered(change, ("MinCapacity", "MaxCapacity"), "AWS::ApplicationAutoScaling::ScalableTarget",
                    "capacity bound lowered")


def _lowered(change: dict, keys: tuple[str, ...], resource_type: str, what: str) -> str:
    if change["type"] != resource_type or change["action"] != "Modify":
        return ""
    before, after = _leaves(change, "before"), _leaves(change, "after")
    for key in keys:
        old, new = _number(before.get((key,))), _number(after.get((key,)))
        if old is not None and new is not None and new < old:
            return f"{what}: {key} {before[(key,)]} -> {after[(key,)]}"
    return ""


def serving_replaced(change: dict) -> str:
    if change["type"] not in AVAILABILITY_TYPES:
        return ""
    if change["action"] == "Remove":
        return f"{change['type']} removed"
    if change["action"] == "Modify" and change["replacement"] in REPLACED:
        return f"{change['type']} {'may be ' if change['replacement'] == 'Conditional' else ''}replaced"
    return ""


def listener_removed(change: dict) -> str:
    if change["type"] != "AWS::ElasticLoadBalancingV2::Listener":
        return ""
    if change["action"] == "Remove" or (change["action"] == "Modify" and change["replacement"] in REPLACED):
        return f"listener {change['action'].lower()}{'d' if change['action'] == 'Remove' else ' (replaced)'}"
    return ""


def waf_rule_weakened(change: dict) -> str:
    if change["type"] == "AWS::WAFv2::WebACLAssociation" and change["action"] == "Remove":
        return "the WebACL is no longer associated with the load balancer"
    if change["type"] != "AWS::WAFv2::WebACL" or change["action"] != "Modify":
        return ""
    before = {r.get("Name"): r for r in properties(change, "before").get("Rules") or []}
    after = {r.get("Name"): r for r in properties(change, "after").get("Rules") or []}
    gone = sorted(set(before) - set(after))
    if gone:
        return f"WAF rule(s) removed: {', '.join(gone)}"
    for name, rule in sorted(after.items()):
        counting = "Count" in (rule.get("Action") or {}) or "Count" in (rule.get("OverrideAction") or {})
        was = before.get(name, {})
        if counting and not ("Count" in (was.get("Action") or {}) or "Count" in (was.get("OverrideAction") or {})):
            return f"WAF rule {name} set to count (no longer blocks)"
    if not before and not after and "Rules" in _touched(change):
        return "WAF rules change (values not shown by CloudFormation)"
    return ""


Rule = tuple[str, str, str, Callable[[dict], str]]  # (class, name, what it looks for, predicate)

CHANGE_RULES: tuple[Rule, ...] = (
    (DATA_LOSS, "stateful-replaced", "a stateful resource replaced (or conditionally)", stateful_replaced),
    (DATA_LOSS, "stateful-deleted", "a stateful resource (log group, repository, bucket...) deleted, not retained",
     stateful_deleted),
    (DATA_LOSS, "retention-shortened", "a retention or expiry shortened (or set where nothing expired)",
     retention_shortened),
    (DATA_LOSS, "protection-off", "versioning, object lock or deletion protection turned off", protection_off),
    (ACCESS, "iam", "an IAM policy, trust or boundary change", iam_changed),
    (ACCESS, "security-group-widened", "security-group rules widened", security_group_widened),
    (ACCESS, "resource-policy", "a bucket, key, topic or secret policy change", resource_policy_changed),
    (ACCESS, "public-access", "public access opened", public_access_opened),
    (AVAILABILITY, "fewer-tasks", "fewer tasks", fewer_tasks),
    (AVAILABILITY, "capacity-lowered", "auto-scaling bounds lowered", capacity_lowered),
    (AVAILABILITY, "serving-replaced", "the load balancer, a target group, the cluster or the service replaced "
     "or removed", serving_replaced),
    (AVAILABILITY, "listener-removed", "a listener removed or replaced", listener_removed),
    (AVAILABILITY, "waf-weakened", "a WAF rule removed or set to count", waf_rule_weakened),
)


# ---- parameter changes ([{name, before, after}]) ----

def _parameter_lowered(pattern: re.Pattern, change: dict) -> bool:
    old, new = _number(change.get("before")), _number(change.get("after"))
    return bool(pattern.search(change["name"])) and old is not None and new is not None and new < old


def parameter_findings(stack: str, changes: Iterable[dict]) -> list[Finding]:
    found = []
    for c in changes:
        name, old, new = c["name"], c.get("before"), c.get("after")
        if _parameter_lowered(RETENTION_PARAMETER, c):
            found.append(Finding(DATA_LOSS, "retention-shortened", stack, name, f"{name} {old} -> {new}: "
                                 "what is older than the new limit is deleted"))
        if PROTECTION_PARAMETER.search(name) and old == "true" and new == "false":
            found.append(Finding(DATA_LOSS, "protection-off", stack, name, f"{name} {old} -> {new}"))
        if BOUNDARY_PARAMETER.search(name) and old is not None and old != new:
            found.append(Finding(ACCESS, "iam", stack, name, f"permissions boundary {old or '(none)'} -> "
                                 f"{new or '(none)'}"))
        if _parameter_lowered(CAPACITY_PARAMETER, c):
            found.append(Finding(AVAILABILITY, "capacity-lowered", stack, name, f"{name} {old} -> {new}"))
    return found


def change_findings(stack: str, change_type: str, changes: Iterable[dict]) -> list[Finding]:
    if change_type != "UPDATE":  # a first create or an import: see the module's docstring
        return []
    return [Finding(risk, name, stack, c["logical_id"], reason)
            for c in changes for risk, name, _, rule in CHANGE_RULES if (reason := rule(c))]


def cost_finding(before: float, after: float, threshold: float) -> list[Finding]:
    if after - before > threshold:
        return [Finding(COST, "cost-rise", "*", "monthly estimate",
                        f"the monthly estimate rises by ${after - before:,.2f} (${before:,.2f} -> ${after:,.2f}), "
                        f"more than the ${threshold:,.2f} threshold")]
    return []


def classes(findings: Iterable[Finding]) -> list[str]:
    present = {f.risk for f in findings}
    return [c for c in CLASSES if c in present]


def validate_accepted(names: Iterable[str]) -> tuple[str, ...]:
    for name in names:
        if name not in CLASSES:
            raise BadInput(f"--accept {name!r} is not a risk class; allowed: {', '.join(CLASSES)}")
    return tuple(dict.fromkeys(names))
