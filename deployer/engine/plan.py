"""What to deploy: the selected stacks in graph order, each with its rendered
template, parameter values and tags. Built entirely in memory and checked
before any AWS call, so bad input costs nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

import contract
import templates
from deployer.errors import BadInput
from templates.params import Params, cfn_parameter_values

# CloudFormation's limits: a TemplateBody up to 51,200 bytes, a template in S3 up to 1 MB.
MAX_BODY_BYTES = 51_200
MAX_S3_TEMPLATE_BYTES = 1_000_000

# Template parameters without a default that the run fills in once it knows them (the image's digest, resolved
# from ECR): a plan carries them only from then on, and CloudFormation refuses a change set without them.
FILLED_BY_RUN = (contract.IMAGE_DIGEST_PARAMETER,)

# Environments whose stacks get termination protection.
PROTECTED_ENVIRONMENTS = ("prod",)


@dataclass(frozen=True)
class StackPlan:
    key: str  # "network"
    name: str  # "ia-comafi-network"
    depends_on: tuple[str, ...]  # keys of selected stacks that must finish first
    level: int  # 0 = imports nothing; n = 1 + the highest level it imports from
    body: str  # the template YAML
    parameters: dict[str, str]  # ParameterKey -> ParameterValue
    tags: dict[str, str]
    termination_protection: bool
    template: dict = field(repr=False, compare=False, default_factory=dict)  # parsed body (outputs, for the guard)


def levels(graph: Sequence[templates.Stack]) -> dict[str, int]:
    """Graph level of every stack: stacks on one level never import from each other."""
    by_key = {s.key: s for s in graph}
    level: dict[str, int] = {}

    def visit(key: str, path: tuple[str, ...] = ()) -> int:
        if key in path:
            raise ValueError(f"stack graph has a cycle: {' -> '.join(path + (key,))}")
        if key not in level:
            deps = by_key[key].depends_on
            level[key] = 1 + max((visit(d, path + (key,)) for d in deps), default=-1)
        return level[key]

    for s in graph:
        visit(s.key)
    return level


def select(graph: Sequence[templates.Stack], names: str | None) -> list[templates.Stack]:
    """The stacks ``--stacks a,b`` names (all non-optional ones without it), in graph order.

    Only the named stacks are touched; a stack they depend on but that is not
    named is assumed deployed (CloudFormation refuses an import of a missing
    export, so that mistake cannot go unnoticed).
    """
    if names is None:
        return [s for s in graph if not s.optional]
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    allowed = ", ".join(s.key + (" (optional)" if s.optional else "") for s in graph)
    if not wanted:
        raise BadInput(f"--stacks is empty; allowed: {allowed}")
    known = {s.key for s in graph}
    for name in wanted:
        if name not in known:
            raise BadInput(f"--stacks: unknown stack {name!r}; allowed: {allowed}")
    return [s for s in graph if s.key in wanted]


def build(params: Params, selected: Sequence[templates.Stack], graph: Sequence[templates.Stack]) -> list[StackPlan]:
    """Render and check each selected stack, before AWS is touched. A template that does not fit is a
    bug in templates/, not bad input: it raises ValueError naming the stack."""
    level = levels(graph)
    keys = {s.key for s in selected}
    tags = contract.stack_tags(params.project, params["environment"])
    plans = []
    for stack in selected:
        body = templates.render(stack.build())
        parsed = parse_template(body)
        values = cfn_parameter_values(stack.key, params)
        if contract.TEMPLATE_DIGEST_PARAMETER in (parsed.get("Parameters") or {}):
            values[contract.TEMPLATE_DIGEST_PARAMETER] = template_digest(body)
        _check_template(stack.key, body, parsed, values)
        # A parameter the schema does not feed (the permissions boundary, which the run fills in once the CI
        # stack exists) is sent with its default: DescribeStacks lists it so, and "unchanged" compares both.
        for name, declared in (parsed.get("Parameters") or {}).items():
            if name not in FILLED_BY_RUN:
                values.setdefault(name, str(declared.get("Default", "")))
        plans.append(
            StackPlan(
                key=stack.key,
                name=contract.stack_name(params.project, stack.key),
                depends_on=tuple(d for d in stack.depends_on if d in keys),
                level=level[stack.key],
                body=body,
                parameters=values,
                tags=tags,
                termination_protection=params["environment"] in PROTECTED_ENVIRONMENTS,
                template=parsed,
            )
        )
    return plans


def template_digest(body: str) -> str:
    """What the stack records of the body it was sent (templates/digest.py): its SHA-256, hex."""
    return hashlib.sha256(body.encode()).hexdigest()


def declares(stack: StackPlan, parameter: str) -> bool:
    return parameter in (stack.template.get("Parameters") or {})


def with_parameter(plans: Sequence[StackPlan], parameter: str, value: str) -> list[StackPlan]:
    """``plans`` with ``parameter`` set to ``value`` in every plan whose template declares it."""
    return [dataclasses.replace(p, parameters={**p.parameters, parameter: value}) if declares(p, parameter) else p
            for p in plans]


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub...) read as their long form."""


def _short_form(loader, name: str, node):  # name: the tag after "!"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if name == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name if name in ("Ref", "Condition") else f"Fn::{name}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


def parse_template(body: str) -> dict:
    """The template as data. Our own small loader rather than cfn-lint's: importing cfn-lint costs a
    second, on every run, for a parse that only needs Parameters and Outputs."""
    return yaml.load(body, Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)


def _check_template(key: str, body: str, parsed: dict, values: dict[str, str]) -> None:
    size = len(body.encode())
    if size > MAX_S3_TEMPLATE_BYTES:
        raise ValueError(f"{key}: template is {size} bytes; CloudFormation accepts at most {MAX_S3_TEMPLATE_BYTES}")
    if not parsed.get("Resources"):
        raise ValueError(f"{key}: template has no Resources")
    declared = set(parsed.get("Parameters") or {})
    # A declared parameter without a default and without a value fails the change
    # set; a value for an undeclared one is rejected too. Both are template bugs.
    missing = sorted(k for k in declared - set(values) - set(FILLED_BY_RUN) if "Default" not in parsed["Parameters"][k])
    extra = sorted(set(values) - declared)
    if missing or extra:
        raise ValueError(f"{key}: template parameters do not match params.py (no value for {missing}, "
                         f"undeclared {extra})")
