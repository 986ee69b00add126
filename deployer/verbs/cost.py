"""What the stacks cost a month: `python deploy.py ENV cost [--json]`, with no AWS call.

The estimate reads the rendered templates (``templates.BY_KEY[key].build()``) with their
conditions evaluated against the params, so it counts what the templates would create: NAT
gateways and their addresses, the load balancer, the service's capacity-provider strategy, the
WAF's rules, every log group, alarm, dashboard, secret, bucket, repository and KMS key. Usage
(tasks on average, requests, GB) comes from ``Assumptions``, printed with the table; unit prices
from ``prices.yaml`` beside this file, with the region and the date they were read.

``estimate(params) -> Estimate``, ``render_table(estimate)`` and ``to_json(estimate)``; ``COST`` is the verb
(the table, or ``--json``, on stdout; the warnings on stderr as well, where a script piping the JSON still
sees them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import yaml

import contract
import templates
from deployer.errors import EXIT_OK
from deployer.verbs.verb import Verb
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


def _price(key: str) -> float:
    return float(load_prices()["prices"][key]["price"])


def _unit(key: str) -> str:
    return load_prices()["prices"][key]["unit"]


# -- the rendered templates, their conditions evaluated ------------------------------------------------


@cache
def _rendered(stack: str) -> dict:
    return json.loads(templates.BY_KEY[stack].build().to_json())


class _Context:
    """One stack's template with the params' values: evaluates Ref, conditions, Fn::If and Fn::ImportValue."""

    def __init__(self, stack: str, params: schema.Params):
        self.stack, self.params = stack, params
        self.template = _rendered(stack)
        self.values = schema.cfn_parameter_values(stack, params)

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
        for key in templates.BY_KEY:
            for output in _rendered(key).get("Outputs", {}).values():
                if (output.get("Export") or {}).get("Name", {}).get("Fn::Sub") == wanted:
                    return _Context(key, self.params).value(output["Value"])
        return None

    def resources(self, type_: str) -> list[tuple[str, dict]]:
        """(logical id, properties) of the resources of this type the params would create."""
        return [
            (name, resource.get("Properties", {}))
            for name, resource in sorted(self.template["Resources"].items())
            if resource["Type"] == type_ and ("Condition" not in resource or self.condition(resource["Condition"]))
        ]


def _alarm_metrics(props: dict) -> int:
    metrics = props.get("Metrics")
    return sum(1 for m in metrics if "MetricStat" in m) if metrics else 1


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return {node["Ref"]}
        return set().union(*(_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


# -- the estimate ------------------------------------------------------------------------------------------


def average_tasks(params: schema.Params, assume: Assumptions) -> float:
    low, high = params["min_capacity"], params["max_capacity"]
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


def estimate(params: schema.Params, assumptions: Assumptions | None = None,
             today: datetime.date | None = None) -> Estimate:
    assume = assumptions or Assumptions()
    hours = assume.hours_per_month
    lines: list[Line] = []

    def add(stack, item, quantity, price_key, seed_row):
        lines.append(Line(stack, item, quantity, _unit(price_key), _price(price_key), seed_row))

    tasks = average_tasks(params, assume)
    for stack in templates.BY_KEY:
        ctx = _Context(stack, params)

        nats = ctx.resources("AWS::EC2::NatGateway")
        if nats:
            add(stack, "NAT gateway hours", len(nats) * hours, "nat_gateway_hour", "NAT Gateway")
            add(stack, "NAT data processed", assume.nat_gb_per_month, "nat_gateway_gb", "NAT Gateway")
        eips = ctx.resources("AWS::EC2::EIP")
        if eips:
            add(stack, "NAT public IPv4 (Elastic IP)", len(eips) * hours, "public_ipv4_hour", None)

        for _ in ctx.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            add(stack, "ALB hours", hours, "alb_hour", "ALB")
            add(stack, "ALB LCU hours", hours * _average_lcu(assume), "alb_lcu_hour", "ALB")
            add(stack, f"ALB public IPv4 ({ALB_ADDRESSES} AZs)", ALB_ADDRESSES * hours, "public_ipv4_hour", None)

        for _, cluster in ctx.resources("AWS::ECS::Cluster"):
            insights = {s["Name"]: ctx.value(s["Value"]) for s in cluster.get("ClusterSettings", [])}
            if insights.get("containerInsights") in ("enabled", "enhanced"):
                add(stack, "Container Insights metrics", assume.container_insights_metrics, "custom_metric_month",
                    None)

        for _, service in ctx.resources("AWS::ECS::Service"):
            on_demand, spot = capacity_split(tasks, service["CapacityProviderStrategy"])
            vcpu, gb = params["fargate_cpu"] / 1024, params["fargate_memory"] / 1024
            add(stack, f"Fargate vCPU on-demand ({on_demand:.2f} tasks x {vcpu:g})", on_demand * vcpu * hours,
                "fargate_vcpu_hour", "ECS Fargate")
            add(stack, f"Fargate GB on-demand ({on_demand:.2f} tasks x {gb:g})", on_demand * gb * hours,
                "fargate_gb_hour", "ECS Fargate")
            add(stack, f"Fargate vCPU Spot ({spot:.2f} tasks x {vcpu:g})", spot * vcpu * hours,
                "fargate_spot_vcpu_hour", "ECS Fargate")
            add(stack, f"Fargate GB Spot ({spot:.2f} tasks x {gb:g})", spot * gb * hours,
                "fargate_spot_gb_hour", "ECS Fargate")
            network = service.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
            if ctx.value(network.get("AssignPublicIp")) == "ENABLED":
                add(stack, f"task public IPv4 ({tasks:.2f} tasks)", tasks * hours, "public_ipv4_hour", None)
            calls = assume.model_calls_per_month
            add(stack, "Bedrock input tokens (millions)", calls * assume.input_tokens_per_call / 1e6,
                "bedrock_haiku_1m_input_tokens", "Bedrock Claude 3 Haiku")
            add(stack, "Bedrock output tokens (millions)", calls * assume.output_tokens_per_call / 1e6,
                "bedrock_haiku_1m_output_tokens", "Bedrock Claude 3 Haiku")

        for _, acl in ctx.resources("AWS::WAFv2::WebACL"):
            add(stack, "WAF web ACL", 1, "waf_web_acl_month", "WAF")
            add(stack, "WAF rules and managed rule groups", len(acl.get("Rules", [])), "waf_rule_month", "WAF")
            add(stack, "WAF requests (millions)", assume.requests_per_month / 1e6, "waf_million_requests", "WAF")

        secrets = ctx.resources("AWS::SecretsManager::Secret")
        if secrets:
            add(stack, "Secrets Manager secrets", len(secrets), "secret_month", "Secrets Manager")
            add(stack, "Secrets Manager API calls (10,000s)", len(secrets) * assume.secret_api_calls_per_month / 1e4,
                "secret_10k_api_calls", "Secrets Manager")

        lines.extend(_log_lines(stack, ctx, assume))

        for name, _ in ctx.resources("AWS::S3::Bucket"):
            add(stack, f"S3 storage ({name})", assume.s3_gb_per_bucket, "s3_gb_month", "S3")
            add(stack, f"S3 PUTs in 1,000s ({name})", assume.s3_puts_per_bucket / 1000, "s3_1k_puts", "S3")
        for _ in ctx.resources("AWS::ECR::Repository"):
            add(stack, f"ECR storage ({assume.images_kept} images)", assume.images_kept * assume.gb_per_image,
                "ecr_gb_month", "ECR")
        keys = ctx.resources("AWS::KMS::Key")
        if keys:
            add(stack, "KMS keys", len(keys), "kms_key_month", None)
        # CloudWatch bills an alarm per metric it watches: a metric-math alarm costs one per metric in its
        # expression. Target tracking creates two alarms of its own per policy (scale out, scale in).
        alarm_metrics = sum(_alarm_metrics(props) for _, props in ctx.resources("AWS::CloudWatch::Alarm"))
        tracking = [props for _, props in ctx.resources("AWS::ApplicationAutoScaling::ScalingPolicy")
                    if props.get("PolicyType") == "TargetTrackingScaling"]
        alarm_metrics += 2 * len(tracking)
        if alarm_metrics:
            add(stack, "CloudWatch alarm metrics (incl. target tracking's)", alarm_metrics, "alarm_month", None)
        composite = ctx.resources("AWS::CloudWatch::CompositeAlarm")
        if composite:
            add(stack, "CloudWatch composite alarms", len(composite), "composite_alarm_month", None)
        dashboards = ctx.resources("AWS::CloudWatch::Dashboard")
        if dashboards:
            add(stack, "CloudWatch dashboards", len(dashboards), "dashboard_month", None)

    prices = load_prices()
    return Estimate(
        env=params.env,
        region=params["region"],
        lines=tuple(lines),
        assumptions={
            **asdict(assume),
            "average_tasks": round(tasks, 4),
            "spot_share_of_tasks": round(_spot_share(tasks, params), 4),
        },
        prices_region=prices["region"],
        prices_read=prices["read"],
        warnings=tuple(_warnings(params, prices, today or datetime.date.today())),
    )


def _average_lcu(assume: Assumptions) -> float:
    """An ALB bills the largest of its LCU dimensions each hour: 25 new connections/s, 1 GB processed/h,
    1,000 rule evaluations/s (one request a connection, one rule a request: an upper bound for this API)."""
    seconds = assume.hours_per_month * 3600
    per_second = assume.requests_per_month / seconds
    gb_per_hour = assume.requests_per_month * assume.kb_per_request / 1e6 / assume.hours_per_month
    return max(per_second / 25, gb_per_hour / 1, per_second / 1000)


def _spot_share(tasks: float, params: schema.Params) -> float:
    services = _Context(contract.COMPUTE, params).resources("AWS::ECS::Service")
    if not services or tasks == 0:
        return 0.0
    _, spot = capacity_split(tasks, services[0][1]["CapacityProviderStrategy"])
    return spot / tasks


def _log_lines(stack: str, ctx: _Context, assume: Assumptions) -> list[Line]:
    """Ingestion and storage of every log group, its volume by what writes to it."""
    groups = ctx.resources("AWS::Logs::LogGroup")
    if not groups:
        return []
    flow = set().union(*(_refs(p) for _, p in ctx.resources("AWS::EC2::FlowLog")), set())
    tasks = set().union(*(_refs(p) for _, p in ctx.resources("AWS::ECS::TaskDefinition")), set())
    lines = []
    for name, props in groups:
        if name in flow:
            gb, seed_row = assume.flow_logs_gb_per_month, "VPC Flow Logs"
        elif name in tasks:
            gb, seed_row = assume.container_logs_gb_per_month, "CloudWatch Logs"
        else:
            gb, seed_row = assume.other_logs_gb_per_month, "CloudWatch Logs"
        retention = ctx.value(props.get("RetentionInDays"))
        # Steady state: a day's logs for each day of retention (never-expire groups: a year's worth).
        days = int(retention) if retention is not None else 365
        stored = gb / (assume.hours_per_month / 24) * days
        lines.append(Line(stack, f"logs ingested ({name})", gb, _unit("logs_ingested_gb"),
                          _price("logs_ingested_gb"), seed_row))
        lines.append(Line(stack, f"logs stored ({name}, {days} days)", stored, _unit("logs_stored_gb_month"),
                          _price("logs_stored_gb_month"), seed_row))
    return lines


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


# -- output ------------------------------------------------------------------------------------------------


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def render_table(est: Estimate) -> list[str]:
    """The estimate as text lines: per stack its line items and subtotal, the total, assumptions, warnings."""
    rows = [("stack", "item", "quantity", "unit", "unit price", "monthly")]
    for stack, lines in est.by_stack().items():
        for line in lines:
            rows.append((stack, line.item, _quantity(line.quantity), line.unit, f"${line.unit_price:g}",
                         _money(line.monthly)))
        rows.append((stack, "subtotal", "", "", "", _money(sum(line.monthly for line in lines))))
    rows.append(("total", "", "", "", "", _money(est.total)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 4, 5}
    out = [
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                  enumerate(zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]
    out.append(f"monthly estimate for {est.env} in {est.region}: {_money(est.total)} "
               f"(prices for {est.prices_region}, read {est.prices_read})")
    out.append("assumptions: " + ", ".join(f"{k}={_quantity(v) if isinstance(v, float) else v}"
                                           for k, v in est.assumptions.items()))
    out.extend(f"warning: {w}" for w in est.warnings)
    return out


def to_json(est: Estimate) -> dict:
    """The estimate for scripts: `deploy.py prod cost --json | jq .total`."""
    return {
        "env": est.env,
        "region": est.region,
        "currency": "USD",
        "prices": {"region": est.prices_region, "read": est.prices_read, "file": PRICES_FILE.name},
        "stacks": {
            stack: {
                "lines": [
                    {"item": line.item, "quantity": round(line.quantity, 4), "unit": line.unit,
                     "unit_price": line.unit_price, "monthly": round(line.monthly, 4), "seed_row": line.seed_row}
                    for line in lines
                ],
                "subtotal": round(sum(line.monthly for line in lines), 4),
            }
            for stack, lines in est.by_stack().items()
        },
        "total": round(est.total, 2),
        "assumptions": est.assumptions,
        "warnings": list(est.warnings),
    }


# ---- the verb ----

def cost_cmd(ctx, args) -> int:
    est = estimate(ctx.params)
    if args.json:
        ctx.out.line(json.dumps(to_json(est), indent=2, sort_keys=True))
    else:
        ctx.out.block([line for line in render_table(est) if not line.startswith("warning: ")])
    for warning in est.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _cost_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the estimate as JSON (for scripts)")


COST = Verb("cost", cost_cmd, "estimate the stacks' monthly cost from the params, with no AWS call",
            ("python deploy.py prod cost", "python deploy.py prod cost -p nat_gateways=0",
             "python deploy.py prod cost --json | jq .total"),
            _cost_options,
            notes=f"Per stack and line item, the total, and the usage it assumes. Unit prices: deployer/verbs/"
                  f"{PRICES_FILE.name} (region, source, date read; a warning once over {STALE_AFTER_DAYS} days old).")


__all__ = ["Assumptions", "Estimate", "Line", "estimate", "render_table", "to_json", "load_prices",
           "average_tasks", "capacity_split", "COST"]
