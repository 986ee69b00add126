"""cfn-lint over rendered templates, in this process: one rule load for all.

Findings are cached by what decides them (cfn-lint's version, the region and
the template's bytes): templates are the same for every environment and
rarely change, and importing cfn-lint alone costs more than a second, so a
run whose templates were all linted before never imports it.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    stack: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.stack}.yaml:{self.line}: [{self.rule}] {self.message}"


def lint_templates(bodies: dict[str, str], region: str, cache: Path | None = None) -> dict[str, list[Finding]]:
    """Stack key -> cfn-lint findings (errors, warnings and informational) of its YAML body."""
    linter = version("cfn-lint")
    keys = {
        stack: hashlib.sha256(f"{linter}\0{region}\0{body}".encode()).hexdigest() for stack, body in bodies.items()
    }
    known = _read(cache)
    todo = {stack: body for stack, body in bodies.items() if keys[stack] not in known}
    fresh = _lint(todo, region) if todo else {}
    findings = {
        stack: fresh[stack] if stack in fresh else [Finding(**f) for f in known[keys[stack]]] for stack in bodies
    }
    if cache is not None:
        entries = {keys[stack]: [asdict(f) for f in found] for stack, found in findings.items()}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return findings


def _read(cache: Path | None) -> dict:
    try:
        return json.loads(cache.read_text()) if cache else {}
    except (OSError, ValueError):
        return {}  # no cache, or a damaged one: lint everything


def _lint(bodies: dict[str, str], region: str) -> dict[str, list[Finding]]:
    from cfnlint.api import ConfigMixIn, Runner, decode_str

    runner = Runner(ConfigMixIn(regions=[region]))
    findings = {}
    for stack, body in bodies.items():
        template, matches = decode_str(body)
        if template is not None and not matches:
            matches = list(runner.validate_template(template))
        findings[stack] = [Finding(stack, m.linenumber, m.rule.id, m.message) for m in matches]
    return findings
