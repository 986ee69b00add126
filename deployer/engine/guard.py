"""Export-in-use guard.

CloudFormation refuses to delete, rename or change the value of an export that
another stack imports, but only once the update is under way: it fails mid-update
and rolls the whole stack back. We know enough before executing to refuse it
up front, naming the importing stack and the export:

- an export the stack has now and the new template does not declare (removed or renamed);
- an export whose value comes from a resource the change set replaces or removes
  (its id, ARN... will change).
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from deployer.engine.changesets import ChangeSet
from deployer.errors import DeployError

_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")  # ${Name} or ${Resource.Attr} in Fn::Sub; ${!Literal} is not one


def resolve(value, parameters: dict[str, str], pseudo: dict[str, str]) -> str | None:
    """A plain string for an export Name built from literals, Ref and Fn::Sub/Join; None if it needs a resource."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (fn, arg), = value.items()
    known = {**parameters, **pseudo}
    if fn == "Ref":
        return known.get(arg)
    if fn == "Fn::Sub":
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        env = dict(known)
        for k, v in local.items():
            env[k] = resolve(v, parameters, pseudo)
        names = _SUB_VAR.findall(text)
        if any(env.get(n) is None for n in names):
            return None
        return _SUB_VAR.sub(lambda m: env[m.group(1)], text)
    if fn == "Fn::Join":
        sep, parts = arg
        resolved = [resolve(p, parameters, pseudo) for p in parts]
        return None if any(r is None for r in resolved) else sep.join(resolved)
    return None


def references_and_conditions(value) -> tuple[set[str], set[str]]:
    """(logical ids and parameters named by Ref / Fn::GetAtt / ${X} in Fn::Sub, conditions named by
    Fn::If / Condition) anywhere in ``value``. Fn::Sub's own local variables are not references."""
    names: set[str] = set()
    conditions: set[str] = set()

    def walk(v) -> None:
        if isinstance(v, list):
            for item in v:
                walk(item)
            return
        if not isinstance(v, dict):
            return
        for fn, arg in v.items():
            if fn == "Ref" and isinstance(arg, str):
                names.add(arg)
            elif fn == "Fn::GetAtt":
                names.add(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
            elif fn == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                names.update(n.split(".")[0] for n in _SUB_VAR.findall(text) if n not in local)
                walk(local)
            elif fn == "Fn::If" and isinstance(arg, list) and arg:
                conditions.add(arg[0])
                walk(arg[1:])
            elif fn == "Condition" and isinstance(arg, str):
                conditions.add(arg)
            else:
                walk(arg)

    walk(value)
    return names, conditions


def references(value) -> set[str]:
    """Logical ids (and parameters) an output value is computed from."""
    return references_and_conditions(value)[0]


def declared_exports(template: dict, parameters: dict[str, str], pseudo: dict[str, str]) -> dict[str | None, set[str]]:
    """Export name (None if unresolvable) -> logical ids its value depends on."""
    exports: dict[str | None, set[str]] = {}
    for output in (template.get("Outputs") or {}).values():
        if "Export" not in output:
            continue
        name = resolve(output["Export"].get("Name"), parameters, pseudo)
        exports.setdefault(name, set()).update(references(output.get("Value")))
    return exports


def at_risk(current: set[str], template: dict, parameters: dict, pseudo: dict, change_set: ChangeSet) -> dict[str, str]:
    """Export name -> why this change set would break it, among the stack's ``current`` exports."""
    new = declared_exports(template, parameters, pseudo)
    gone_ids = {c.logical_id: c for c in change_set.changes if c.action == "Remove" or c.replacement == "True"}
    risky: dict[str, str] = {}
    if None not in new:  # only when every new export name is known can "not declared" mean "removed"
        for name in sorted(current - set(new)):
            risky[name] = "removed or renamed by this change"
    for name, refs in new.items():
        if name in current:
            for logical_id in sorted(refs & set(gone_ids)):
                verb = "removed" if gone_ids[logical_id].action == "Remove" else "replaced"
                risky[name] = f"its value changes: {logical_id} is {verb}"
    return risky


def importers(cfn, export: str) -> list[str]:
    names: list[str] = []
    kwargs = {"ExportName": export}
    while True:
        try:
            page = cfn.list_imports(**kwargs)
        except ClientError as exc:
            # AWS: ValidationError "Export 'x' is not imported by any stack."
            if "is not imported" in exc.response.get("Error", {}).get("Message", ""):
                return names
            raise
        names += page.get("Imports", [])
        if not page.get("NextToken"):
            return names
        kwargs["NextToken"] = page["NextToken"]


def exports_of(cfn, stack_id: str) -> set[str]:
    names: set[str] = set()
    kwargs: dict = {}
    while True:
        page = cfn.list_exports(**kwargs)
        names |= {e["Name"] for e in page.get("Exports", []) if e.get("ExportingStackId") == stack_id}
        if not page.get("NextToken"):
            return names
        kwargs["NextToken"] = page["NextToken"]


def check(cfn, stack_name: str, stack_id: str, template: dict, parameters: dict, pseudo: dict,
          change_set: ChangeSet) -> None:
    """Raise DeployError if executing ``change_set`` would break an export another stack imports."""
    current = exports_of(cfn, stack_id)
    if not current:
        return
    problems = []
    for export, why in at_risk(current, template, parameters, pseudo, change_set).items():
        users = importers(cfn, export)
        if users:
            problems.append(f"export {export} is imported by {', '.join(users)} and {why}")
    if problems:
        raise DeployError(
            f"refusing to change {stack_name}: " + "; ".join(problems)
            + ". Change the importing stack(s) first so that they stop importing it, deploy them, then this one."
        )
