"""The "How to add" checklists of docs/design.md, held to the code: each test fails naming the step that was
missed when a stack, a verb, an environment or an alarm is added, and the docs' relative links resolve."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import contract
import deployer.verbs
import templates
from deployer import cli
from deployer.verbs.verb import Verb
from templates import params
from testkit.tools import ROOT

CHECKLIST = "docs/design.md, How to add"
ENVIRONMENTS = sorted(p.stem for p in params.PARAMS_DIR.glob("*.yaml"))
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# ---- a stack ----

@pytest.mark.parametrize("spec", contract.STACKS, ids=lambda s: s.key)
def test_every_stack_of_the_contract_has_a_template_module_that_builds_it(spec):
    path = f"templates/{spec.module}.py"
    try:
        module = importlib.import_module(f"templates.{spec.module}")
    except ModuleNotFoundError:
        pytest.fail(f"contract.STACKS names stack {spec.key!r} built by {path}, which does not exist: "
                    f"add it with a build() ({CHECKLIST} a stack, step 2)")
    assert callable(getattr(module, "build", None)), (
        f"{path} has no build() for stack {spec.key!r} ({CHECKLIST} a stack, step 2)")


def test_every_template_module_with_a_build_is_a_stack_of_the_contract():
    named = {spec.module for spec in contract.STACKS}
    building = {info.name for info in pkgutil.iter_modules([str(ROOT / "templates")])
                if re.search(r"^def build\(\)", (ROOT / "templates" / f"{info.name}.py").read_text(), flags=re.M)}
    unnamed = sorted(building - named)
    assert not unnamed, (f"templates/{unnamed[0]}.py builds a stack contract.STACKS does not name: add its "
                         f"StackSpec ({CHECKLIST} a stack, step 1)")


# ---- a verb ----

def _verbs_defined_in(module) -> list[Verb]:
    return [value for value in vars(module).values() if isinstance(value, Verb)]


@pytest.mark.parametrize("name", [info.name for info in pkgutil.iter_modules(deployer.verbs.__path__)])
def test_every_verb_of_deployer_verbs_is_in_the_cli_table(name):
    module = importlib.import_module(f"deployer.verbs.{name}")
    for verb in _verbs_defined_in(module):
        assert cli.VERBS.get(verb.name) is verb, (
            f"deployer/verbs/{name}.py defines the verb {verb.name!r}, which deployer/cli.py's VERBS does not "
            f"list: add it there ({CHECKLIST} a verb, step 2)")


# ---- an environment ----

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_params_file_loads_and_tags_its_own_environment(env):
    try:
        values = params.load_params(env)
    except params.ParamError as exc:
        pytest.fail(f"{exc} ({CHECKLIST} an environment, step 1)")
    assert values["environment"] == env, (
        f"params/{env}.yaml says environment: {values['environment']}, so its stacks would be tagged as that "
        f"environment: write environment: {env} or leave the key out ({CHECKLIST} an environment, step 1)")


def test_no_two_environments_share_their_stacks():
    """Every stack, export and resource name starts with project_name: two environments in one region with
    the same project_name would deploy over each other."""
    seen: dict[tuple[str, str], str] = {}
    for env in ENVIRONMENTS:
        values = params.load_params(env)
        where = (values["project_name"], values["region"])
        assert where not in seen, (
            f"params/{env}.yaml and params/{seen[where]}.yaml both deploy project_name={where[0]!r} in "
            f"{where[1]}: give {env} its own project_name ({CHECKLIST} an environment, step 1)")
        seen[where] = env


# ---- an alarm ----

def test_every_alarm_is_in_the_runbooks_what_watches_table():
    rendered = {key: json.loads(t.to_json()) for key, t in templates.build_all().items()}
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    table = runbook.split("**What watches**", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"`([a-z0-9-]+)`", "\n".join(row.split("|")[1] for row in table.splitlines()[2:])))
    prefix = "${" + contract.PROJECT_PARAMETER + "}-"
    for stack, template in rendered.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                name = resource["Properties"]["AlarmName"]["Fn::Sub"].removeprefix(prefix)
                assert name in listed, (f"{stack}'s alarm {logical_id} ({{project}}-{name}) is not in "
                                        f"docs/runbook.md's What watches table "
                                        f"({CHECKLIST} an alarm, step 5)")


# ---- the docs ----

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lowercased, punctuation but hyphens and underscores dropped, spaces to
    hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", page.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.relative_to(ROOT)} links to {target}: no such heading"
