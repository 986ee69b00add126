"""The plan file: what an approver reviews and what ``apply`` executes, nothing more and nothing else.

One JSON document: the environment, account and region it was made for and when; per changing stack, the
change set (id, name, type), the stack's state it was made against (status, last update, template digest,
parameters), every change with its before/after values, replacement and policy action, the parameter changes,
what CloudFormation's validation warned about, and a digest of that stack's described changes; at the top the
risk classes (risk.py) and the monthly cost delta; and a digest over all of it. ``apply`` refuses the plan when
any of it no longer holds (``refusals`` before AWS, ``live_refusals`` against it).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deployer.engine import changesets, stacks
from deployer.engine.report import markdown_table
from deployer.errors import BadInput

FORMAT = 1
DEFAULT_MAX_AGE = timedelta(hours=24)
# A change set apply may execute: computed, and nobody executed or invalidated it.
EXECUTABLE = ("CREATE_COMPLETE", "AVAILABLE")


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def sha256(value) -> str:
    return hashlib.sha256(_canonical(value)).hexdigest()


# ---- the pieces ----

def change_record(item: dict) -> dict:
    """One DescribeChangeSet Changes[] item (IncludePropertyValues) as the plan keeps it."""
    rc = item.get("ResourceChange", {})
    details = []
    for d in rc.get("Details", []):
        target = d.get("Target", {})
        details.append({"attribute": target.get("Attribute", ""), "name": target.get("Name", ""),
                        "path": target.get("Path", ""), "requires_recreation": target.get("RequiresRecreation", ""),
                        "change_type": target.get("AttributeChangeType", ""),
                        "before": target.get("BeforeValue"), "after": target.get("AfterValue"),
                        "cause": d.get("ChangeSource", "")})
    return {"action": rc.get("Action", ""), "logical_id": rc.get("LogicalResourceId", ""),
            "physical_id": rc.get("PhysicalResourceId", "") or "", "type": rc.get("ResourceType", ""),
            "replacement": rc.get("Replacement", "") if rc.get("Action") == "Modify" else "",
            "policy_action": rc.get("PolicyAction", ""), "details": details,
            "before_context": rc.get("BeforeContext", ""), "after_context": rc.get("AfterContext", "")}


def stack_state(cfn, name: str) -> dict | None:
    """What the stack is now (None: it does not exist): a plan holds it, apply compares it."""
    deployed = stacks.describe(cfn, name)
    if deployed is None:
        return None
    body = stacks.deployed_body(cfn, name) if deployed.status != "REVIEW_IN_PROGRESS" else ""
    return {"stack_id": deployed.stack_id, "status": deployed.status, "last_updated": deployed.updated,
            "template_digest": stacks.template_hash(body) if body else "", "parameters": deployed.parameters}


def parameter_changes(before: dict | None, after: dict[str, str]) -> list[dict]:
    old = (before or {}).get("parameters", {}) if before else {}
    return [{"name": k, "before": old.get(k), "after": v} for k, v in sorted(after.items()) if old.get(k) != v]


def stack_record(key: str, name: str, depends_on: list[str], state: dict | None, parameters: dict[str, str],
                 cs: changesets.ChangeSet, warnings: list[dict], allow_replace: list[str]) -> dict:
    changes = [change_record(item) for item in cs.described]
    return {"key": key, "name": name, "depends_on": depends_on, "state": state, "parameters": parameters,
            "parameter_changes": parameter_changes(state, parameters),
            "change_set": {"id": cs.id, "name": cs.name, "type": cs.type, "stack_id": cs.stack_id},
            "changes": changes, "changes_digest": sha256(changes), "validation": warnings,
            "allow_replace": sorted(allow_replace)}


def document(*, environment: str, project: str, account: str, region: str, caller: str, created: datetime,
             stacks_: list[dict], findings: list[dict], classes: list[str], cost: dict, image: dict,
             promoted_from: dict | None = None) -> dict:
    """``promoted_from``: the release of the promotion source that proves the plan's image (None: the image is
    unchanged, or the environment has no source); inside the digest, so apply checks the release it names."""
    doc = {"format": FORMAT, "environment": environment, "project": project, "account": account, "region": region,
           "created": created.astimezone(UTC).isoformat(timespec="seconds"), "caller": caller,
           "risk_classes": classes, "risks": findings, "cost": cost, "image": image,
           "promoted_from": promoted_from, "stacks": stacks_}
    return {**doc, "digest": sha256(doc)}


# ---- the file ----

def write(doc: dict, path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def load(path: str) -> dict:
    """The plan in ``path``; BadInput (one line) when it is unreadable, of another format, or altered."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise BadInput(f"plan file {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise BadInput(f"plan file {path} is not JSON; allowed: a file written by `deploy.py ENV plan --out`"
                       ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BadInput(f"plan file {path} is not a plan of format {FORMAT}; make a new one with `deploy.py ENV "
                       "plan --out FILE`")
    body = {k: v for k, v in doc.items() if k != "digest"}
    if doc.get("digest") != sha256(body):
        raise BadInput(f"plan file {path} was altered after it was made (its digest does not match its content); "
                       "apply only the file the plan wrote")
    return doc


# ---- what apply checks ----

def refusals(doc: dict, *, environment: str, account: str, region: str, accepted: tuple[str, ...],
             now: datetime, max_age: timedelta) -> list[str]:
    """Why this plan may not be applied here and now, found before any change is made (empty: it may)."""
    found = []
    if doc["environment"] != environment:
        found.append(f"the plan is for environment {doc['environment']}, not {environment}")
    if (doc["account"], doc["region"]) != (account, region):
        found.append(f"the plan was made in account {doc['account']} region {doc['region']}; these credentials "
                     f"are account {account} region {region}")
    age = now - datetime.fromisoformat(doc["created"])
    if age > max_age:
        found.append(f"the plan is {_hours(age)} old (made {doc['created']}); the limit is {_hours(max_age)} "
                     "(--max-age): plan again")
    missing = [c for c in doc["risk_classes"] if c not in accepted]
    if missing:
        found.append("the plan has risk class(es) nobody accepted: "
                     + ", ".join(missing) + "; apply with " + " ".join(f"--accept {c}" for c in missing)
                     + " once an approver has read them")
    return found


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def live_refusals(cfn, doc: dict) -> list[str]:
    """Why the plan no longer matches AWS: a stack changed since (someone deployed in between), a change set is
    gone, was executed, or describes other changes than the plan's."""
    found = []
    for s in doc["stacks"]:
        now = stack_state(cfn, s["name"])
        planned = s["state"]
        if s["change_set"]["type"] == "CREATE" and planned is None:
            # Creating the change set made the (empty, REVIEW_IN_PROGRESS) stack: that is the state expected.
            if now is None or now["status"] != "REVIEW_IN_PROGRESS":
                found.append(f"{s['name']}: expected the empty stack its CREATE change set made, found "
                             f"{now['status'] if now else 'no stack'}")
        elif _comparable(now) != _comparable(planned):
            found.append(f"{s['name']}: the stack changed since the plan ({_difference(planned, now)}); someone "
                         "deployed in between: plan again")
        found += _change_set_refusals(cfn, s)
    return found


def _comparable(state: dict | None) -> dict | None:
    return None if state is None else {k: state[k] for k in ("stack_id", "status", "last_updated",
                                                              "template_digest", "parameters")}


def _difference(planned: dict | None, now: dict | None) -> str:
    if planned is None or now is None:
        was, is_ = (state["status"] if state else "no stack" for state in (planned, now))
        return f"{was} -> {is_}"
    return "; ".join(f"{k}: {planned[k]} -> {now[k]}" if k != "parameters" else "parameters differ"
                     for k in ("status", "last_updated", "template_digest", "parameters") if planned[k] != now[k])


def _change_set_refusals(cfn, s: dict) -> list[str]:
    cs = s["change_set"]
    try:
        first = cfn.describe_change_set(ChangeSetName=cs["id"])
    except cfn.exceptions.ChangeSetNotFoundException:
        return [f"{s['name']}: change set {cs['name']} no longer exists: plan again"]
    status = (first.get("Status"), first.get("ExecutionStatus"))
    if status != EXECUTABLE:
        return [f"{s['name']}: change set {cs['name']} is {status[0]}/{status[1]}, not executable: plan again"]
    described = changesets.describe(cfn, changesets.ChangeSet(cs["id"], cs["name"], cs["stack_id"], cs["type"]))
    if sha256([change_record(item) for item in described.described]) != s["changes_digest"]:
        return [f"{s['name']}: change set {cs['name']} no longer describes the plan's changes: plan again"]
    return []


# ---- what a reviewer reads (job summary, pull request comment) ----

def _short(value, limit: int = 60) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def markdown(doc: dict) -> str:
    cost = doc["cost"]
    lines = [f"## Plan for {doc['environment']} ({doc['account']}, {doc['region']})", "",
             f"Made {doc['created']} by `{doc['caller']}`; digest `{doc['digest'][:16]}`.", "",
             "**Risk classes: " + (", ".join(doc["risk_classes"]) or "none") + "**"
             + (" (apply needs " + " ".join(f"`--accept {c}`" for c in doc["risk_classes"]) + ")"
                if doc["risk_classes"] else ""), ""]
    if doc["risks"]:
        lines += [markdown_table(["Class", "Rule", "Stack", "What", "Why"],
                                 [[r["class"], r["rule"], r["stack"], r["subject"], _short(r["reason"], 120)]
                                  for r in doc["risks"]]), ""]
    promoted = doc.get("promoted_from")
    if promoted:
        lines += [f"Image `{promoted['digest']}` promoted from {promoted['environment']} release "
                  f"`{promoted['key']}` (s3://{promoted['bucket']}).", ""]
    lines += [f"Monthly cost estimate: ${cost['before']:,.2f} -> ${cost['after']:,.2f} "
              f"({cost['after'] - cost['before']:+,.2f}; the cost class starts above +${cost['threshold']:,.2f}).",
              ""]
    if not doc["stacks"]:
        lines.append("_Nothing changes._")
    for s in doc["stacks"]:
        cs = s["change_set"]
        lines += [f"### {s['name']}: {cs['type']} change set `{cs['name']}`", ""]
        if s["changes"]:
            lines.append(markdown_table(
                ["Action", "Logical id", "Type", "Replacement", "Policy action"],
                [[c["action"], c["logical_id"], c["type"], c["replacement"], c["policy_action"]]
                 for c in s["changes"]]))
            values = [[c["logical_id"], d["path"] or d["name"], _short(d["before"]), _short(d["after"])]
                      for c in s["changes"] for d in c["details"] if d["before"] is not None or d["after"] is not None]
            if values:
                lines += ["", markdown_table(["Logical id", "Property", "Before", "After"], values)]
        if s["parameter_changes"]:
            lines += ["", markdown_table(["Parameter", "Before", "After"],
                                         [[p["name"], _short(p["before"] if p["before"] is not None else "(new)"),
                                           _short(p["after"])] for p in s["parameter_changes"]])]
        for w in s["validation"]:
            lines.append(f"- CloudFormation {w['severity']}: {_short(w['text'], 300)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
