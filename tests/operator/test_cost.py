"""`deploy.py ENV cost`: the monthly estimate from params and the rendered templates (no AWS call)."""

from __future__ import annotations

import copy
import datetime
import json
import re

import pytest

from deployer.engine import pricing
from deployer.verbs import cost
from templates.params import cfn_parameter_values, load_params
from testkit.harness import run
from tests.tools import ROOT

TODAY = datetime.date(2026, 11, 30)
# The original CDK design's cost table (docs/design.md): "**Total** | **~$68-77**".
CDK_RANGE = (68, 77)


def _estimate(env: str = "prod", *overrides: str, **kwargs) -> pricing.Estimate:
    return pricing.estimate(load_params(env, list(overrides)), today=TODAY, **kwargs)


def _by_item(est: pricing.Estimate) -> dict[tuple[str, str], pricing.Line]:
    return {(line.stack, line.item): line for line in est.lines}


def test_cdk_defaults_land_in_the_cdk_tables_range_once_the_differences_the_runbook_explains_are_taken_out():
    est = _estimate()
    cdk_lines = [line for line in est.lines if line.seed_row]
    # The original CDK design priced every task as Spot; the compute stack keeps one on-demand task as its base.
    as_the_cdk_table = sum(
        line.quantity * pricing.price(_spot_key(line)) if _spot_key(line) else line.monthly for line in cdk_lines
    )
    assert CDK_RANGE[0] <= as_the_cdk_table <= CDK_RANGE[1], as_the_cdk_table
    assert est.total > CDK_RANGE[1]  # what the original CDK design forgot is real money: docs/runbook.md says how much

    cost_section = _runbook_section("Cost")
    for line in est.lines:
        if line.seed_row is None or _spot_key(line):
            label = line.item.split(" (")[0]
            assert label in cost_section, f"docs/runbook.md's Cost section does not explain {label!r}"


def _spot_key(line: pricing.Line) -> str | None:
    if line.item.startswith("Fargate vCPU on-demand"):
        return "fargate_spot_vcpu_hour"
    if line.item.startswith("Fargate GB on-demand"):
        return "fargate_spot_gb_hour"
    return None


