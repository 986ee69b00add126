"""CloudFormation templates of ia-comafi, one module per stack.

``STACKS`` is the stack graph of ``contract.STACKS`` with a way to build each
template; a stack's module (and troposphere) is imported only when it is built.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import contract


@dataclass(frozen=True)
class Stack:
    key: str
    depends_on: tuple[str, ...]
    build: Callable  # () -> troposphere.Template
    # Optional stacks (CI access) are deployed only when named with --stacks.
    optional: bool = False


def _builder(module: str) -> Callable:
    """The stack module's build(), imported on first call: importing this package loads no troposphere. Every
    stack's template records its digest (templates/digest.py), here so that no stack can miss it."""

    def build():
        from templates import digest

        return digest.record(importlib.import_module(f"templates.{module}").build())

    build.__qualname__ = f"templates.{module}.build"
    return build


STACKS: tuple[Stack, ...] = tuple(Stack(s.key, s.depends_on, _builder(s.module), s.optional) for s in contract.STACKS)
BY_KEY = {s.key: s for s in STACKS}


@cache
def _dumper():
    import yaml
    from cfn_flip import yaml_dumper as cfn_flip_dumper

    class YamlDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
        """libyaml's emitter with cfn-flip's short-form intrinsics (!Ref, !Sub, !GetAtt...).

        troposphere's own to_yaml goes JSON -> cfn-flip -> PyYAML's pure-Python
        emitter, which was half of generate.py's run time.
        """

    YamlDumper.add_representer(dict, cfn_flip_dumper.map_representer)
    YamlDumper.add_representer(str, cfn_flip_dumper.string_representer)
    return YamlDumper


def render(template) -> str:
    """The template (troposphere) as YAML, keys sorted as troposphere's JSON sorts them; same template, same
    bytes."""
    import yaml

    data = json.loads(template.to_json())  # troposphere's JSON: keys sorted, objects validated
    return yaml.dump(data, Dumper=_dumper(), default_flow_style=False, allow_unicode=True, width=120)


def build_all() -> dict:
    """Stack key -> its template, in graph order."""
    return {s.key: s.build() for s in STACKS}


def load_yaml(text: str) -> dict:
    """Parse CloudFormation YAML (short-form intrinsics become Fn:: mappings)."""
    from cfnlint.decode.cfn_yaml import loads

    return loads(text)


