"""The parameter schema: one table that validates params/<env>.yaml and -p
overrides, and declares each stack's CloudFormation Parameters with the same
constraints, so a value the CLI accepts is one CloudFormation accepts too.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

import contract

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"


class ParamError(ValueError):
    """A bad parameter: the message is one line naming the key, the value and what is allowed."""


@dataclass(frozen=True)
class Param:
    key: str
    type: type
    default: object
    description: str
    stacks: tuple[str, ...] = ()
    allowed: tuple | None = None
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    pattern_help: str | None = None

    @property
    def cfn_name(self) -> str:
        return "".join(part.capitalize() for part in self.key.split("_"))

    def allowed_text(self) -> str:
        if self.allowed is not None:
            return ", ".join(_show(v) for v in self.allowed)
        if self.type is bool:
            return "true or false"
        if self.type is int:
            return f"an integer from {self.min} to {self.max}"
        if self.type is float:
            return f"a number from {self.min} to {self.max}"
        return self.pattern_help or f"a string matching {self.pattern}"

    def parse(self, raw: object, from_cli: bool) -> object:
        """Turn a YAML value (or a -p string) into this param's type, or raise ParamError."""
        value = raw
        if from_cli and isinstance(raw, str) and self.type is not str:
            value = yaml.safe_load(raw) if raw != "" else raw
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # YAML reads 2 as an integer: a whole number is a number too
        ok_type = isinstance(value, self.type) and not (self.type is int and isinstance(value, bool))
        if not ok_type:
            raise ParamError(
                f"{self.key}={_show(raw)} is a {_type_name(type(value))}, expected {_type_name(self.type)}"
                f" ({self.allowed_text()})"
            )
        bad = (
            (self.allowed is not None and value not in self.allowed)
            or (self.min is not None and value < self.min)
            or (self.max is not None and value > self.max)
            or (self.pattern is not None and not re.fullmatch(self.pattern, value))
        )
        if bad:
            raise ParamError(f"{self.key}={_show(value)} is not allowed; allowed: {self.allowed_text()}")
        return value

    def cfn_parameter(self):
        """This param as a troposphere Parameter (imported here: validating params needs no troposphere)."""
        from troposphere import Parameter

        kwargs: dict = {"Description": self.description}
        if self.type is int:
            kwargs["Type"] = "Number"
        else:
            kwargs["Type"] = "String"
        if self.allowed is not None:
            kwargs["AllowedValues"] = [_show(v) for v in self.allowed]
        elif self.type is bool:
            kwargs["AllowedValues"] = ["true", "false"]
        if self.min is not None:
            kwargs["MinValue"] = self.min
        if self.max is not None:
            kwargs["MaxValue"] = self.max
        if self.pattern is not None:
            kwargs["AllowedPattern"] = self.pattern
            kwargs["ConstraintDescription"] = f"must be {self.allowed_text()}"
        return Parameter(self.cfn_name, **kwargs)

    def cfn_value(self, value: object) -> str:
        return _show(value)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(t: type) -> str:
    return {bool: "boolean", int: "integer", str: "string", float: "number", type(None): "null"}.get(
        t, t.__name__
    )


# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)

# Fargate (Linux) task sizes: CPU units -> memory MiB it accepts.
FARGATE_MEMORY = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}

