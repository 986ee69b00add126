"""The plan: which stacks, in which order, with which template, parameters and tags - checked before any AWS
call. No AWS here at all."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import yaml

import contract
import templates
from deployer.engine import plan
from deployer.errors import BadInput
from templates.params import cfn_parameter_values, load_params

Stack = templates.Stack


def fake_graph(*edges: tuple[str, tuple[str, ...]], optional: tuple[str, ...] = ()) -> list[templates.Stack]:
    return [Stack(key, deps, lambda: None, key in optional) for key, deps in edges]


# --- graph order and selection -------------------------------------------------------------------------------

def test_a_stack_s_level_is_one_above_the_highest_it_imports_from():
    graph = fake_graph(("a", ()), ("b", ("a",)), ("c", ()), ("d", ("b", "c")), ("e", ("a", "d")))
    assert plan.levels(graph) == {"a": 0, "b": 1, "c": 0, "d": 2, "e": 3}


def test_a_cycle_in_the_graph_is_named():
    graph = fake_graph(("a", ("c",)), ("b", ("a",)), ("c", ("b",)))
    with pytest.raises(ValueError, match=r"^stack graph has a cycle: a -> c -> b -> a$"):
        plan.levels(graph)


GRAPH = fake_graph(("network", ()), ("data", ()), ("compute", ("network", "data")), ("ci", ()), optional=("ci",))
ALLOWED = "allowed: network, data, compute, ci (optional)"


def test_without_stacks_every_stack_but_the_optional_ones_in_graph_order():
    assert [s.key for s in plan.select(GRAPH, None)] == ["network", "data", "compute"]


def test_named_stacks_come_in_graph_order_whatever_order_they_are_named_in():
    assert [s.key for s in plan.select(GRAPH, " compute , ci,,network ")] == ["network", "compute", "ci"]


@pytest.mark.parametrize(("names", "message"), [
    ("", f"--stacks is empty; {ALLOWED}"),
    (" , ", f"--stacks is empty; {ALLOWED}"),
    ("network,dat", f"--stacks: unknown stack 'dat'; {ALLOWED}"),
])
def test_bad_stacks_name_the_value_and_what_is_allowed(names, message):
    with pytest.raises(BadInput) as err:
        plan.select(GRAPH, names)
    assert str(err.value) == message


# --- the plan of each stack ----------------------------------------------------------------------------------

def test_each_plan_carries_its_rendered_template_values_tags_and_dependencies_among_the_selected():
    params = load_params("dev")
    selected = [s for s in templates.STACKS if s.key in ("data", "compute")]
    data, compute = plan.build(params, selected, templates.STACKS)
    assert (compute.key, compute.name) == ("compute", contract.stack_name(params.project, "compute"))
    assert compute.depends_on == ("data",)  # network is not selected: assumed deployed, not waited for
    assert (data.level, compute.level) == (0, 1)
    assert compute.body == templates.render(templates.BY_KEY["compute"].build())
    assert compute.template == plan.parse_template(compute.body) and compute.template["Resources"]
    # The schema's values, the permissions boundary and budget the schema does not feed, with their defaults
    # (the run fills the boundary in once the CI stack exists; deploy.py's cli the budget: test_alerts.py),
    # and the SHA-256 of the body, which the stack records.
    boundary = {contract.PERMISSIONS_BOUNDARY_PARAMETER: "", contract.BUDGET_AMOUNT_PARAMETER: "0"}
    assert compute.parameters == {**cfn_parameter_values("compute", params), **boundary,
                                  contract.TEMPLATE_DIGEST_PARAMETER: hashlib.sha256(compute.body.encode()).hexdigest()}
    assert data.parameters == {**cfn_parameter_values("data", params),  # declares no parameter of its own
                               contract.TEMPLATE_DIGEST_PARAMETER: hashlib.sha256(data.body.encode()).hexdigest()}
    assert compute.tags == data.tags == contract.stack_tags(params.project, "dev")
    assert not compute.termination_protection  # dev: deletable


def test_only_protected_environments_get_termination_protection():
    assert plan.PROTECTED_ENVIRONMENTS == ("prod",)
    net = [templates.BY_KEY["network"]]
    assert plan.build(load_params("prod"), net, templates.STACKS)[0].termination_protection


# --- templates as data ---------------------------------------------------------------------------------------

def test_short_form_intrinsics_read_as_their_long_form():
    body = """
Resources:
  Vpc: {Type: AWS::EC2::VPC, Condition: IsProd}
Outputs:
  A: {Value: !Ref Vpc}
  B: {Value: !GetAtt Vpc.CidrBlock}
  C: {Value: !GetAtt [Vpc, DefaultSecurityGroup]}
  H: {Value: !GetAtt Redis.Endpoint.Address}
  D: {Value: !Sub ['${X}-y', {X: !Ref Vpc}]}
  E: {Value: !If [IsProd, !Select [0, !GetAZs ''], !Ref 'AWS::NoValue']}
  F: {Value: !Join [',', [a, b]], Condition: !Condition IsProd}
  G: {Value: !Base64 {Fn::Sub: x}}
