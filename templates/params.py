"""The parameter schema: one table that validates params/<env>.yaml and -p
overrides, and declares each stack's CloudFormation Parameters with the same
constraints, so a value the CLI accepts is one CloudFormation accepts too.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
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
    # A value a params file may ship with so that it renders on a fresh clone, but that names nothing real:
    # the deployer refuses it before any AWS call (placeholders_left).
    placeholder: object = None

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
    Param("environment", str, contract.PRODUCTION, "Environment tag of every stack; params/ENV.yaml's "
          "is ENV (the file may say it, never another); the CI access stack's roles may delete nothing in prod",
          stacks=(contract.CI_ACCESS,),
          pattern=r"[a-z][a-z0-9-]{0,19}", pattern_help="lowercase letters, digits and hyphens, up to 20"),
    Param("region", str, "us-east-1", "AWS region of every stack",
          pattern=r"[a-z]{2}(-gov)?-[a-z]+-\d", pattern_help="an AWS region name such as us-east-1"),
    # No stack: deploy.py compares it with the caller's identity (STS) before any other call.
    Param("account_id", str, "", "AWS account the environment lives in; empty pins none (dev only)",
          pattern=rf"(\d{{{contract.ACCOUNT_ID_LENGTH}}}|{contract.ACCOUNT_PLACEHOLDER})?",
          pattern_help=f"a {contract.ACCOUNT_ID_LENGTH}-digit AWS account id "
                       f"(or {contract.ACCOUNT_PLACEHOLDER!r} until it is known)",
          placeholder=contract.ACCOUNT_PLACEHOLDER),
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
    # TLS (README "HTTPS"): HTTPS on domain_name with an existing certificate (certificate_arn) or with one
    # compute requests and validates in a Route 53 zone (hosted_zone_id); port 80 only redirects. HTTP alone
    # only where a params file says allow_plain_http: true, never in HTTPS_ONLY_ENVIRONMENTS.
    Param("allow_plain_http", bool, False, "Serve the API over plain HTTP on port 80 only, with no TLS "
          "(never in prod)", stacks=(contract.COMPUTE,)),
    Param("domain_name", str, "", "DNS name of the API: the certificate's name, and ApiUrl's host",
          stacks=(contract.COMPUTE,), pattern=r"(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})?",
          pattern_help="empty or a DNS name such as api.example.com", placeholder="api.example.com"),
    Param("certificate_arn", str, "", "Existing ACM certificate for domain_name (or empty: hosted_zone_id)",
          stacks=(contract.COMPUTE,),
          pattern=r"(arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+)?",
          pattern_help="empty or an ACM certificate ARN"),
    Param("hosted_zone_id", str, "", "Route 53 hosted zone of domain_name: compute requests a DNS-validated "
          "certificate and points domain_name at the ALB there, the one zone CloudFormation may write in "
          "(or empty: certificate_arn)",
          stacks=(contract.COMPUTE, contract.CI_ACCESS), pattern=r"(Z[A-Z0-9]{1,31})?",
          pattern_help="empty or a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ",
          placeholder="Z00000000000PLACEHOLDER"),
    Param("alb_access_logs", bool, True, "ALB access logs to a bucket of their own (off: no bucket)",
          stacks=(contract.COMPUTE,)),
    Param("alb_logs_expiry_days", int, 90, "Days before an ALB access log expires from its bucket",
          stacks=(contract.COMPUTE,), min=1, max=3650),
    Param("alb_deletion_protection", bool, True, "ALB deletion protection (destroy turns it off first)",
          stacks=(contract.COMPUTE,)),
    Param("bedrock_model_id", str, "anthropic.claude-3-haiku-20240307-v1:0", "Bedrock model the API invokes "
          "(the CI access stack's boundary allows this one only)", stacks=(contract.COMPUTE, contract.CI_ACCESS),
          pattern=r"[a-z0-9-]+\.[A-Za-z0-9.:-]+",
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
          pattern_help="empty or an e-mail address", placeholder="alarms@example.com"),
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
    # No stack: deploy.py's plan reads it; release_retention_days also sets the ledger bucket's default lock.
    Param("risk_cost_threshold_usd", int, 50, "Rise of the monthly cost estimate (USD) above which a plan carries "
          "the cost risk class", min=0, max=1000000),
    Param("release_retention_days", int, 2557, "Days each release record stays locked (Object Lock COMPLIANCE) "
          "in the release ledger (the CI access stack's bucket locks each one for as long by default too)",
          stacks=(contract.CI_ACCESS,), min=1, max=36500),
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
    Param("github_environment", str, contract.PRODUCTION, "GitHub environment of the deploy job "
          "(default: the environment's name)", stacks=(contract.CI_ACCESS,),
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

# Environments that must serve HTTPS: their schema refuses allow_plain_http.
HTTPS_ONLY_ENVIRONMENTS = ("prod",)
# prod's floors: a Modify can shorten what a stack keeps (a retention of 1 day erases the rest within a day),
# and IAM has no condition key on those values, so the schema refuses them below the original CDK design's
# values (90 days of unresolved queries, 14 of container logs) or, where it names none, prod's own.
FLOORS: dict[str, dict[str, int]] = {
    contract.PRODUCTION: {
        "unhandled_expiry_days": 90,
        "log_retention_days": 14,
        "flow_logs_retention_days": 30,
        "waf_log_retention_days": 30,
        "alb_logs_expiry_days": 90,
    },
}
# What prod may not leave out: someone must read its alarms, and its ALB keeps deletion protection.
REQUIRED_IN: dict[str, dict[str, str]] = {
    contract.PRODUCTION: {
        "alarm_email": "an address that reads the alarms (every alarm and CI alert goes to that topic)",
    },
}
KEPT_ON_IN: dict[str, tuple[str, ...]] = {contract.PRODUCTION: ("alb_deletion_protection",)}

TLS_WAYS = ("domain_name with certificate_arn (an existing ACM certificate), or domain_name with hosted_zone_id "
            "(compute requests the certificate and the DNS record in that Route 53 zone)")


def placeholders_left(values: dict) -> list[str]:
    """The keys whose value is still their schema placeholder, in schema order: nothing to call AWS with."""
    return [p.key for p in SCHEMA if p.placeholder is not None and values.get(p.key) == p.placeholder]


@dataclass(frozen=True)
class Params:
    env: str
    values: dict
    # Where the other environments' files are (the promotion read derives values from one of them).
    params_dir: Path = field(default=PARAMS_DIR, compare=False)

    def __getitem__(self, key: str):
        return self.values[key]

    @property
    def project(self) -> str:
        return self.values["project_name"]


def stack_parameters(stack: str) -> tuple[Param, ...]:
    return tuple(p for p in SCHEMA if stack in p.stacks)


def add_parameters(template, stack: str) -> dict:
    """Declare ``stack``'s parameters on ``template``; returns them by schema key (the CI access stack's
    promotion parameters too, by their contract names: cfn_parameter_values fills both)."""
    declared = {p.key: template.add_parameter(p.cfn_parameter()) for p in stack_parameters(stack)}
    if stack == contract.CI_ACCESS:
        declared.update(_add_promotion_parameters(template))
    return declared


# (pattern, what it is) of each promotion parameter; "" always allowed: no promotion read.
_PROMOTION_SHAPES = {
    contract.PROMOTION_SOURCE_LEDGER_PARAMETER: (r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
                                                 "the promotion source's release ledger bucket"),
    contract.PROMOTION_SOURCE_ENVIRONMENT_PARAMETER: (r"[a-z][a-z0-9-]*", "the promotion source's environment"),
    contract.PROMOTION_READER_ACCOUNT_PARAMETER: (rf"\d{{{contract.ACCOUNT_ID_LENGTH}}}",
                                                  "the promotion target's account, whose roles read the ledger"),
    contract.PROMOTION_READER_PROJECT_PARAMETER: (BY_KEY["project_name"].pattern,
                                                  "the promotion target's project_name (its roles' prefix)"),
}


def _add_promotion_parameters(template) -> dict:
    from troposphere import Parameter

    return {name: template.add_parameter(Parameter(
        name, Type="String", Default="", AllowedPattern=f"({pattern})?",
        Description=f"{what}; empty: none (derived from the other environment's params file by deploy.py)",
        ConstraintDescription=f"must be empty or {what}"))
        for name, (pattern, what) in _PROMOTION_SHAPES.items()}


def cfn_parameter_values(stack: str, params: Params) -> dict[str, str]:
    """ParameterKey -> ParameterValue for exactly the parameters ``stack`` declares (the CI access stack's
    promotion parameters included: derived from the other environment's file, never written in one)."""
    values = {p.cfn_name: p.cfn_value(params[p.key]) for p in stack_parameters(stack)}
    if stack == contract.CI_ACCESS:
        values.update(promotion_values(params))
    return values


def promotion_values(params: Params) -> dict[str, str]:
    """The CI access stack's promotion parameters (contract.PROMOTION_PARAMETERS) for ``params``' environment.

    The target of a promotion (prod) reads its source's (staging's) ledger: the source's bucket and
    environment. The source lets the target's deploy and plan roles read it: the target's account and project.
    Each comes from the other environment's params file, and is "" when that file is missing or pins no
    account yet (empty or the placeholder): the stack's conditions then drop the statements."""
    values = dict.fromkeys(contract.PROMOTION_PARAMETERS, "")
    source = _pinned(contract.promotion_source(params.env), params.params_dir)
    if source is not None:
        values[contract.PROMOTION_SOURCE_LEDGER_PARAMETER] = contract.resource_name(
            "release_ledger", source.project, source["account_id"], source["region"])
        values[contract.PROMOTION_SOURCE_ENVIRONMENT_PARAMETER] = source.env
    target = _pinned(contract.promotion_target(params.env), params.params_dir)
    if target is not None:
        values[contract.PROMOTION_READER_ACCOUNT_PARAMETER] = target["account_id"]
        values[contract.PROMOTION_READER_PROJECT_PARAMETER] = target.project
    return values


def _pinned(env: str | None, params_dir: Path) -> Params | None:
    """``env``'s params when its file exists and pins a real account; a broken file is named (ParamError)."""
    if env is None or not (Path(params_dir) / f"{env}.yaml").is_file():
        return None
    try:
        other = load_params(env, params_dir=params_dir)
    except ParamError as exc:
        raise ParamError(f"the promotion read needs {env}'s params, which are wrong: {exc}") from None
    return other if pins_account(other) else None


def pins_account(values: Params) -> bool:
    """Whether ``values`` names a real account (not empty, not the repository's placeholder)."""
    return values["account_id"] not in ("", contract.ACCOUNT_PLACEHOLDER)


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
    values["project_name"] = contract.default_project_name(env)
    values["github_environment"] = env
    for key, raw in data.items():
        values[key] = _check(str(key), raw, f"{path}: ", from_cli=False)
    for text in overrides:
        key, raw = parse_override(text)
        values[key] = _check(key, raw, "-p ", from_cli=True)
    _check_identity(path, env, values)
    _check_combinations(values)
    _check_names_apart(path, values["project_name"], Path(params_dir))
    return Params(env=env, values=values, params_dir=Path(params_dir))


def _check_identity(path: Path, env: str, values: dict) -> None:
    """The file's name is the environment: its contents may repeat it, never contradict it."""
    if values["environment"] != env:
        raise ParamError(f"{path}: environment={values['environment']!r} contradicts the file's environment "
                         f"{env!r}; allowed: environment: {env}, or leave it out")
    if env in contract.RELEASE_ENVIRONMENTS and values["github_environment"] != env:
        # Its deploy role trusts that GitHub environment's job: another's would let the other job in.
        raise ParamError(f"{path}: github_environment={values['github_environment']!r} is not {env!r}; allowed: "
                         f"{env} (the GitHub environment of deploy.yml's job that deploys {env}), or leave it out")
    if env in contract.RELEASE_ENVIRONMENTS and not values["account_id"]:
        raise ParamError(f"{path}: account_id is empty; allowed: the {contract.ACCOUNT_ID_LENGTH}-digit account "
                         f"{env} deploys to (every release environment pins its account)")


def project_of(path: Path) -> str | None:
    """The project_name another params file gives its environment (None: a file not worth judging here;
    loading it names its own fault)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    project = data.get("project_name", contract.default_project_name(path.stem))
    return project if isinstance(project, str) else None


def _check_names_apart(path: Path, project: str, params_dir: Path) -> None:
    """No two environments share a stack, export or resource name (one would deploy onto the other)."""
    mine = contract.every_name(project)
    for other in sorted(params_dir.glob("*.yaml")):
        if other.stem == path.stem:
            continue
        theirs = project_of(other)
        shared = sorted(mine & contract.every_name(theirs)) if theirs else []
        if shared:
            raise ParamError(f"{path}: project_name={project!r} gives environment {path.stem!r} the names of "
                             f"{other} (project_name={theirs!r}), such as {shared[0]}; allowed: a project_name "
                             f"no other environment uses (leave it out: {contract.default_project_name(path.stem)})")


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
    _check_tls(values)
    _check_floors(values)
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


def _check_floors(values: dict) -> None:
    env = values["environment"]
    for key, floor in FLOORS.get(env, {}).items():
        if values[key] < floor:
            raise ParamError(f"{key}={values[key]} is below {env}'s floor; allowed: at least {floor} in {env}")
    for key, what in REQUIRED_IN.get(env, {}).items():
        if not values[key]:
            raise ParamError(f"{key} is empty; allowed in {env}: {what}")
    for key in KEPT_ON_IN.get(env, ()):
        if not values[key]:
            raise ParamError(f"{key}=false is not allowed in {env}; allowed: true")


def _check_tls(values: dict) -> None:
    """HTTPS unless a params file names the exception; one way to the certificate, never both."""
    env = values["environment"]
    tls_keys = ("domain_name", "certificate_arn", "hosted_zone_id")
    if values["allow_plain_http"]:
        if env in HTTPS_ONLY_ENVIRONMENTS:
            raise ParamError(f"allow_plain_http=true is not allowed in {env}, which serves HTTPS only; allowed: "
                             f"false, and {TLS_WAYS}")
        given = [k for k in tls_keys if values[k]]
        if given:
            raise ParamError(f"allow_plain_http=true serves HTTP only, yet {', '.join(given)} is set; allowed: "
                             "allow_plain_http=false to serve HTTPS, or those keys left empty")
        return
    certificate, zone = values["certificate_arn"], values["hosted_zone_id"]
    if certificate and zone:
        raise ParamError("certificate_arn and hosted_zone_id are both set; allowed: one of them (certificate_arn: "
                         "an existing ACM certificate; hosted_zone_id: compute requests one)")
    missing = [text for text, absent in (("domain_name", not values["domain_name"]),
                                         ("certificate_arn or hosted_zone_id", not (certificate or zone))) if absent]
    if missing:
        plain = "" if env in HTTPS_ONLY_ENVIRONMENTS else ", or allow_plain_http=true for HTTP only"
        raise ParamError(f"{env} serves HTTPS but has no {' and no '.join(missing)}; allowed: {TLS_WAYS}{plain}")