SCHEMA: tuple[Param, ...] = (
    Param("project_name", str, "ia-comafi", "Prefix of every stack, export and resource name",
          stacks=tuple(s.key for s in contract.STACKS),
          pattern=r"[a-z][a-z0-9-]*[a-z0-9]",
          pattern_help="lowercase letters, digits and hyphens, starting with a letter"),
    Param("environment", str, "prod", "Environment tag of every stack",
          pattern=r"[a-z][a-z0-9-]{0,19}", pattern_help="lowercase letters, digits and hyphens, up to 20"),
    Param("region", str, "us-east-1", "AWS region of every stack",
          pattern=r"[a-z]{2}(-gov)?-[a-z]+-\d", pattern_help="an AWS region name such as us-east-1"),
    # No stack: compute takes the image's digest (contract.IMAGE_DIGEST_PARAMETER), which deploy.py resolves from
    # this tag on compute's first create only (later deploys keep the running digest unless given --image-tag).
    Param("image_tag", str, "latest", "Tag of the API image in the ECR repository that compute's first create runs",
          pattern=r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", pattern_help="a Docker tag ([A-Za-z0-9_.-], up to 128)"),
    Param("nat_gateways", int, 1, "NAT gateways: 0 (tasks in public subnets), 1 (shared) or 2 (one per AZ)",
          stacks=(contract.NETWORK,), allowed=(0, 1, 2)),
    Param("flow_logs", bool, True, "VPC Flow Logs (all traffic) to CloudWatch Logs",
          stacks=(contract.NETWORK,)),
    Param("flow_logs_retention_days", int, 30, "Retention of the VPC Flow Logs log group",
          stacks=(contract.NETWORK,), allowed=LOG_RETENTION_DAYS),
    Param("unhandled_expiry_days", int, 90, "Days before an unresolved query expires from the bucket",
          stacks=(contract.DATA,), min=1, max=3650),
    Param("fargate_cpu", int, 512, "Task CPU units", stacks=(contract.COMPUTE,), allowed=tuple(FARGATE_MEMORY)),
    Param("fargate_memory", int, 1024, "Task memory (MiB); must suit fargate_cpu",
          stacks=(contract.COMPUTE,), min=512, max=30720),
    Param("min_capacity", int, 1, "Fewest running tasks", stacks=(contract.COMPUTE,), min=1, max=100),
    Param("max_capacity", int, 3, "Most running tasks", stacks=(contract.COMPUTE,), min=1, max=100),
    Param("log_retention_days", int, 14, "Retention of the container log group",
          stacks=(contract.COMPUTE,), allowed=LOG_RETENTION_DAYS),
    Param("certificate_arn", str, "", "ACM certificate for HTTPS on the ALB; empty serves HTTP only",
          stacks=(contract.COMPUTE,),
          pattern=r"(arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+)?",
          pattern_help="empty or an ACM certificate ARN"),
    Param("domain_name", str, "", "DNS name that points at the ALB and that certificate_arn covers",
          stacks=(contract.COMPUTE,), pattern=r"(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})?",
          pattern_help="empty or a DNS name such as api.example.com"),
    Param("alb_access_logs", bool, True, "ALB access logs to a bucket of their own (off: no bucket)",
          stacks=(contract.COMPUTE,)),
    Param("alb_logs_expiry_days", int, 90, "Days before an ALB access log expires from its bucket",
          stacks=(contract.COMPUTE,), min=1, max=3650),
    Param("alb_deletion_protection", bool, True, "ALB deletion protection (destroy turns it off first)",
          stacks=(contract.COMPUTE,)),
    Param("bedrock_model_id", str, "anthropic.claude-3-haiku-20240307-v1:0", "Bedrock model the API invokes",
          stacks=(contract.COMPUTE,), pattern=r"[a-z0-9-]+\.[A-Za-z0-9.:-]+",
          pattern_help="a Bedrock model id such as anthropic.claude-3-haiku-20240307-v1:0"),
    Param("cache_enabled", bool, True, "Cache answers in Redis", stacks=(contract.COMPUTE,)),
    Param("cache_ttl_default", int, 3600, "Seconds an answer stays cached", stacks=(contract.COMPUTE,),
          min=1, max=604800),
    Param("cache_ttl_benefits", int, 86400, "Seconds the benefits catalogue stays cached",
          stacks=(contract.COMPUTE,), min=1, max=604800),
    Param("redis_ssl", bool, True, "The API reaches Redis over TLS, verifying its certificate (REDIS_SSL)",
          stacks=(contract.COMPUTE,)),
    Param("redis_port", int, 6379, "Redis port the tasks may reach (egress rule); the secret's REDIS_PORT must match",
          stacks=(contract.COMPUTE,), min=1, max=65535),
    Param("langchain_tracing_v2", bool, True, "LangSmith tracing", stacks=(contract.COMPUTE,)),
    # Traces leave the VPC: only LangSmith's own published API hosts (US and EU cloud), so one
    # parameter change cannot send the stream anywhere else.
    Param("langchain_endpoint", str, "https://api.smith.langchain.com", "LangSmith API host (US or EU)",
          stacks=(contract.COMPUTE,), allowed=("https://api.smith.langchain.com", "https://eu.api.smith.langchain.com")),
    Param("langchain_project", str, "ia-comafi", "LangSmith project name", stacks=(contract.COMPUTE,),
          pattern=r"[A-Za-z0-9_.-]{1,100}", pattern_help="letters, digits, _ . - (up to 100)"),
    # Release safety net (templates/alarms.py). The ALB alarms look at 1-minute periods.
    Param("alarm_email", str, "", "E-mail address subscribed to the alarm topic; empty subscribes nobody",
          stacks=(contract.COMPUTE,), pattern=r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63})?",
          pattern_help="empty or an e-mail address"),
    Param("alarm_5xx_rate_percent", int, 5, "5xx responses (ALB and targets) as a percentage of requests "
          "that, three minutes running, is an alarm", stacks=(contract.COMPUTE,), min=1, max=100),
    Param("alarm_min_requests", int, 10, "Requests in a minute below which the 5xx-rate and latency alarms "
          "judge nothing (too few to be a rate)", stacks=(contract.COMPUTE,), min=1, max=1000000),
    Param("alarm_latency_p95_ms", int, 5000, "Target response time p95 (ms) that, three minutes running, is "
          "an alarm", stacks=(contract.COMPUTE,), min=100, max=60000),
    Param("alarm_unhealthy_minutes", int, 3, "Consecutive minutes with an unhealthy target before the alarm",
          stacks=(contract.COMPUTE,), min=1, max=60),
    Param("alarm_cpu_percent", int, 85, "Service CPU utilization (%) that, five minutes running, is an alarm",
          stacks=(contract.COMPUTE,), min=1, max=100),
    Param("alarm_memory_percent", int, 85, "Service memory utilization (%) that, five minutes running, is an "
          "alarm", stacks=(contract.COMPUTE,), min=1, max=100),
    # No stack: generate.py and deploy.py pass compute the estimate (deploy.py ENV cost) times this, as its
    # monthly budget (templates/alerts.py).
    Param("budget_multiple", float, 1.5, "Monthly budget as a multiple of the cost estimate, told to the alarm "
          "topic when spent or forecast (0: no budget)", min=0, max=10),
    # No stack: deploy.py reads it for the change set's RollbackConfiguration.
    Param("rollback_monitoring_minutes", int, 5, "Minutes CloudFormation watches the rollback-trigger alarms "
          "after updating compute or waf (0: only during the update)", min=0, max=180),
    Param("waf_rate_limit", int, 2000, "Requests per IP in 5 minutes before WAF blocks it",
          stacks=(contract.WAF,), min=10, max=2000000000),
    Param("waf_query_rate_limit", int, 100, "POST /v1/query requests per IP in 5 minutes before WAF blocks it",
          stacks=(contract.WAF,), min=10, max=2000000000),
    Param("waf_log_retention_days", int, 30, "Retention of the WAF log group (blocked and counted requests)",
          stacks=(contract.WAF,), allowed=LOG_RETENTION_DAYS),
    Param("alarm_waf_blocked_requests", int, 1000, "Requests WAF blocks in 5 minutes (all rules) that is an "
          "alarm", stacks=(contract.WAF,), min=1, max=2000000000),
    Param("github_repo", str, "", "GitHub repository (ORG/REPO, exact case) whose workflow may deploy; "
          "required by the github-oidc stack", stacks=(contract.CI_ACCESS,),
          pattern=r"([A-Za-z0-9-]+/[A-Za-z0-9_.-]+)?", pattern_help="ORG/REPO as GitHub spells it"),
    Param("github_branch", str, "master", "Branch whose pushes deploy", stacks=(contract.CI_ACCESS,),
          pattern=r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", pattern_help="a branch name such as master"),
    Param("github_environment", str, "prod", "GitHub environment of the deploy job", stacks=(contract.CI_ACCESS,),
          pattern=r"[A-Za-z0-9_.-]{1,255}", pattern_help="a GitHub environment name such as prod"),
    Param("create_trail", bool, False, "A multi-region CloudTrail trail (and its private bucket), for an account "
          "that has none: without one, EventBridge receives no API call and the CI alerts stay silent",
          stacks=(contract.CI_ACCESS,)),
    Param("oidc_provider_arn", str, "", "Existing GitHub OIDC provider to reuse; empty creates one",
          stacks=(contract.CI_ACCESS,),
          pattern=r"(arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com)?",
          pattern_help="empty or the ARN of the account's token.actions.githubusercontent.com provider"),
)

