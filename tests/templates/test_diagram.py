"""The architecture picture (templates/diagram.py, `generate.py --diagram`) is drawn from the templates and
kept current: the committed DOT and Mermaid sources must be what the templates produce now."""

from __future__ import annotations

import json
import re

import pytest

import contract
import generate
import templates
from templates import diagram
from tests.tools import ROOT, require_tool

DOT = ROOT / "docs" / "architecture.dot"
MMD = ROOT / "docs" / "architecture.mmd"
REGENERATE = "the templates changed: run `python generate.py --diagram` and commit docs/"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    return {key: json.loads(t.to_json()) for key, t in templates.build_all().items()}


def test_committed_dot_and_mermaid_match_the_templates(rendered):
    assert DOT.read_text() == diagram.dot(rendered), REGENERATE
    assert MMD.read_text() == diagram.mermaid(rendered), REGENERATE


def test_the_rendered_yaml_draws_the_same_graph(rendered, docs):
    """Drawn from the YAML CloudFormation reads (short-form intrinsics), the graph is the same."""
    assert diagram.dot(docs) == diagram.dot(rendered)


def test_the_design_page_embeds_the_mermaid_diagram():
    page = (ROOT / "docs" / "design.md").read_text()
    block = re.search(re.escape(generate.DIAGRAM_BEGIN) + r"\n```mermaid\n(.*?)```\n" + re.escape(generate.DIAGRAM_END),
                      page, flags=re.S)
    assert block, "docs/design.md has no ```mermaid diagram block"
    assert block.group(1) == MMD.read_text(), REGENERATE


def test_every_cross_stack_import_is_a_labelled_edge(rendered):
    graph = diagram.build_graph(rendered)
    labels = {edge.label for edge in graph.edges if not edge.request}
    imported = set()
    for template in rendered.values():
        imported |= diagram._imports(template.get("Resources", {}))
    assert imported and labels == imported
    exported = {name for key in contract.EXPORTS for name in contract.EXPORTS[key]}
    assert labels <= exported


def test_stacks_are_groups_of_their_main_resources_without_the_glue(rendered):
    graph = diagram.build_graph(rendered)
    clusters = dict(graph.clusters)
    assert list(clusters) == list(templates.BY_KEY)
    ids = {node.id for nodes in clusters.values() for node in nodes}
    assert "compute_Service" in ids and "network_Vpc" in ids and "waf_WebAcl" in ids
    for key, template in rendered.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in diagram.GLUE:
                assert diagram._node_id(key, logical_id) not in ids, logical_id


def test_the_request_path_runs_client_waf_alb_tasks_then_bedrock_redis_and_the_bucket(rendered):
    graph = diagram.build_graph(rendered)
    hops = {(e.source, e.target) for e in graph.edges if e.request}
    bucket = f"{contract.DATA}_{contract.UNHANDLED_BUCKET_RESOURCE}"
    assert hops == {
        ("client", "waf_WebAcl"), ("waf_WebAcl", "compute_LoadBalancer"), ("compute_LoadBalancer", "compute_Service"),
        ("compute_Service", "bedrock"), ("compute_Service", "redis"), ("compute_Service", bucket),
    }


def test_many_of_a_kind_become_one_node(rendered):
    extra = json.loads(json.dumps(rendered))
    already = sum(1 for r in extra["compute"]["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")
    for n in range(7):
        extra["compute"]["Resources"][f"Alarm{n}"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}
    labels = [node.label for node in dict(diagram.build_graph(extra).clusters)["compute"]]
    assert f"{already + 7} x CloudWatch::Alarm" in labels
    assert not any(label.startswith("Alarm0") for label in labels)


def test_generate_diagram_writes_dot_mermaid_svg_and_the_design_page_block(tmp_path, monkeypatch):
    require_tool("dot")
    page = tmp_path / "docs" / "design.md"
    page.parent.mkdir()
    page.write_text(f"# x\n\n{generate.DIAGRAM_BEGIN}\nold\n{generate.DIAGRAM_END}\nrest\n")
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    monkeypatch.setattr(generate, "DOCS", tmp_path / "docs")
    monkeypatch.setattr(generate, "DIAGRAM_PAGE", page)
    assert generate.main(["--diagram"]) == 0
    assert (tmp_path / "docs" / "architecture.dot").read_text() == DOT.read_text()
    assert (tmp_path / "docs" / "architecture.mmd").read_text() == MMD.read_text()
    assert "<svg" in (tmp_path / "docs" / "architecture.svg").read_text()
    text = page.read_text()
    assert "old" not in text and text.endswith("rest\n") and f"```mermaid\n{MMD.read_text()}```" in text

    # Without Graphviz: the sources are written, the SVG is not, and the error says what to install.
    (tmp_path / "docs" / "architecture.svg").unlink()
    monkeypatch.setattr(generate.shutil, "which", lambda _name: None)
    assert generate.main(["--diagram"]) == 1
    assert not (tmp_path / "docs" / "architecture.svg").exists()
