#!/usr/bin/env python3
"""Mutation testing of the deploy engine with mutmut: how many deliberate bugs do the fast tests catch?

    python bench/mutation.py                      # every engine module (several minutes on 2 cores)
    python bench/mutation.py stacks guard         # some of them
    python bench/mutation.py --survivors          # also list every mutant no test killed

Each module's mutants run against the fast tests that cover it (unit and Stubber tests, named in
SELECTION below); the LocalStack tests are left out: they take minutes per run, and a mutant runs the
selection once. mutmut works in a copy of the tree (a temporary directory), so the checkout is left as
it was. Prints, per module: mutants, killed, survived, no test, timeout, score = killed / (mutants -
no test); the goal is 85% or more. Surviving mutants that are equivalent, or left on purpose, are
explained in bench/mutation_survivors.md.
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

# Module -> (its file, the fast tests that exercise it).
SELECTION: dict[str, tuple[str, tuple[str, ...]]] = {
    "changesets": ("deployer/engine/changesets.py", ("tests/deployer/test_engine_units.py",)),
    "stacks": ("deployer/engine/stacks.py", ("tests/deployer/test_engine_units.py",)),
    "guard": ("deployer/engine/guard.py", ("tests/deployer/test_engine_units.py",)),
    "plan": ("deployer/engine/plan.py", ("tests/deployer/test_engine_units.py", "tests/deployer/test_cli.py")),
    "events": ("deployer/engine/events.py", ("tests/deployer/test_engine_units.py",)),
}
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
        f"pytest_add_cli_args_test_selection = {json.dumps([*tests, '-p', 'no:cacheprovider'])}\n"
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
        listed = subprocess.run(["mutmut", "results"], cwd=workdir, capture_output=True, text=True).stdout
        survivors = [line.split(":")[0].strip() for line in listed.splitlines() if line.strip().endswith("survived")]
        diffs = []
        for mutant in survivors:
            shown = subprocess.run(["mutmut", "show", mutant], cwd=workdir, capture_output=True, text=True).stdout
            diffs.append(shown.strip())
        return stats, diffs


def score(stats: dict) -> float:
    tested = stats["total"] - stats["no_tests"] - stats.get("skipped", 0)
    return 100.0 * stats["killed"] / tested if tested else 0.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/mutation.py", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help=f"engine modules (default all: {', '.join(SELECTION)})")
    parser.add_argument("--survivors", action="store_true", help="print every surviving mutant's diff")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants run at once")
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
