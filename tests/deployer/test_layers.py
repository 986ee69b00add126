"""The deployer's layers point one way: the import graph of deployer/, built from the code (every import
statement of every module, those inside functions too), has no cycle and no arrow that runs up.

    errors, aws  <  engine  <  output, progress  <  context  <  verbs  <  cli

and, inside a layer: a verb imports no other verb (only verbs/verb.py, what verbs share), and the engine
imports no terminal library. deployer/__init__.py's map names every module of the engine and the verbs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "deployer"

LAYERS = (
    ("errors", "aws"),
    ("engine",),
    ("output", "progress"),
    ("context",),
    ("verbs",),
    ("cli",),
)
TERMINAL_LIBRARIES = ("rich",)
SHARED_VERB_MODULE = "deployer.verbs.verb"


def modules(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package's __init__ under the package's name)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """What ``name`` imports: the modules of ``known`` it names, and the top-level name of anything else."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package, up level - 1
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join(here + ([base] if base else []))
            # "from deployer.engine import flow" imports the module deployer.engine.flow, not a name
            subs = {f"{base}.{alias.name}" for alias in node.names} & known
            found |= subs or {base}
    return {m if m in known else m.split(".")[0] for m in found if m}


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    found = modules(root, package)
    known = set(found)
    return {name: imports(path, name, known) for name, path in found.items()}


def layer(module: str, package: str = PACKAGE) -> int | None:
    """The layer of a module of the package; None for the package itself (its __init__ is a map, no code)."""
    parts = module.split(".")
    if parts == [package]:
        return None
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError(f"{module} is in no layer of tests/deployer/test_layers.py's LAYERS: put it in one")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle among the package's modules, as the path that closes it (depth-first)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def upward(graph: dict[str, set[str]], package: str = PACKAGE) -> list[str]:
    """Each import that runs up a layer, or from a verb into another verb, or from the engine to a terminal."""
    wrong = []
    for source, targets in sorted(graph.items()):
        here = layer(source, package)
        for target in sorted(targets):
            if target in TERMINAL_LIBRARIES and here == 1:
                wrong.append(f"{source} -> {target} (the engine imports no terminal)")
            if target not in graph or here is None:
                continue
            there = layer(target, package)
            if there is not None and there > here:
                wrong.append(f"{source} -> {target} (layer {here} imports layer {there})")
            if (source.startswith(f"{package}.verbs.") and target.startswith(f"{package}.verbs.")
                    and SHARED_VERB_MODULE.split(".", 1)[1] != target.split(".", 1)[1] and source != target):
                wrong.append(f"{source} -> {target} (a verb imports another verb: share it in verbs/verb.py "
                             "or the engine)")
    return wrong


# ---- the deployer as it is ----

GRAPH = import_graph()


def test_the_graph_is_read_from_the_code_and_sees_every_module():
    assert {"deployer.engine.flow", "deployer.verbs.deploy", "deployer.cli"} <= set(GRAPH)
    assert "deployer.progress" in GRAPH["deployer.output"]
    assert "rich" in GRAPH["deployer.progress"]  # imported inside functions only: an import all the same
    assert {"deployer.engine.flow", "deployer.engine.schedule"} <= GRAPH["deployer.verbs.deploy"]


def test_the_deployer_has_no_import_cycle():
    assert cycles(GRAPH) == []


def test_no_import_runs_up_a_layer_nor_from_a_verb_to_another():
    assert upward(GRAPH) == []


def test_the_package_map_names_every_module_of_the_engine_and_the_verbs():
    text = (ROOT / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    missing = [name for name in GRAPH
               if name.count(".") == 2 and name.split(".")[1] in ("engine", "verbs")
               and f"``{name.rsplit('.', 1)[1]}``" not in text]
    assert missing == [], f"deployer/__init__.py's map does not name {missing}"


# ---- the checks can fail ----

@pytest.fixture
def tree(tmp_path):
    def write(files: dict[str, str]) -> dict[str, set[str]]:
        for rel, body in files.items():
            path = tmp_path / "deployer" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        for package in ("", "engine", "verbs"):
            (tmp_path / "deployer" / package).mkdir(parents=True, exist_ok=True)
            (tmp_path / "deployer" / package / "__init__.py").touch()
        return import_graph(tmp_path)

    return write


def test_a_cycle_through_an_import_inside_a_function_is_found(tree):
    graph = tree({"output.py": "def f():\n    from deployer.progress import LiveView\n",
                  "progress.py": "from deployer.output import status_colour\n"})
    assert cycles(graph) == [["deployer.output", "deployer.progress", "deployer.output"]]


def test_an_engine_module_importing_the_terminal_or_the_printer_is_named(tree):
    graph = tree({"engine/schedule.py": "from deployer import progress\nimport rich.live\n",
                  "progress.py": "", "output.py": "from deployer.engine.report import table\n",
                  "engine/report.py": ""})
    assert upward(graph) == ["deployer.engine.schedule -> deployer.progress (layer 1 imports layer 2)",
                             "deployer.engine.schedule -> rich (the engine imports no terminal)"]
    assert cycles(graph) == []


def test_a_verb_importing_another_verb_is_named_but_the_shared_module_is_not(tree):
    graph = tree({"verbs/deploy.py": ("from deployer.verbs.status import NOT_DEPLOYED\n"
                                      "from deployer.verbs import verb\n"),
                  "verbs/status.py": "", "verbs/verb.py": "from deployer.engine import stacks\n",
                  "engine/stacks.py": ""})
    assert upward(graph) == ["deployer.verbs.deploy -> deployer.verbs.status (a verb imports another verb: share "
                             "it in verbs/verb.py or the engine)"]


def test_a_module_in_no_layer_is_named(tree):
    graph = tree({"helpers.py": ""})
    with pytest.raises(AssertionError, match="deployer.helpers is in no layer"):
        upward(graph)
