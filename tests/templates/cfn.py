"""Enough of CloudFormation's Conditions to ask "what does this template
create for these parameter values?" in a test."""


def _value(node, parameters: dict, conditions: dict):
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return parameters[arg]
        if fn == "Fn::Equals":
            return str(_value(arg[0], parameters, conditions)) == str(_value(arg[1], parameters, conditions))
        if fn == "Fn::Not":
            return not _value(arg[0], parameters, conditions)
        if fn == "Fn::And":
            return all(_value(a, parameters, conditions) for a in arg)
        if fn == "Fn::Or":
            return any(_value(a, parameters, conditions) for a in arg)
        if fn == "Condition":
            return conditions[arg]
    return node


def evaluate(node, parameters: dict, conditions: dict | None = None):
    """A condition's (or a rule's) expression for these parameter values: Ref, Fn::Equals/Not/And/Or."""
    return _value(node, parameters, conditions or {})


# Pseudo parameters a condition may read, unless ``parameters`` says otherwise.
PSEUDO = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}


def conditions(doc: dict, parameters: dict) -> dict[str, bool]:
    """Condition name -> its value, for ``parameters`` (CFN parameter name -> value)."""
    values = {**PSEUDO, **{name: spec.get("Default") for name, spec in doc.get("Parameters", {}).items()}}
    values.update(parameters)
    result: dict[str, bool] = {}
    pending = dict(doc.get("Conditions", {}))
    while pending:
        progressed = False
        for name, expr in list(pending.items()):
            try:
                result[name] = bool(_value(expr, values, result))
            except KeyError:
                continue
            del pending[name]
            progressed = True
        if not progressed:
            raise KeyError(f"conditions {sorted(pending)} read a value nobody gives")
    return result


def resolve(node, active: dict[str, bool]):
    """``node`` with every Fn::If chosen and AWS::NoValue dropped."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolve(yes if active[name] else no, active)
        out = {}
        for key, value in node.items():
            value = resolve(value, active)
            if value != {"Ref": "AWS::NoValue"}:
                out[key] = value
        return out
    if isinstance(node, list):
        # Resolved first: an Fn::If item may choose AWS::NoValue, which drops the item.
        items = [resolve(item, active) for item in node]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    return node


def created(doc: dict, parameters: dict) -> dict[str, dict]:
    """Logical id -> resource, for the resources these parameter values create, Fn::If resolved."""
    return select(doc["Resources"], conditions(doc, parameters))


def select(resources: dict, active: dict[str, bool]) -> dict[str, dict]:
    """The resources that exist when the Conditions have the values ``active`` gives, Fn::If resolved."""
    return {
        name: resolve(resource, active)
        for name, resource in resources.items()
        if "Condition" not in resource or active[resource["Condition"]]
    }


def outputs(doc: dict, parameters: dict) -> dict[str, object]:
    active = conditions(doc, parameters)
    return {
        name: resolve(out["Value"], active)
        for name, out in doc.get("Outputs", {}).items()
        if active.get(out.get("Condition"), True)
    }


def of_type(resources: dict, type_: str) -> dict[str, dict]:
    return {name: r for name, r in resources.items() if r["Type"] == type_}


def walk(node):
    """Every node of a template, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)
