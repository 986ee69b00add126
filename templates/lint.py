"""cfn-lint over rendered templates, in this process: one rule load for all."""

from dataclasses import dataclass

from cfnlint.api import ConfigMixIn, Runner, decode_str


@dataclass(frozen=True)
class Finding:
    stack: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.stack}.yaml:{self.line}: [{self.rule}] {self.message}"


def lint_templates(bodies: dict[str, str], region: str) -> dict[str, list[Finding]]:
    """Stack key -> cfn-lint findings (errors, warnings and informational) of its YAML body."""
    runner = Runner(ConfigMixIn(regions=[region]))
    findings = {}
    for stack, body in bodies.items():
        template, matches = decode_str(body)
        if template is not None and not matches:
            matches = list(runner.validate_template(template))
        findings[stack] = [Finding(stack, m.linenumber, m.rule.id, m.message) for m in matches]
    return findings
