"""What the stacks cost a month, from templates and parameter values, with no AWS call.

The model reads rendered templates with their conditions evaluated against the stacks' parameter values, so
it counts what the templates would create: NAT gateways and their addresses, the load balancer, the service's
capacity-provider strategy and task size, the WAF's rules, every log group, alarm, dashboard, secret, bucket,
repository and KMS key. ``PRICED`` is the table: a resource type, and the lines one stack's resources of that
type bill. Usage (tasks on average, requests, GB) comes from ``Assumptions``; unit prices from ``prices.yaml``
beside this file, with the region and the date they were read.

``monthly_estimate(rendered, params) -> Estimate`` is the model; ``rendered`` is stack key -> template (as
JSON gives it), so the same call prices what a plan would deploy and, with ``values`` (stack key ->
ParameterKey -> value, as DescribeStacks returns them), what is deployed now. ``estimate(params)`` prices this
checkout's templates. The `cost` verb (deployer/verbs/cost.py) only prints.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import yaml

import contract
import templates
from deployer.engine import plan as plan_module
from templates import params as schema

PRICES_FILE = Path(__file__).with_name("prices.yaml")
# Prices read longer ago than this draw a warning.
STALE_AFTER_DAYS = 365
# The ALB has a node, and a public IPv4 address, in each of the network stack's two public subnets.
ALB_ADDRESSES = 2


@dataclass(frozen=True)
class Assumptions:
    """Usage the templates cannot know; each is printed with the estimate."""

    hours_per_month: float = 730
    # Tasks run at min_capacity and scale out rarely: on average this share of the room up to max_capacity.
    scale_out_share: float = 0.1
    requests_per_month: int = 1_000_000
    kb_per_request: float = 10  # request + response through the ALB
    # Bedrock, ECR image pulls and LangSmith leave through the NAT; S3 goes through the gateway endpoint.
    nat_gb_per_month: float = 10
    container_logs_gb_per_month: float = 1
    flow_logs_gb_per_month: float = 1
    other_logs_gb_per_month: float = 0.5
    secret_api_calls_per_month: int = 10_000
    s3_gb_per_bucket: float = 1
    s3_puts_per_bucket: int = 10_000
    images_kept: int = 10
    gb_per_image: float = 0.25
    # Container Insights (standard) metrics for one cluster with one service; not confirmed by a pricing page.
    container_insights_metrics: int = 20
    model_calls_per_month: int = 5_000  # the questions the cache did not answer
    input_tokens_per_call: int = 1_500
    output_tokens_per_call: int = 300


@dataclass(frozen=True)
class Line:
    stack: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    # The original CDK design's cost-table row this line belongs to; None for what that table left out.
    seed_row: str | None

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Estimate:
    env: str
    region: str
    lines: tuple[Line, ...]
    assumptions: dict
    prices_region: str
    prices_read: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    def by_stack(self) -> dict[str, list[Line]]:
        grouped: dict[str, list[Line]] = {}
        for line in self.lines:
            grouped.setdefault(line.stack, []).append(line)
        return grouped


# -- prices ------------------------------------------------------------------------------------------------


@cache
def load_prices(path: Path = PRICES_FILE) -> dict:
    data = yaml.safe_load(path.read_text())
    return {**data, "read": str(data["read"])}


def price(key: str) -> float:
    return float(load_prices()["prices"][key]["price"])


def line(stack: str, item: str, quantity: float, price_key: str, seed_row: str | None) -> Line:
    return Line(stack, item, quantity, load_prices()["prices"][price_key]["unit"], price(price_key), seed_row)


# -- templates, their conditions evaluated ------------------------------------------------------------------


@cache
def _rendered(stack: str) -> dict:
    return json.loads(templates.BY_KEY[stack].build().to_json())


def rendered_templates() -> dict[str, dict]:
    """Every stack of this checkout, rendered (once a process)."""
    return {key: _rendered(key) for key in templates.BY_KEY}


class StackTemplate:
    """One stack's template with its parameter values: evaluates Ref, conditions, Fn::If and Fn::ImportValue
    (from the other stacks of the same estimate)."""

    def __init__(self, key: str, rendered: Mapping[str, dict], values: Mapping[str, Mapping[str, str]]):
        self.key, self.rendered, self.all_values = key, rendered, values
        self.template = rendered[key]
        self.values = values.get(key, {})

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def value(self, node):  # noqa: PLR0911 - one branch per intrinsic
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        (fn, arg), = node.items()
        if fn == "Ref":
            return self.values.get(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            left, right = self.value(arg)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(arg))
        if fn == "Fn::Or":
            return any(self.value(arg))
        if fn == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if fn == "Fn::ImportValue":
            return self._imported(arg)
        return None  # GetAtt, Sub...: known only once deployed

    def _imported(self, arg) -> object:
        """The value the exporting stack's output would have (exports are `${ProjectName}-Name`)."""
        wanted = arg.get("Fn::Sub") if isinstance(arg, dict) else None
        for key, template in self.rendered.items():
            for output in template.get("Outputs", {}).values():
                if (output.get("Export") or {}).get("Name", {}).get("Fn::Sub") == wanted:
                    return StackTemplate(key, self.rendered, self.all_values).value(output["Value"])
        return None

    def resources(self, type_: str) -> list[tuple[str, dict]]:
        """(logical id, properties) of the resources of this type the parameter values would create."""
        return [
            (name, resource.get("Properties", {}))
            for name, resource in sorted(self.template["Resources"].items())
            if resource["Type"] == type_ and ("Condition" not in resource or self.condition(resource["Condition"]))
        ]

    def number(self, node, default: float = 0) -> float:
        found = self.value(node)
        return float(found) if found is not None else default


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return {node["Ref"]}
        return set().union(*(_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


# -- the service's capacity ---------------------------------------------------------------------------------


def average_tasks(stack: StackTemplate, service: dict, assume: Assumptions) -> float:
    """min_capacity plus a share of the room to max_capacity (the scalable target's), or the desired count."""
    targets = stack.resources("AWS::ApplicationAutoScaling::ScalableTarget")
    if not targets:
        return stack.number(service.get("DesiredCount"), 1)
    (_, target), *_ = targets
    low, high = stack.number(target["MinCapacity"]), stack.number(target["MaxCapacity"])
    return low + assume.scale_out_share * (high - low)


def capacity_split(tasks: float, strategy: list[dict]) -> tuple[float, float]:
    """(on-demand, Spot) tasks under an ECS capacity-provider strategy: each provider's Base first, then the
    rest by Weight."""
    base = {item["CapacityProvider"]: float(item.get("Base", 0)) for item in strategy}
    weight = {item["CapacityProvider"]: float(item.get("Weight", 0)) for item in strategy}
    placed = dict.fromkeys(base, 0.0)
    left = tasks
    for provider in base:
        placed[provider] = min(base[provider], left)
        left -= placed[provider]
    total_weight = sum(weight.values())
    for provider in base:
        placed[provider] += left * weight[provider] / total_weight
    return placed.get("FARGATE", 0.0), placed.get("FARGATE_SPOT", 0.0)


def _task_size(stack: StackTemplate, service: dict) -> tuple[float, float]:
    """(vCPU, GB) of the service's task definition."""
    task = stack.template["Resources"].get(service.get("TaskDefinition", {}).get("Ref", ""), {})
    props = task.get("Properties", {})
    return stack.number(props.get("Cpu")) / 1024, stack.number(props.get("Memory")) / 1024


def _average_lcu(assume: Assumptions) -> float:
    """An ALB bills the largest of its LCU dimensions each hour: 25 new connections/s, 1 GB processed/h,
    1,000 rule evaluations/s (one request a connection, one rule a request: an upper bound for this API)."""
    seconds = assume.hours_per_month * 3600
    per_second = assume.requests_per_month / seconds
    gb_per_hour = assume.requests_per_month * assume.kb_per_request / 1e6 / assume.hours_per_month
    return max(per_second / 25, gb_per_hour / 1, per_second / 1000)


# -- the table: what one stack's resources of a type bill -----------------------------------------------------

Found = list[tuple[str, dict]]  # (logical id, properties)


@dataclass(frozen=True)
class PerResource:
    """One line: how many there are (hours of them with ``hourly``), at one price."""

    item: str
    price_key: str
    seed_row: str | None
    hourly: bool = False

    def __call__(self, stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
        if not found:
            return []
        quantity = len(found) * (assume.hours_per_month if self.hourly else 1)
        return [line(stack.key, self.item, quantity, self.price_key, self.seed_row)]


def _nat_gateways(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    if not found:
        return []
    return [line(stack.key, "NAT gateway hours", len(found) * assume.hours_per_month, "nat_gateway_hour",
                 "NAT Gateway"),
            line(stack.key, "NAT data processed", assume.nat_gb_per_month, "nat_gateway_gb", "NAT Gateway")]


def _load_balancers(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    hours = assume.hours_per_month
    return [priced for _ in found for priced in (
        line(stack.key, "ALB hours", hours, "alb_hour", "ALB"),
        line(stack.key, "ALB LCU hours", hours * _average_lcu(assume), "alb_lcu_hour", "ALB"),
        line(stack.key, f"ALB public IPv4 ({ALB_ADDRESSES} AZs)", ALB_ADDRESSES * hours, "public_ipv4_hour", None),
    )]


def _container_insights(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    lines = []
    for _, cluster in found:
        settings = {s["Name"]: stack.value(s["Value"]) for s in cluster.get("ClusterSettings", [])}
        if settings.get("containerInsights") in ("enabled", "enhanced"):
            lines.append(line(stack.key, "Container Insights metrics", assume.container_insights_metrics,
                              "custom_metric_month", None))
    return lines


def _services(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    """Fargate by capacity provider, the tasks' public addresses without a NAT, and the model the tasks call."""
    hours, lines = assume.hours_per_month, []
    for _, service in found:
        tasks = average_tasks(stack, service, assume)
        on_demand, spot = capacity_split(tasks, service["CapacityProviderStrategy"])
        vcpu, gb = _task_size(stack, service)
        for kind, count, vcpu_key, gb_key in (("on-demand", on_demand, "fargate_vcpu_hour", "fargate_gb_hour"),
                                              ("Spot", spot, "fargate_spot_vcpu_hour", "fargate_spot_gb_hour")):
            lines.append(line(stack.key, f"Fargate vCPU {kind} ({count:.2f} tasks x {vcpu:g})",
                              count * vcpu * hours, vcpu_key, "ECS Fargate"))
            lines.append(line(stack.key, f"Fargate GB {kind} ({count:.2f} tasks x {gb:g})",
                              count * gb * hours, gb_key, "ECS Fargate"))
        network = service.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        if stack.value(network.get("AssignPublicIp")) == "ENABLED":
            lines.append(line(stack.key, f"task public IPv4 ({tasks:.2f} tasks)", tasks * hours, "public_ipv4_hour",
                              None))
        calls = assume.model_calls_per_month
        lines.append(line(stack.key, "Bedrock input tokens (millions)", calls * assume.input_tokens_per_call / 1e6,
                          "bedrock_haiku_1m_input_tokens", "Bedrock Claude 3 Haiku"))
        lines.append(line(stack.key, "Bedrock output tokens (millions)",
                          calls * assume.output_tokens_per_call / 1e6, "bedrock_haiku_1m_output_tokens",
                          "Bedrock Claude 3 Haiku"))
    return lines


def _web_acls(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    return [priced for _, acl in found for priced in (
        line(stack.key, "WAF web ACL", 1, "waf_web_acl_month", "WAF"),
        line(stack.key, "WAF rules and managed rule groups", len(acl.get("Rules", [])), "waf_rule_month", "WAF"),
        line(stack.key, "WAF requests (millions)", assume.requests_per_month / 1e6, "waf_million_requests", "WAF"),
    )]


def _secrets(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    if not found:
        return []
    return [line(stack.key, "Secrets Manager secrets", len(found), "secret_month", "Secrets Manager"),
            line(stack.key, "Secrets Manager API calls (10,000s)", len(found) * assume.secret_api_calls_per_month
                 / 1e4, "secret_10k_api_calls", "Secrets Manager")]


def _log_groups(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    """Ingestion and storage of every log group, its volume by what writes to it."""
    if not found:
        return []
    flow = set().union(*(_refs(p) for _, p in stack.resources("AWS::EC2::FlowLog")), set())
    tasks = set().union(*(_refs(p) for _, p in stack.resources("AWS::ECS::TaskDefinition")), set())
    lines = []
    for name, props in found:
        if name in flow:
            gb, seed_row = assume.flow_logs_gb_per_month, "VPC Flow Logs"
        elif name in tasks:
            gb, seed_row = assume.container_logs_gb_per_month, "CloudWatch Logs"
        else:
            gb, seed_row = assume.other_logs_gb_per_month, "CloudWatch Logs"
        retention = stack.value(props.get("RetentionInDays"))
        # Steady state: a day's logs for each day of retention (never-expire groups: a year's worth).
        days = int(retention) if retention is not None else 365
        stored = gb / (assume.hours_per_month / 24) * days
        lines.append(line(stack.key, f"logs ingested ({name})", gb, "logs_ingested_gb", seed_row))
        lines.append(line(stack.key, f"logs stored ({name}, {days} days)", stored, "logs_stored_gb_month", seed_row))
    return lines


def _buckets(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    return [priced for name, _ in found for priced in (
        line(stack.key, f"S3 storage ({name})", assume.s3_gb_per_bucket, "s3_gb_month", "S3"),
        line(stack.key, f"S3 PUTs in 1,000s ({name})", assume.s3_puts_per_bucket / 1000, "s3_1k_puts", "S3"),
    )]


def _repositories(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    return [line(stack.key, f"ECR storage ({assume.images_kept} images)", assume.images_kept * assume.gb_per_image,
                 "ecr_gb_month", "ECR") for _ in found]


def _alarms(stack: StackTemplate, found: Found, assume: Assumptions) -> list[Line]:
    """CloudWatch bills an alarm per metric it watches: a metric-math alarm costs one per metric in its
    expression. Target tracking creates two alarms of its own per policy (scale out, scale in)."""
    metrics = sum(sum(1 for m in props["Metrics"] if "MetricStat" in m) if props.get("Metrics") else 1
                  for _, props in found)
    tracking = [props for _, props in stack.resources("AWS::ApplicationAutoScaling::ScalingPolicy")
                if props.get("PolicyType") == "TargetTrackingScaling"]
    metrics += 2 * len(tracking)
    if not metrics:
        return []
    return [line(stack.key, "CloudWatch alarm metrics (incl. target tracking's)", metrics, "alarm_month", None)]


# Resource type -> the lines one stack's resources of that type bill, in the order the estimate lists them.
PRICED: dict[str, Callable[[StackTemplate, Found, Assumptions], list[Line]]] = {
    "AWS::EC2::NatGateway": _nat_gateways,
    "AWS::EC2::EIP": PerResource("NAT public IPv4 (Elastic IP)", "public_ipv4_hour", None, hourly=True),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancers,
    "AWS::ECS::Cluster": _container_insights,
    "AWS::ECS::Service": _services,
    "AWS::WAFv2::WebACL": _web_acls,
    "AWS::SecretsManager::Secret": _secrets,
    "AWS::Logs::LogGroup": _log_groups,
    "AWS::S3::Bucket": _buckets,
    "AWS::ECR::Repository": _repositories,
    "AWS::KMS::Key": PerResource("KMS keys", "kms_key_month", None),
    "AWS::CloudWatch::Alarm": _alarms,
    "AWS::CloudWatch::CompositeAlarm": PerResource("CloudWatch composite alarms", "composite_alarm_month", None),
    "AWS::CloudWatch::Dashboard": PerResource("CloudWatch dashboards", "dashboard_month", None),
}


# -- the estimate ------------------------------------------------------------------------------------------


def monthly_estimate(rendered: Mapping[str, dict], params: schema.Params, assumptions: Assumptions | None = None,
                     today: datetime.date | None = None,
                     values: Mapping[str, Mapping[str, str]] | None = None) -> Estimate:
    """The monthly cost of ``rendered`` (stack key -> template), each stack under ``values[key]`` (its
    CloudFormation parameter values; by default the ones ``params`` gives it). ``params`` names the environment
    and the region the prices are compared with."""
    assume = assumptions or Assumptions()
    if values is None:
        values = {key: schema.cfn_parameter_values(key, params) for key in rendered}
    stacks = [StackTemplate(key, rendered, values) for key in rendered]
    lines = [priced for stack in stacks for type_, unit in PRICED.items()
             for priced in unit(stack, stack.resources(type_), assume)]
    prices = load_prices()
    return Estimate(
        env=params.env,
        region=params["region"],
        lines=tuple(lines),
        assumptions={**asdict(assume), **_capacity(stacks, assume)},
        prices_region=prices["region"],
        prices_read=prices["read"],
        warnings=tuple(_warnings(params, prices, today or datetime.date.today())),
    )


def estimate(params: schema.Params, assumptions: Assumptions | None = None,
             today: datetime.date | None = None) -> Estimate:
    """This checkout's templates under ``params``: what `deploy.py ENV cost` prints."""
    return monthly_estimate(rendered_templates(), params, assumptions, today)


def budget_amount(params: schema.Params) -> str:
    """compute's monthly budget (the ``contract.BUDGET_AMOUNT_PARAMETER`` value): the estimate times
    budget_multiple, in whole dollars up; "0" (no budget) when budget_multiple is 0."""
    return str(math.ceil(estimate(params).total * params["budget_multiple"]))


def with_budget(plans: list[plan_module.StackPlan], params: schema.Params) -> list[plan_module.StackPlan]:
    """``plans`` with the budget amount given to the stack that declares it (compute), as the boundary's ARN is
    given once the CI stack exists: the estimate needs no AWS call, so it is known before any."""
    if not any(plan_module.declares(p, contract.BUDGET_AMOUNT_PARAMETER) for p in plans):
        return plans
    return plan_module.with_parameter(plans, contract.BUDGET_AMOUNT_PARAMETER, budget_amount(params))


def _capacity(stacks: list[StackTemplate], assume: Assumptions) -> dict:
    """The tasks the estimate assumes on average, and the share of them on Spot (0 without the service)."""
    compute = next((s for s in stacks if s.key == contract.COMPUTE), None)
    services = compute.resources("AWS::ECS::Service") if compute is not None else []
    if not services:
        return {"average_tasks": 0.0, "spot_share_of_tasks": 0.0}
    (_, service), *_ = services
    tasks = average_tasks(compute, service, assume)
    _, spot = capacity_split(tasks, service["CapacityProviderStrategy"])
    return {"average_tasks": round(tasks, 4), "spot_share_of_tasks": round(spot / tasks if tasks else 0.0, 4)}


def _warnings(params: schema.Params, prices: dict, today: datetime.date) -> list[str]:
    warnings = []
    read = datetime.date.fromisoformat(prices["read"])
    age = (today - read).days
    if age > STALE_AFTER_DAYS:
        warnings.append(f"prices were read {age} days ago ({read}); refresh {PRICES_FILE.name} from its sources")
    if params["region"] != prices["region"]:
        warnings.append(f"prices are for {prices['region']}, the stacks are in {params['region']}: "
                        "expect a different bill")
    return warnings
