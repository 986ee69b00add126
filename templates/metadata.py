"""Resource Metadata shared by the stacks."""


def checkov_skip(*checks: tuple[str, str]) -> dict:
    """Metadata declaring deliberate checkov exceptions, each (check id, reason).

    checkov reads ``Metadata.checkov.skip`` on CloudFormation resources; the
    reason travels with the resource so a reviewer sees it in the template.
    """
    return {"checkov": {"skip": [{"id": check, "comment": why} for check, why in checks]}}


def guard_suppress(*rules: str) -> dict:
    """Metadata suppressing AWS Guard rules registry rules (cfn-guard reads ``Metadata.guard.SuppressedRules``).

    Guard's metadata has no room for a reason: the resource's checkov skip for the same finding carries it.
    """
    return {"guard": {"SuppressedRules": list(rules)}}
