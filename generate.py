#!/usr/bin/env python3
"""Render every stack's template and each environment's parameter files, then lint.

    python generate.py [ENV] [-p key=value ...] [--out DIR] [--no-lint]

Writes OUT/{stack}.yaml (the same for every environment) and
OUT/{env}/{stack}.parameters.json (the CLI/console parameter format).
Lint findings are cached in OUT/.lint-cache.json by template bytes.
Exit 0 clean, 1 on lint findings, 2 on bad input.
"""

import argparse
import json
import sys
from pathlib import Path

import templates
from templates import params
from templates.lint import lint_templates

# Findings of templates linted before, keyed by their bytes (templates/lint.py).
LINT_CACHE = ".lint-cache.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="generate.py", description=__doc__.split("\n")[0])
    parser.add_argument("env", nargs="?", default="prod", help="environment: params/ENV.yaml (default prod)")
    parser.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory (default out/)")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    return parser.parse_args(argv)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def parameter_file(stack: str, values: params.Params) -> str:
    pairs = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.cfn_parameter_values(stack, values).items()]
    return json.dumps(pairs, indent=2) + "\n"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        values = params.load_params(args.env, args.overrides)
    except params.ParamError as exc:
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2

    built = templates.build_all()
    bodies = {stack: templates.render(template) for stack, template in built.items()}
    for stack, body in bodies.items():
        write(args.out / f"{stack}.yaml", body)
        write(args.out / values.env / f"{stack}.parameters.json", parameter_file(stack, values))
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
