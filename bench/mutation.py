#!/usr/bin/env python3
"""Mutation testing of the deploy engine with mutmut: how many deliberate bugs do the fast tests catch?

    python bench/mutation.py                      # every engine module (several minutes on 2 cores)
    python bench/mutation.py stacks guard         # some of them
    python bench/mutation.py --survivors          # also list every mutant no test killed

Each module's mutants run against the fast tests that reach it (unit, Stubber and moto tests, named in
SELECTION below; per mutant, mutmut runs only those that executed the mutated function). The LocalStack
tests are left out: a run of them takes minutes, and on two cores that times several hundred mutants is
hours. mutmut works in a copy of the tree (a temporary directory), so the checkout is left as it was.
Prints, per module: mutants, killed, survived, no test, timeout, and score = (killed + timeout) /
mutants, a mutant no selected test reaches counting as not killed; the goal is 85% or more. Surviving
mutants that are equivalent, or left on purpose, are explained in bench/mutation_survivors.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module -> (its file, the fast tests that reach it: unit, Stubber and moto tests). Found with coverage's
# per-test contexts over tests/deployer and tests/operator; mutmut then runs, for each mutant, only the
# tests of this selection that executed the mutated function. Never the LocalStack tests: FAST below
# leaves out every test whose name says localstack (test_localstack.py, and test_adoption.py's two).
UNITS = "tests/deployer/test_engine_units.py"
ADOPTION = "tests/deployer/test_adoption.py"
ROLLBACK = "tests/operator/test_rollback.py"
GATES = "tests/deployer/test_security_gates.py"  # the artifacts bucket's owner, the boundary parameter
SAFETY = "tests/deployer/test_safety_verbs.py"  # a fired rollback trigger, through the whole flow
SELECTION: dict[str, tuple[str, tuple[str, ...]]] = {
    "changesets": ("deployer/engine/changesets.py",
                   (UNITS, "tests/deployer/test_changesets.py", "tests/deployer/test_stack_policy.py", ADOPTION,
                    ROLLBACK, GATES, SAFETY)),
    "stacks": ("deployer/engine/stacks.py",
               (UNITS, "tests/deployer/test_stacks.py", ADOPTION, ROLLBACK, "tests/operator/test_destroy.py",
                "tests/operator/test_status.py", "tests/operator/test_health.py")),
    "guard": ("deployer/engine/guard.py", (UNITS, "tests/deployer/test_guard.py", ADOPTION, ROLLBACK)),
    "plan": ("deployer/engine/plan.py",
             (UNITS, "tests/deployer/test_plan.py", "tests/deployer/test_cli.py", ADOPTION, ROLLBACK,
              "tests/operator/test_destroy.py", GATES)),
    "events": ("deployer/engine/events.py",
               (UNITS, "tests/deployer/test_events.py", ADOPTION, ROLLBACK,
                "tests/deployer/test_rollback_triggers.py", SAFETY)),
}
FAST = ["-k", "not localstack", "-p", "no:cacheprovider"]
# It counts the modules a fresh `deploy.py prod outputs --help` imports; under mutmut the mutated tree imports
# mutmut's trampoline too, so it fails before any mutant. It checks imports, not the engine's behaviour.
FAST += ["--deselect", "tests/deployer/test_cli.py::test_outputs_help_as_a_process_loads_no_template_library"]
GOAL = 85.0


def copy_tree(dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files, as they are in the working tree."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    if (ROOT / ".tools").exists():
        (dest / ".tools").symlink_to(ROOT / ".tools")


def configure(workdir: Path, source: str, tests: tuple[str, ...]) -> None:
    pyproject = workdir / "pyproject.toml"
    text = pyproject.read_text()
    text = re.sub(r"\n\[tool\.mutmut\].*?(?=\n\[|\Z)", "", text, flags=re.S)
    top = source.split("/")[0] + "/"
    text += (
        "\n[tool.mutmut]\n"
        f'source_paths = ["{top}"]\n'
        f'only_mutate = ["{source}"]\n'
        'also_copy = ["contract.py", "templates/", "params/", "testkit/"]\n'
        f"pytest_add_cli_args_test_selection = {json.dumps([*tests, *FAST])}\n"
    )
    pyproject.write_text(text)


def run_module(name: str, source: str, tests: tuple[str, ...], children: int) -> tuple[dict, list[str]]:
    with tempfile.TemporaryDirectory(prefix=f"mutation-{name}-") as tmp:
        workdir = Path(tmp)
        copy_tree(workdir)
        configure(workdir, source, tests)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        log = workdir / "mutmut.log"
        with open(log, "wb") as fh:  # mutmut draws a spinner: keep it out of the report
            subprocess.run(["mutmut", "run", "--max-children", str(children)], cwd=workdir, env=env,
                           stdout=fh, stderr=subprocess.STDOUT, check=False)
        subprocess.run(["mutmut", "export-cicd-stats"], cwd=workdir, capture_output=True, check=False)
        stats_file = workdir / "mutants" / "mutmut-cicd-stats.json"
        if not stats_file.exists():
            sys.exit(f"mutation: mutmut did not finish for {name}; last lines:\n"
                     + log.read_text(errors="replace")[-2000:])
        stats = json.loads(stats_file.read_text())
        if stats["total"] and not any(stats[k] for k in ("killed", "survived", "no_tests", "timeout")):
            sys.exit(f"mutation: mutmut checked no mutant of {name} (the selected tests failed before mutating?); "
                     "last lines:\n" + log.read_text(errors="replace")[-3000:])
        listed = subprocess.run(["mutmut", "results"], cwd=workdir, capture_output=True, text=True).stdout
        # Not killed: survived (the tests ran and passed) or no tests (no selected test reaches the function).
        survivors = [line.split(":")[0].strip() for line in listed.splitlines()
                     if line.strip().endswith(("survived", "no tests"))]
        diffs = []
        for mutant in survivors:
            shown = subprocess.run(["mutmut", "show", mutant], cwd=workdir, capture_output=True, text=True).stdout
            diffs.append(shown.strip())
        return stats, diffs


def score(stats: dict) -> float:
    """Killed (a timeout is a kill: the mutant hung the code) over every mutant, those no test reaches too."""
    counted = stats["total"] - stats.get("skipped", 0)
    return 100.0 * (stats["killed"] + stats["timeout"]) / counted if counted else 0.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/mutation.py", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help=f"engine modules (default all: {', '.join(SELECTION)})")
    parser.add_argument("--survivors", action="store_true", help="print every surviving mutant's diff")
    parser.add_argument("--children", type=int, default=min(2, os.cpu_count() or 1),
                        help="mutants run at once (default 2: keep the machine usable)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in SELECTION]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; allowed: {', '.join(SELECTION)}")
    if shutil.which("mutmut") is None:
        print("mutation: mutmut is not installed (pip install -r requirements-dev.txt)", file=sys.stderr)
        return 2
    rows = []
    for name in args.modules or list(SELECTION):
        source, tests = SELECTION[name]
        print(f"mutation: {source} against {' '.join(tests)} ...", flush=True)
        stats, survivors = run_module(name, source, tests, args.children)
        rows.append((name, stats))
        if args.survivors:
            for diff in survivors:
                print(diff, "\n")
    header = f"{'module':<12} {'mutants':>7} {'killed':>6} {'survived':>8} {'no test':>7} {'timeout':>7} {'score':>6}"
    print(header)
    for name, s in rows:
        print(f"{name:<12} {s['total']:>7} {s['killed']:>6} {s['survived']:>8} {s['no_tests']:>7} "
              f"{s['timeout']:>7} {score(s):>5.1f}%")
    total = {k: sum(s[k] for _, s in rows) for k in ("total", "killed", "survived", "no_tests", "timeout")}
    total["skipped"] = 0
    print(f"{'all':<12} {total['total']:>7} {total['killed']:>6} {total['survived']:>8} {total['no_tests']:>7} "
          f"{total['timeout']:>7} {score(total):>5.1f}%  (goal {GOAL:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