def _runbook_section(title: str) -> str:
    text = (ROOT / "docs" / "runbook.md").read_text()
    match = re.search(rf"^## {title}.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"docs/runbook.md has no '## {title}' section"
    return match.group(0)


def test_no_nat_removes_the_nat_lines_and_pays_for_every_tasks_public_address():
    with_nat, without = _estimate(), _estimate("prod", "nat_gateways=0")
    assert any("NAT" in line.item for line in with_nat.lines)
    assert not any("NAT" in line.item for line in without.lines)
    (task_ips,) = [line for line in without.lines if line.item.startswith("task public IPv4")]
    tasks = without.assumptions["average_tasks"]
    assert task_ips.quantity == pytest.approx(tasks * 730)
    assert task_ips.unit_price == pricing.price("public_ipv4_hour")
    assert not any(line.item.startswith("task public IPv4") for line in with_nat.lines)
    # Nothing else moves.
    rest = {k: v for k, v in _by_item(without).items() if k[1] != task_ips.item}
    assert rest == {k: v for k, v in _by_item(with_nat).items() if "NAT" not in k[1]}


def test_two_nat_gateways_pay_two_gateways_and_two_addresses():
    lines = _by_item(_estimate("prod", "nat_gateways=2"))
    assert lines[("network", "NAT gateway hours")].quantity == 2 * 730
    assert lines[("network", "NAT public IPv4 (Elastic IP)")].quantity == 2 * 730


def test_doubling_max_capacity_changes_only_the_lines_that_scale_with_tasks():
    for overrides in ((), ("nat_gateways=0",)):
        before = _by_item(_estimate("prod", *overrides))
        after = _by_item(_estimate("prod", *overrides, "max_capacity=6"))
        changed = {item for (_, item) in set(before) ^ set(after)}
        changed |= {item for key, line in before.items() if key in after and after[key] != line for item in [key[1]]}
        scaling = {item for item in changed if item.startswith(("Fargate ", "task public IPv4"))}
        assert changed == scaling and scaling, changed
    # min 1, max 3 -> 6: tasks on average go from 1 + 0.1 x 2 to 1 + 0.1 x 5.
    assert _estimate("prod", "max_capacity=6").assumptions["average_tasks"] == pytest.approx(1.5)


def test_the_capacity_split_follows_the_services_strategy():
    params = load_params("prod")
    rendered = pricing.rendered_templates()
    values = {key: cfn_parameter_values(key, params) for key in rendered}
    (_, service), = pricing.StackTemplate("compute", rendered, values).resources("AWS::ECS::Service")
    strategy = service["CapacityProviderStrategy"]
    assert pricing.capacity_split(1, strategy) == (1, 0)  # the on-demand base first
    assert pricing.capacity_split(4, strategy) == pytest.approx((2, 2))  # then 2 Spot : 1 on-demand
    cheaper = [{**item, "Base": 0} for item in strategy]
    assert pricing.capacity_split(3, cheaper) == pytest.approx((1, 2))


def test_waf_rules_alarms_and_dashboards_are_counted_from_the_templates():
    rendered = pricing.rendered_templates().get
    before = _by_item(_estimate())
    alarms = ("compute", "CloudWatch alarm metrics (incl. target tracking's)")
    dashboards = ("compute", "CloudWatch dashboards")
    waf_rules = len(rendered("waf")["Resources"]["WebAcl"]["Properties"]["Rules"])
    assert _by_item(_estimate())[("waf", "WAF rules and managed rule groups")].quantity == waf_rules

    def with_alarms(stack):
        template = copy.deepcopy(rendered(stack))
        if stack == "compute":
            alarm = {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}
            template["Resources"]["FirstAlarm"] = alarm
            template["Resources"]["SecondAlarm"] = alarm
            # Created only under a condition false for prod's values: not counted.
            template["Conditions"]["NeverInProd"] = {"Fn::Equals": [{"Ref": "ProjectName"}, "never"]}
            template["Resources"]["ConditionalAlarm"] = {**alarm, "Condition": "NeverInProd"}
            template["Resources"]["ExtraDashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}}
        return template

    lines = _by_item(pricing.monthly_estimate({key: with_alarms(key) for key in pricing.rendered_templates()},
                                              load_params("prod"), today=TODAY))
    assert lines[alarms].quantity == before[alarms].quantity + 2
    assert lines[alarms].monthly == pytest.approx((before[alarms].quantity + 2) * pricing.price("alarm_month"))
    assert lines[dashboards].quantity == before[dashboards].quantity + 1


def test_the_model_prices_deployed_parameter_values_as_it_prices_params_without_the_cli():
    """What a plan needs for its cost delta: the stacks as deployed (their templates and parameter values, as
    GetTemplate and DescribeStacks give them) priced by the same call as the stacks it would deploy."""
    params, wider = load_params("prod"), load_params("prod", ["max_capacity=6", "fargate_cpu=1024",
                                                              "fargate_memory=2048", "nat_gateways=0"])
    rendered = pricing.rendered_templates()
    deployed = {key: cfn_parameter_values(key, wider) for key in rendered}
    assert pricing.monthly_estimate(rendered, params, today=TODAY, values=deployed) == pricing.estimate(
        wider, today=TODAY)
    assert pricing.monthly_estimate(rendered, params, today=TODAY) == pricing.estimate(params, today=TODAY)
    # A plan of one stack prices that stack alone.
    only_waf = pricing.monthly_estimate({"waf": rendered["waf"]}, params, today=TODAY)
    assert {line.stack for line in only_waf.lines} == {"waf"}
    assert only_waf.assumptions["average_tasks"] == 0


def test_log_storage_follows_each_groups_retention():
    short, long = _by_item(_estimate("prod", "log_retention_days=14")), _by_item(_estimate("prod",
                                                                                         "log_retention_days=30"))
    (stored_14,) = [v for (s, item), v in short.items() if item.startswith("logs stored (ContainerLogGroup")]
    (stored_30,) = [v for (s, item), v in long.items() if item.startswith("logs stored (ContainerLogGroup")]
    assert stored_30.quantity == pytest.approx(stored_14.quantity * 30 / 14)
    assert not any("FlowLogGroup" in item for (_, item) in _by_item(_estimate("prod", "flow_logs=false")))


def test_old_prices_and_another_region_warn():
    params = load_params("prod")
    assert pricing.estimate(params, today=TODAY).warnings == ()
    (stale,) = pricing.estimate(params, today=datetime.date(2027, 12, 31)).warnings
    assert "396 days ago" in stale and "prices.yaml" in stale
    (region,) = _estimate("prod", "region=eu-west-1").warnings
    assert "us-east-1" in region and "eu-west-1" in region
    table = cost.render_table(pricing.estimate(params, today=datetime.date(2027, 12, 31)))
    assert table[-1] == f"warning: {stale}"


def test_prices_file_names_its_region_source_and_date_for_every_price():
    prices = pricing.load_prices()
    assert prices["region"] == "us-east-1"
    datetime.date.fromisoformat(prices["read"])
    for key, entry in prices["prices"].items():
        assert entry["price"] > 0 and entry["unit"], key
        assert entry["source"].startswith("https://aws.amazon.com/"), key
        assert entry["verified"], key


def test_table_shows_every_stack_subtotal_total_and_assumptions():
    est = _estimate()
    table = cost.render_table(est)
    assert table[0].split()[:2] == ["stack", "item"]
    for stack, lines in est.by_stack().items():
        subtotal = sum(line.monthly for line in lines)
        assert any(row.startswith(stack) and "subtotal" in row and row.endswith(f"${subtotal:,.2f}") for row in table)
    assert any(row.startswith("total") and row.endswith(f"${est.total:,.2f}") for row in table)
    assumptions = next(row for row in table if row.startswith("assumptions: "))
    assert "hours_per_month=730" in assumptions and "average_tasks=1.2" in assumptions
    assert "spot_share_of_tasks=" in assumptions


def test_json_shape_adds_up_and_is_deterministic():
    data = cost.to_json(_estimate())
    assert set(data) == {"env", "region", "currency", "prices", "stacks", "total", "assumptions", "warnings"}
    assert data["prices"] == {"region": "us-east-1", "read": pricing.load_prices()["read"], "file": "prices.yaml"}
    for stack in data["stacks"].values():
        for line in stack["lines"]:
            assert set(line) == {"item", "quantity", "unit", "unit_price", "monthly", "seed_row"}
        assert stack["subtotal"] == pytest.approx(sum(line["monthly"] for line in stack["lines"]), abs=1e-3)
    assert data["total"] == pytest.approx(sum(s["subtotal"] for s in data["stacks"].values()), abs=0.01)
    text = json.dumps(data, sort_keys=True)
    assert text == json.dumps(cost.to_json(_estimate()), sort_keys=True)
    assert cost.render_table(_estimate()) == cost.render_table(_estimate())


# ---- the verb: `deploy.py ENV cost` ---------------------------------------------------------------------


def test_cost_verb_prints_the_table_and_a_total_with_no_aws_call(no_aws):
    result = run(["prod", "cost"])
    assert result.code == 0, result.err
    est = pricing.estimate(load_params("prod"))
    lines = result.out.splitlines()
    assert lines == [line for line in cost.render_table(est) if not line.startswith("warning: ")]
    assert any(line.startswith("total") and line.endswith(f"${est.total:,.2f}") for line in lines)
    assert result.calls.names == [] and result.sessions == []  # no AWS session was even made


def test_cost_verb_json_parses_and_follows_the_overrides(no_aws):
    with_nat, without = run(["prod", "cost", "--json"]), run(["prod", "cost", "--json", "-p", "nat_gateways=0"])
    assert with_nat.code == without.code == 0, with_nat.err + without.err
    data, no_nat = json.loads(with_nat.out), json.loads(without.out)
    assert data == cost.to_json(pricing.estimate(load_params("prod")))
    items = {line["item"] for line in data["stacks"]["network"]["lines"]}
    assert {"NAT gateway hours", "NAT public IPv4 (Elastic IP)"} <= items
    no_nat_items = {line["item"] for stack in no_nat["stacks"].values() for line in stack["lines"]}
    assert not any("NAT" in item for item in no_nat_items)
    assert any(item.startswith("task public IPv4") for item in no_nat_items)


def test_cost_verb_says_its_warnings_on_stderr(no_aws):
    result = run(["prod", "cost", "-p", "region=eu-west-1"])
    assert result.code == 0
    assert "warning: prices are for us-east-1, the stacks are in eu-west-1" in result.err
    assert "warning" not in result.out
    as_json = run(["prod", "cost", "--json", "-p", "region=eu-west-1"])
    assert json.loads(as_json.out)["warnings"] and "eu-west-1" in as_json.err


@pytest.mark.parametrize(("argv", "names"), [
    (["prod", "cost", "-p", "nat_gateways=7"], ["nat_gateways=7", "0, 1, 2"]),
    (["prod", "cost", "--csv"], ["--csv"]),
    (["nope", "cost"], ["'nope'"]),
])
def test_cost_verb_bad_input_exits_2_in_one_line(argv, names, no_aws):
    result = run(argv)
    assert result.code == 2 and result.out == ""
    assert len(result.err.strip().splitlines()) == 1, result.err
    for name in names:
        assert name in result.err


def test_the_runbooks_cost_command_runs_as_written(no_aws):
    command = re.search(r"^python deploy\.py (\S+ cost)", _runbook_section("Cost"), flags=re.M).group(1)
    assert command == "prod cost"
    assert run(command.split()).code == 0
