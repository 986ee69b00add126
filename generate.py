#!/usr/bin/env python3
"""Render every stack's template and each environment's parameter files, then lint.

    python generate.py [ENV] [-p key=value ...] [--out DIR] [--no-lint]
    python generate.py --diagram


Writes OUT/{stack}.yaml (the same for every environment) and
OUT/{env}/{stack}.parameters.json (the CLI/console parameter format).
Lint findings are cached in OUT/.lint-cache.json by template bytes.
Exit 0 clean, 1 on lint findings, 2 on bad input.
--diagram writes docs/architecture.{dot,mmd,svg} and docs/design.md's Mermaid block instead
(templates/diagram.py; the SVG needs Graphviz's `dot`: exit 1 without it).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import contract
import templates
from templates import params
from templates.lint import lint_templates

# Findings of templates linted before, keyed by their bytes (templates/lint.py).
LINT_CACHE = ".lint-cache.json"
ROOT = Path(__file__).resolve().parent
DOCS = ROOT / "docs"
DIAGRAM_PAGE = DOCS / "design.md"
# The design page's diagram: a ```mermaid block between these lines, rewritten by --diagram.
DIAGRAM_BEGIN = "<!-- diagram: python generate.py --diagram writes this block from docs/architecture.mmd -->"
DIAGRAM_END = "<!-- diagram end -->"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="generate.py", description=__doc__.split("\n")[0])
    parser.add_argument("env", nargs="?", default="prod", help="environment: params/ENV.yaml (default prod)")
    parser.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory (default out/)")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    parser.add_argument("--diagram", action="store_true",
                        help="write docs/architecture.{dot,mmd,svg} and docs/design.md's diagram instead")
    return parser.parse_args(argv)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def parameter_file(stack: str, values: params.Params, template) -> str:
    given = params.cfn_parameter_values(stack, values)
    if contract.BUDGET_AMOUNT_PARAMETER in template.parameters:
        # compute's budget: the cost estimate times budget_multiple, as deploy.py passes it.
        from deployer.engine import pricing

        given[contract.BUDGET_AMOUNT_PARAMETER] = pricing.budget_amount(values)
    pairs = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
    return json.dumps(pairs, indent=2) + "\n"


def page_with_diagram(page: str, mmd: str) -> str:
    block = f"{DIAGRAM_BEGIN}\n```mermaid\n{mmd}```\n{DIAGRAM_END}"
    pattern = re.escape(DIAGRAM_BEGIN) + r".*?" + re.escape(DIAGRAM_END)
    if not re.search(pattern, page, flags=re.S):
        raise ValueError(f"docs/design.md has no diagram block (a line {DIAGRAM_BEGIN!r} ... {DIAGRAM_END!r})")
    return re.sub(pattern, lambda _: block, page, count=1, flags=re.S)


def write_diagram(built: dict) -> int:
    from templates import diagram

    rendered = {stack: json.loads(template.to_json()) for stack, template in built.items()}
    dot_path, mmd_path, svg_path = (DOCS / f"architecture.{ext}" for ext in ("dot", "mmd", "svg"))
    mmd = diagram.mermaid(rendered)
    write(dot_path, diagram.dot(rendered))
    write(mmd_path, mmd)
    DIAGRAM_PAGE.write_text(page_with_diagram(DIAGRAM_PAGE.read_text(), mmd))
    print(f"wrote {dot_path.relative_to(ROOT)}, {mmd_path.relative_to(ROOT)} and "
          f"{DIAGRAM_PAGE.relative_to(ROOT)}'s diagram")
    dot = shutil.which("dot")
    if not dot:
        print("generate.py: error: Graphviz's dot is not installed (apt-get install graphviz, or bash "
              "scripts/setup.sh); docs/architecture.svg not written", file=sys.stderr)
        return 1
    done = subprocess.run([dot, "-Tsvg", "-o", str(svg_path), str(dot_path)], capture_output=True, text=True,
                          timeout=120)
    if done.returncode:
        print(f"generate.py: error: dot failed: {done.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"wrote {svg_path.relative_to(ROOT)}")
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        values = params.load_params(args.env, args.overrides)
    except params.ParamError as exc:
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2

    built = templates.build_all()
    if args.diagram:
        return write_diagram(built)
    bodies = {stack: templates.render(template) for stack, template in built.items()}
    try:
        files = {stack: parameter_file(stack, values, built[stack]) for stack in bodies}
    except params.ParamError as exc:  # another environment's file the CI access stack's values derive from
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2
    for stack, body in bodies.items():
        write(args.out / f"{stack}.yaml", body)
        write(args.out / values.env / f"{stack}.parameters.json", files[stack])
    findings = {} if args.no_lint else lint_templates(bodies, values["region"], cache=args.out / LINT_CACHE)

    rows = [("stack", "resources", "parameters", "outputs", "bytes", "findings")]
    for stack, template in built.items():
        body = bodies[stack]
        rows.append((
            stack,
            len(template.resources),
            len(template.parameters),
            len(template.outputs),
            len(body.encode()),
            "-" if args.no_lint else len(findings[stack]),
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(w) if i == 0 else str(cell).rjust(w) for i, (cell, w) in
                        enumerate(zip(row, widths, strict=True))))
    print(f"wrote {len(bodies)} templates to {args.out}/ and parameters to {args.out / values.env}/")

    problems = [f for stack_findings in findings.values() for f in stack_findings]
    for finding in problems:
        print(f"  {finding}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
