"""CloudFormation templates of ia-comafi, one module per stack.

``STACKS`` is the stack graph: each stack, in dependency order, with the
stacks whose exports it imports. Deploy order, concurrency and the graph test
all read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import yaml
from cfn_flip import yaml_dumper as cfn_flip_dumper
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


class _YamlDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """libyaml's emitter with cfn-flip's short-form intrinsics (!Ref, !Sub, !GetAtt...).

    troposphere's own to_yaml goes JSON -> cfn-flip -> PyYAML's pure-Python
    emitter, which was half of generate.py's run time.
    """


_YamlDumper.add_representer(dict, cfn_flip_dumper.map_representer)
_YamlDumper.add_representer(str, cfn_flip_dumper.string_representer)


def render(template: Template) -> str:
    """The template as YAML, keys sorted as troposphere's JSON sorts them; same template, same bytes."""
    data = json.loads(template.to_json())  # troposphere's JSON: keys sorted, objects validated
    return yaml.dump(data, Dumper=_YamlDumper, default_flow_style=False, allow_unicode=True, width=120)


def build_all() -> dict[str, Template]:
    """Stack key -> its template, in graph order."""
    return {s.key: s.build() for s in STACKS}


def load_yaml(text: str) -> dict:
    """Parse CloudFormation YAML (short-form intrinsics become Fn:: mappings)."""
    from cfnlint.decode.cfn_yaml import loads

    return loads(text)


