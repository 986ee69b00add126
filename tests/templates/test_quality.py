"""Gates every template passes: cfn-lint, checkov, golden files, determinism,
and the stack graph matching the templates' real imports."""

import json
import subprocess

import pytest

import templates
from templates.lint import lint_templates
from tests.tools import ROOT, require_tool

GOLDEN = ROOT / "tests" / "golden"


def test_cfn_lint_finds_nothing(bodies):
    findings = lint_templates(bodies, region="us-east-1")
    assert {stack: [str(f) for f in found] for stack, found in findings.items() if found} == {}


def test_cfn_lint_finding_is_reported():
    broken = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: nine\n"
    (finding,) = lint_templates({"broken": broken}, region="us-east-1")["broken"]
    assert finding.stack == "broken" and finding.rule.startswith("E") and finding.line == 5


def test_lint_cache_serves_only_the_same_bytes(tmp_path):
    cache = tmp_path / ".lint-cache.json"
    clean = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
    broken = clean + "    Properties:\n      DelaySeconds: nine\n"
    assert lint_templates({"q": clean}, "us-east-1", cache=cache) == {"q": []}
    (finding,) = lint_templates({"q": broken}, "us-east-1", cache=cache)["q"]  # changed bytes: linted again
    # What the cache holds is what a later run reports, without linting: plant a finding to see it served.
    entries = json.loads(cache.read_text())
    (key,) = entries
    entries[key] = [{"stack": "q", "line": 1, "rule": "E0000", "message": "from the cache"}]
    cache.write_text(json.dumps(entries))
    assert [f.message for f in lint_templates({"q": broken}, "us-east-1", cache=cache)["q"]] == ["from the cache"]
    # Another region is another lint.
    assert lint_templates({"q": broken}, "eu-west-1", cache=cache)["q"] == [finding]
    cache.write_text("{not json")
    assert lint_templates({"q": broken}, "us-east-1", cache=cache)["q"] == [finding]


@pytest.fixture(scope="session")
def checkov_report(bodies, tmp_path_factory) -> dict:
    checkov = require_tool("checkov")
    folder = tmp_path_factory.mktemp("checkov")
    for stack, body in bodies.items():
        (folder / f"{stack}.yaml").write_text(body)
    run = subprocess.run(
        [checkov, "-d", str(folder), "--framework", "cloudformation", "-o", "json",
         "--skip-download"],
        capture_output=True, text=True, timeout=300,
    )
    report = json.loads(run.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_fails_nothing(checkov_report):
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert failed == []
    assert checkov_report["summary"]["parsing_errors"] == 0
    # An unparsed or unscanned template would pass vacuously.
    scanned = {c["file_path"].strip("/").removesuffix(".yaml") for c in checkov_report["results"]["passed_checks"]}
    assert scanned == {s.key for s in templates.STACKS}


def test_every_checkov_exception_says_why(docs):
    skipped = [
        (stack, name, skip)
        for stack, doc in docs.items()
        for name, resource in doc["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skipped, "expected the deliberate exceptions to be declared"
    for stack, name, skip in skipped:
        assert skip["id"].startswith(("CKV_", "CKV2_")), (stack, name, skip)
        assert len(skip.get("comment", "")) > 20, f"{stack}/{name} skips {skip['id']} without a reason"


def test_checkov_honours_the_declared_exceptions(checkov_report, docs):
    declared = {
        (name, skip["id"])
        for doc in docs.values()
        for name, resource in doc["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    reported = {(c["resource"].split(".")[-1], c["check_id"]) for c in checkov_report["results"]["skipped_checks"]}
    # A skip checkov never reports is dead weight: the check no longer applies.
    assert declared - reported == set()


def test_same_input_same_bytes(bodies):
    again = {key: templates.render(t) for key, t in templates.build_all().items()}
    assert again == bodies


def test_golden_templates(bodies, update_golden):
    """The reviewed YAML of every stack. After an intended change: pytest --update-golden, review the diff."""
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        for stack, body in bodies.items():
            (GOLDEN / f"{stack}.yaml").write_text(body)
    stale = [stack for stack, body in bodies.items()
             if not (GOLDEN / f"{stack}.yaml").exists() or (GOLDEN / f"{stack}.yaml").read_text() != body]
    assert stale == [], f"templates differ from tests/golden for {stale}; run pytest --update-golden and review"
    orphans = {p.stem for p in GOLDEN.glob("*.yaml")} - set(bodies)
    assert orphans == set()


def _imports(node) -> set[str]:
    """Every Fn::ImportValue's export name (the text after "${ProjectName}-")."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::ImportValue":
                found.add(value["Fn::Sub"].split("}-", 1)[1])
            else:
                found |= _imports(value)
    elif isinstance(node, list):
        for item in node:
            found |= _imports(item)
    return found


def test_stack_graph_equals_real_imports(docs):
    exporter = {
        name: stack
        for stack, doc in docs.items()
        for name, output in doc.get("Outputs", {}).items()
        if "Export" in output
    }
    for stack in templates.STACKS:
        imported = _imports(docs[stack.key]["Resources"]) | _imports(docs[stack.key].get("Outputs", {}))
        missing = imported - exporter.keys()
        assert missing == set(), f"{stack.key} imports exports nobody makes: {missing}"
        assert {exporter[name] for name in imported} == set(stack.depends_on), stack.key


def test_graph_is_ordered_and_acyclic():
    seen = set()
    for stack in templates.STACKS:
        assert set(stack.depends_on) <= seen, f"{stack.key} comes before its dependencies"
        seen.add(stack.key)


def test_exports_are_named_after_the_project(docs):
    for doc in docs.values():
        for name, output in doc.get("Outputs", {}).items():
            if "Export" in output:
                assert output["Export"]["Name"] == {"Fn::Sub": "${ProjectName}-" + name}