BY_KEY = {p.key: p for p in SCHEMA}


@dataclass(frozen=True)
class Params:
    env: str
    values: dict

    def __getitem__(self, key: str):
        return self.values[key]

    @property
    def project(self) -> str:
        return self.values["project_name"]


def stack_parameters(stack: str) -> tuple[Param, ...]:
    return tuple(p for p in SCHEMA if stack in p.stacks)


def add_parameters(template, stack: str) -> dict:
    """Declare ``stack``'s parameters on ``template``; returns them by schema key."""
    return {p.key: template.add_parameter(p.cfn_parameter()) for p in stack_parameters(stack)}


def cfn_parameter_values(stack: str, params: Params) -> dict[str, str]:
    """ParameterKey -> ParameterValue for exactly the parameters ``stack`` declares."""
    return {p.cfn_name: p.cfn_value(params[p.key]) for p in stack_parameters(stack)}


def parse_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ParamError(f"-p {text!r} is not key=value")
    return key.strip(), value


def load_params(env: str, overrides: list[str] = (), params_dir: Path = PARAMS_DIR) -> Params:
    """Read params/<env>.yaml, apply -p overrides and check everything; raises ParamError."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", env):
        raise ParamError(f"environment {env!r} is not a valid name; allowed: lowercase letters, digits, hyphens")
    path = Path(params_dir) / f"{env}.yaml"
    known = ", ".join(sorted(p.stem for p in Path(params_dir).glob("*.yaml")))
    if not path.is_file():
        raise ParamError(f"{path}: no such params file for environment {env!r}; known environments: {known}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamError(f"{path}:{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ParamError(f"{path}: expected a mapping of key: value, got a {_type_name(type(data))}")

    values = {p.key: p.default for p in SCHEMA}
    values["environment"] = env
    for key, raw in data.items():
        values[key] = _check(str(key), raw, f"{path}: ", from_cli=False)
    for text in overrides:
        key, raw = parse_override(text)
        values[key] = _check(key, raw, "-p ", from_cli=True)
    _check_combinations(values)
    return Params(env=env, values=values)


def _check(key: str, raw: object, where: str, from_cli: bool) -> object:
    param = BY_KEY.get(key)
    if param is None:
        close = difflib.get_close_matches(key, BY_KEY, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; known keys: {', '.join(BY_KEY)}"
        raise ParamError(f"{where}unknown key {key!r}{hint}")
    try:
        return param.parse(raw, from_cli)
    except ParamError as exc:
        raise ParamError(f"{where}{exc}") from None


def _check_combinations(values: dict) -> None:
    cpu, memory = values["fargate_cpu"], values["fargate_memory"]
    if memory not in FARGATE_MEMORY[cpu]:
        fits = ", ".join(map(str, FARGATE_MEMORY[cpu]))
        raise ParamError(f"fargate_memory={memory} does not fit fargate_cpu={cpu}; Fargate allows: {fits}")
    if values["certificate_arn"] and not values["domain_name"]:
        # The certificate is for a name of ours, not the ALB's amazonaws.com name:
        # without it the API URL (and the pipeline's health check) would fail TLS.
        raise ParamError("certificate_arn is set but domain_name is empty; allowed: a domain_name the "
                         "certificate covers, pointed at the ALB, or no certificate_arn (HTTP only)")
    if values["min_capacity"] > values["max_capacity"]:
        raise ParamError(
            f"min_capacity={values['min_capacity']} is greater than max_capacity={values['max_capacity']}; "
            "allowed: min_capacity <= max_capacity"
        )
    if values["waf_query_rate_limit"] > values["waf_rate_limit"]:
        # Every query also counts toward the general per-IP rule: a looser query limit could never fire.
        raise ParamError(
            f"waf_query_rate_limit={values['waf_query_rate_limit']} is greater than "
            f"waf_rate_limit={values['waf_rate_limit']}; allowed: waf_query_rate_limit <= waf_rate_limit"
        )
    longest, binding = contract.longest_project_name(values["region"])
    project = values["project_name"]
    if len(project) > longest:
        example = contract.resource_name(binding, project, "123456789012", values["region"])
        raise ParamError(
            f"project_name={project!r} is {len(project)} characters; allowed: at most {longest}, "
            f"because the {binding} name {example!r} would pass AWS's limit of {contract.RESOURCE_NAMES[binding][1]}"
        )
