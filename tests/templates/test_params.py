"""The parameter schema: what params files and -p overrides may say, and the
CloudFormation parameters declared from it."""

import pytest

import contract
import templates
from templates import params
from templates.params import FARGATE_MEMORY, SCHEMA, ParamError, load_params


def test_prod_has_the_cdk_defaults():
    prod = load_params("prod")
    cdk_defaults = {"project_name": "ia-comafi", "environment": "prod", "image_tag": "latest", "nat_gateways": 1,
            "fargate_cpu": 512, "fargate_memory": 1024, "min_capacity": 1, "max_capacity": 3,
            "waf_rate_limit": 2000}
    assert {k: prod[k] for k in cdk_defaults} == cdk_defaults
    assert prod["region"] == "us-east-1"
    assert prod["bedrock_model_id"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert prod["log_retention_days"] == 14
    assert prod["unhandled_expiry_days"] == 90


def test_dev_is_cheaper():
    dev, prod = load_params("dev"), load_params("prod")
    assert dev["nat_gateways"] == 0 and dev["max_capacity"] == 1
    assert dev["fargate_cpu"] < prod["fargate_cpu"] and dev["fargate_memory"] < prod["fargate_memory"]
    assert dev.project != prod.project, "dev and prod in one account must not share stack names"


def test_overrides_are_typed():
    p = load_params("prod", ["fargate_cpu=1024", "fargate_memory=2048", "cache_enabled=false", "image_tag=abc1234"])
    assert (p["fargate_cpu"], p["fargate_memory"], p["cache_enabled"], p["image_tag"]) == (1024, 2048, False, "abc1234")


@pytest.mark.parametrize(("override", "expected"), [
    ("fargate_cpus=1024", "unknown key 'fargate_cpus'; did you mean fargate_cpu?"),
    ("fargate_cpu=big", "fargate_cpu=big is a string, expected integer (256, 512, 1024, 2048, 4096)"),
    ("fargate_cpu=333", "fargate_cpu=333 is not allowed; allowed: 256, 512, 1024, 2048, 4096"),
    ("fargate_memory=8192", "fargate_memory=8192 does not fit fargate_cpu=512"),
    ("min_capacity=5", "min_capacity=5 is greater than max_capacity=3"),
    ("nat_gateways=3", "nat_gateways=3 is not allowed; allowed: 0, 1, 2"),
    ("waf_rate_limit=5", "waf_rate_limit=5 is not allowed; allowed: an integer from 10 to 2000000000"),
    ("waf_query_rate_limit=9", "waf_query_rate_limit=9 is not allowed; allowed: an integer from 10 to 2000000000"),
    ("waf_query_rate_limit=2001", "waf_query_rate_limit=2001 is greater than waf_rate_limit=2000"),
    ("waf_log_retention_days=10", "waf_log_retention_days=10 is not allowed; allowed: 1, 3, 5, 7, 14, 30"),
    ("cache_enabled=maybe", "cache_enabled=maybe is a string, expected boolean (true or false)"),
    ("project_name=Comafi", "project_name=Comafi is not allowed"),
    ("project_name=" + "a" * 31, "project_name='" + "a" * 31 + "' is 31 characters; allowed: at most 30"),
    ("image_tag=bad tag", "image_tag=bad tag is not allowed"),
    ("nat_gateways", "-p 'nat_gateways' is not key=value"),
])
def test_bad_overrides_name_key_value_and_what_is_allowed(override, expected):
    with pytest.raises(ParamError) as err:
        load_params("prod", [override])
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_certificate_needs_the_domain_it_covers():
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666"
    with pytest.raises(ParamError, match="certificate_arn is set but domain_name is empty"):
        load_params("prod", [f"certificate_arn={arn}"])
    assert load_params("prod", [f"certificate_arn={arn}", "domain_name=api.example.com"])["domain_name"] == (
        "api.example.com")
    with pytest.raises(ParamError, match="domain_name=https://api.example.com is not allowed"):
        load_params("prod", ["domain_name=https://api.example.com"])


def test_query_limit_may_equal_but_not_exceed_the_general_limit():
    assert load_params("prod", ["waf_query_rate_limit=2000"])["waf_query_rate_limit"] == 2000
    with pytest.raises(ParamError, match=r"allowed: waf_query_rate_limit <= waf_rate_limit$"):
        load_params("prod", ["waf_rate_limit=50"])


def test_256_cpu_with_4096_memory_is_refused():
    with pytest.raises(ParamError, match=r"fargate_memory=4096 does not fit fargate_cpu=256; "
                                         r"Fargate allows: 512, 1024, 2048$"):
        load_params("prod", ["fargate_cpu=256", "fargate_memory=4096"])


def test_project_name_limit_comes_from_the_bucket_name_and_region():
    # The bucket name "{project}-unhandled-{account}-{region}" is the tightest (63 chars).
    load_params("prod", ["project_name=" + "a" * 30])
    with pytest.raises(ParamError, match="unhandled_bucket name"):
        load_params("prod", ["project_name=" + "a" * 31])
    with pytest.raises(ParamError, match="at most 25"):
        load_params("prod", ["region=ap-southeast-2", "project_name=" + "a" * 26])


def test_bad_files(tmp_path):
    (tmp_path / "broken.yaml").write_text("nat_gateways: [1\n")
    (tmp_path / "listy.yaml").write_text("- 1\n")
    (tmp_path / "typo.yaml").write_text("max_capacty: 3\n")
    (tmp_path / "bool.yaml").write_text("nat_gateways: true\n")
    cases = {
        "broken": "broken.yaml: line 2: not valid YAML",
        "listy": "expected a mapping of key: value, got a list",
        "typo": "unknown key 'max_capacty'; did you mean max_capacity?",
        "bool": "nat_gateways=true is a boolean, expected integer (0, 1, 2)",
        "missing": "no such params file for environment 'missing'; known environments: bool, broken, listy, typo",
    }
    for env, expected in cases.items():
        with pytest.raises(ParamError) as err:
            load_params(env, params_dir=tmp_path)
        assert expected in str(err.value), env


def test_every_default_passes_its_own_constraints():
    for param in SCHEMA:
        assert param.parse(param.default, from_cli=False) == param.default, param.key


def test_cfn_parameters_carry_the_schema_constraints():
    declared = {key: t.parameters for key, t in templates.build_all().items()}
    compute = {name: p.to_dict() for name, p in declared["compute"].items()}
    assert compute["FargateCpu"]["AllowedValues"] == ["256", "512", "1024", "2048", "4096"]
    assert compute["FargateMemory"]["MinValue"] == 512 and compute["FargateMemory"]["MaxValue"] == 30720
    assert compute["CacheEnabled"]["AllowedValues"] == ["true", "false"]
    assert compute["LogRetentionDays"]["AllowedValues"][:5] == ["1", "3", "5", "7", "14"]
    waf = {name: p.to_dict() for name, p in declared["waf"].items()}
    assert (waf["WafRateLimit"]["MinValue"], waf["WafRateLimit"]["MaxValue"]) == (10, 2000000000)
    assert (waf["WafQueryRateLimit"]["MinValue"], waf["WafQueryRateLimit"]["MaxValue"]) == (10, 2000000000)
    # A stack declares exactly the schema keys that name it (and, if it has roles, the permissions boundary
    # deploy.py passes: templates/boundary.py; if it runs the image, the digest deploy.py resolves; compute, the
    # budget's amount deploy.py computes: templates/alerts.py).
    passed = {contract.PERMISSIONS_BOUNDARY_PARAMETER, contract.IMAGE_DIGEST_PARAMETER,
              contract.BUDGET_AMOUNT_PARAMETER}
    for key, parameters in declared.items():
        assert set(parameters) - passed == {
            p.cfn_name for p in params.stack_parameters(key)}, key


def test_each_stack_gets_only_its_parameters():
    prod = load_params("prod")
    assert params.cfn_parameter_values("network", prod) == {
        "ProjectName": "ia-comafi", "NatGateways": "1", "FlowLogs": "true", "FlowLogsRetentionDays": "30",
    }
    assert params.cfn_parameter_values("data", prod) == {"ProjectName": "ia-comafi", "UnhandledExpiryDays": "90"}


def test_fargate_table_matches_what_cfn_accepts():
    memory = SCHEMA[[p.key for p in SCHEMA].index("fargate_memory")]
    every = {m for fits in FARGATE_MEMORY.values() for m in fits}
    assert (min(every), max(every)) == (memory.min, memory.max)