"""
    out = plan.parse_template(body)["Outputs"]
    assert out["A"]["Value"] == {"Ref": "Vpc"}
    assert out["B"]["Value"] == {"Fn::GetAtt": ["Vpc", "CidrBlock"]}
    assert out["C"]["Value"] == {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]}
    # The first dot ends the logical id; the rest is the attribute, dots and all (CloudFormation's reading).
    assert out["H"]["Value"] == {"Fn::GetAtt": ["Redis", "Endpoint.Address"]}
    assert out["D"]["Value"] == {"Fn::Sub": ["${X}-y", {"X": {"Ref": "Vpc"}}]}
    assert out["E"]["Value"] == {"Fn::If": ["IsProd", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Ref": "AWS::NoValue"}]}
    assert out["F"]["Condition"] == {"Condition": "IsProd"}
    assert out["G"]["Value"] == {"Fn::Base64": {"Fn::Sub": "x"}}


def test_parsing_is_safe():
    with pytest.raises(yaml.YAMLError):
        plan.parse_template("x: !!python/object/apply:os.system ['true']")


@pytest.mark.parametrize(("body", "values", "message"), [
    ("Resources: {}\n", {}, "k: template has no Resources"),
    ("Parameters: {}\n", {}, "k: template has no Resources"),
    ("Resources: {R: {Type: T}}\nParameters: {A: {Type: String}, B: {Type: String, Default: b}}\n", {"C": "c"},
     "k: template parameters do not match params.py (no value for ['A'], undeclared ['C'])"),
    ("Resources: {R: {Type: T}}\n", {"C": "c"},
     "k: template parameters do not match params.py (no value for [], undeclared ['C'])"),
    ("Resources: {R: {Type: T}}\nParameters: {A: {Type: String}}\n", {},
     "k: template parameters do not match params.py (no value for ['A'], undeclared [])"),
])
def test_a_template_that_cannot_be_deployed_is_a_bug_named_before_any_aws_call(body, values, message):
    with pytest.raises(ValueError) as err:
        plan._check_template("k", body, plan.parse_template(body), values)
    assert str(err.value) == message


def test_a_template_fits_up_to_cloudformation_s_s3_limit():
    body = "Resources: {R: {Type: T}}\nParameters: {A: {Type: String}, B: {Type: String, Default: b}}\n"
    plan._check_template("k", body, plan.parse_template(body), {"A": "a"})  # declared, defaulted: fine
    padded = body + "#" * (plan.MAX_S3_TEMPLATE_BYTES - len(body))
    plan._check_template("k", padded, plan.parse_template(body), {"A": "a"})
    with pytest.raises(ValueError, match=r"^k: template is 1000001 bytes; CloudFormation accepts at most 1000000$"):
        plan._check_template("k", padded + "#", plan.parse_template(body), {"A": "a"})
    assert (plan.MAX_BODY_BYTES, plan.MAX_S3_TEMPLATE_BYTES) == (51_200, 1_000_000)


def test_a_parameter_the_run_fills_in_reaches_only_the_stacks_that_declare_it():
    params = load_params("dev")
    plans = plan.build(params, list(templates.STACKS[:4]), templates.STACKS)
    boundary = "arn:aws:iam::123456789012:policy/ia-comafi-dev-boundary"
    given = plan.with_parameter(plans, contract.PERMISSIONS_BOUNDARY_PARAMETER, boundary)
    declaring = {p.key for p in plans if plan.declares(p, contract.PERMISSIONS_BOUNDARY_PARAMETER)}
    assert declaring == {"network", "compute"}  # the stacks with roles
    for before, after in zip(plans, given, strict=True):
        expected = {**before.parameters, contract.PERMISSIONS_BOUNDARY_PARAMETER: boundary}
        assert after.parameters == (expected if before.key in declaring else before.parameters), before.key
        assert after.body == before.body and after.key == before.key
    assert not plan.declares(dataclasses.replace(plans[0], template={}), contract.PERMISSIONS_BOUNDARY_PARAMETER)


def test_a_parameter_outside_the_schema_is_sent_with_the_template_s_own_default():
    """DescribeStacks lists every declared parameter, defaulted ones with their default: the plan must hold
    the same, or a no-op deploy would never be "unchanged"."""
    from troposphere import Parameter, Template
    from troposphere.ssm import Parameter as SsmParameter

    def build():
        t = Template()
        templates.params.add_parameters(t, contract.DATA)
        t.add_parameter(Parameter("Extra", Type="String", Default="as-declared"))
        t.add_resource(SsmParameter("Value", Type="String", Value="v"))
        return t

    stack = templates.Stack(contract.DATA, (), build)
    (built,) = plan.build(load_params("dev"), [stack], [stack])
    assert built.parameters == {**cfn_parameter_values(contract.DATA, load_params("dev")), "Extra": "as-declared"}
