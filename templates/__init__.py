"""CloudFormation templates of ia-comafi, one module per stack.

``STACKS`` is the stack graph: each stack, in dependency order, with the
stacks whose exports it imports. Deploy order, concurrency and the graph test
all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from troposphere import Template


@dataclass(frozen=True)
class Stack:
    key: str
    depends_on: tuple[str, ...]
    build: Callable[[], Template]
    # Optional stacks (CI access) are deployed only when named with --stacks.
    optional: bool = False


def _stacks() -> tuple[Stack, ...]:
    from templates import compute, data, github_oidc, network, waf

    return (
        Stack("network", (), network.build),
        Stack("data", (), data.build),
        Stack("compute", ("network", "data"), compute.build),
        Stack("waf", ("compute",), waf.build),
        Stack("github-oidc", (), github_oidc.build, optional=True),
    )


STACKS: tuple[Stack, ...] = _stacks()
BY_KEY = {s.key: s for s in STACKS}


def render(template: Template) -> str:
    """The template as YAML; same template, same bytes."""
    return template.to_yaml()


def build_all() -> dict[str, Template]:
    """Stack key -> its template, in graph order."""
    return {s.key: s.build() for s in STACKS}


def load_yaml(text: str) -> dict:
    """Parse CloudFormation YAML (short-form intrinsics become Fn:: mappings)."""
    from cfnlint.decode.cfn_yaml import loads

    return loads(text)


