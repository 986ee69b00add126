"""The parameter schema: what params files and -p overrides may say, and the
CloudFormation parameters declared from it."""

import re

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
    ("project_name=" + "a" * 31, "project_name='" + "a" * 31 + "' is 31 characters; allowed: at most 28"),
    ("image_tag=bad tag", "image_tag=bad tag is not allowed"),
    ("nat_gateways", "-p 'nat_gateways' is not key=value"),
])
def test_bad_overrides_name_key_value_and_what_is_allowed(override, expected):
    with pytest.raises(ParamError) as err:
        load_params("prod", [override])
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666"
ZONE = "Z0123456789TESTZONE"
NO_TLS = ["domain_name=", "hosted_zone_id=", "certificate_arn="]


@pytest.mark.parametrize("overrides", [
    ["domain_name=api.comafi.test", f"hosted_zone_id={ZONE}"],
    ["domain_name=api.comafi.test", "hosted_zone_id=", f"certificate_arn={ARN}"],
])
def test_prod_serves_https_by_either_way(overrides):
    values = load_params("prod", overrides)
    assert values["allow_plain_http"] is False and values["domain_name"] == "api.comafi.test"


@pytest.mark.parametrize("overrides", [
    NO_TLS,
    ["domain_name=", f"hosted_zone_id={ZONE}"],
    ["domain_name=api.comafi.test", "hosted_zone_id="],
])
def test_prod_without_its_tls_settings_is_refused_naming_the_two_ways(overrides):
    with pytest.raises(ParamError) as err:
        load_params("prod", overrides)
    message = str(err.value)
    assert message.startswith("prod serves HTTPS but has no ") and "\n" not in message
    assert "domain_name with certificate_arn" in message and "domain_name with hosted_zone_id" in message
    assert "allow_plain_http" not in message  # not a way out in prod


def test_prod_schema_refuses_plain_http():
    with pytest.raises(ParamError, match=r"^allow_plain_http=true is not allowed in prod"):
        load_params("prod", [*NO_TLS, "allow_plain_http=true"])
    assert "prod" in params.HTTPS_ONLY_ENVIRONMENTS


def test_dev_says_it_serves_plain_http_and_without_that_line_would_need_tls():
    assert load_params("dev")["allow_plain_http"] is True
    assert "allow_plain_http: true" in (params.PARAMS_DIR / "dev.yaml").read_text()
    with pytest.raises(ParamError, match=r"dev serves HTTPS but has no domain_name .* or allow_plain_http=true"):
        load_params("dev", ["allow_plain_http=false"])
    assert params.BY_KEY["allow_plain_http"].default is False  # TLS unless a params file names the exception


@pytest.mark.parametrize("overrides, expected", [
    ([f"certificate_arn={ARN}"], "certificate_arn and hosted_zone_id are both set; allowed: one of them"),
    (["domain_name=https://api.comafi.test"], "domain_name=https://api.comafi.test is not allowed"),
    (["hosted_zone_id=z123"], "hosted_zone_id=z123 is not allowed; allowed: empty or a Route 53 hosted zone id"),
])
def test_tls_settings_that_name_two_certificates_or_bad_values_are_refused(overrides, expected):
    with pytest.raises(ParamError, match=re.escape(expected)):
        load_params("prod", overrides)


def test_plain_http_never_half_configures_tls():
    with pytest.raises(ParamError, match=r"allow_plain_http=true serves HTTP only, yet domain_name is set"):
        load_params("dev", ["domain_name=api.comafi.test"])


def test_placeholders_are_what_prod_ships_with_and_dev_has_none():
    assert params.placeholders_left(load_params("prod").values) == ["account_id", "domain_name", "hosted_zone_id",
                                                                       "alarm_email"]
    assert load_params("prod")["domain_name"] == "api.example.com"  # RFC 2606: never anyone's API
    assert params.placeholders_left(load_params("prod", ["account_id=123456789012", "alarm_email=a@comafi.test",
                                                         "domain_name=api.comafi.test",
                                                         f"hosted_zone_id={ZONE}"]).values) == []
    assert params.placeholders_left(load_params("dev").values) == []
    # Each placeholder is a value its own schema accepts: the fresh clone renders.
    for param in SCHEMA:
        if param.placeholder is not None:
            assert param.parse(param.placeholder, from_cli=False) == param.placeholder, param.key


def test_query_limit_may_equal_but_not_exceed_the_general_limit():
    assert load_params("prod", ["waf_query_rate_limit=2000"])["waf_query_rate_limit"] == 2000
    with pytest.raises(ParamError, match=r"allowed: waf_query_rate_limit <= waf_rate_limit$"):
        load_params("prod", ["waf_rate_limit=50"])


def test_256_cpu_with_4096_memory_is_refused():
    with pytest.raises(ParamError, match=r"fargate_memory=4096 does not fit fargate_cpu=256; "
                                         r"Fargate allows: 512, 1024, 2048$"):
        load_params("prod", ["fargate_cpu=256", "fargate_memory=4096"])


def test_project_name_limit_comes_from_the_alb_name_and_then_the_bucket_name_and_region():
    # The ALB name "{project}-alb" is the tightest in us-east-1 (32 chars)...
    load_params("prod", ["project_name=" + "a" * 28])
    with pytest.raises(ParamError, match="load_balancer name"):
        load_params("prod", ["project_name=" + "a" * 29])
    # ...and the bucket name "{project}-unhandled-{account}-{region}" (63) where the region's name is longer.
    with pytest.raises(ParamError, match="at most 25, because the unhandled_bucket name"):
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
    # budget's amount deploy.py computes: templates/alerts.py; and every stack the digest of its own template:
    # templates/digest.py; the CI access stack, the promotion read's, derived from the other environment's file).
    filled_by_deploy = {contract.PERMISSIONS_BOUNDARY_PARAMETER, contract.IMAGE_DIGEST_PARAMETER,
                        contract.BUDGET_AMOUNT_PARAMETER, contract.TEMPLATE_DIGEST_PARAMETER,
                        *contract.PROMOTION_PARAMETERS}
    for key, parameters in declared.items():
        assert contract.TEMPLATE_DIGEST_PARAMETER in parameters, key
        assert set(parameters) - filled_by_deploy == {p.cfn_name for p in params.stack_parameters(key)}, key


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


# ---- prod's floors (issue: a Modify must not erase what prod keeps) ----

PROD_FLOORS = sorted(params.FLOORS[contract.PRODUCTION].items())


def just_below(key: str, floor: int) -> int:
    """The largest value the schema accepts below ``floor`` (retentions take CloudWatch's list of days)."""
    allowed = params.BY_KEY[key].allowed
    return max(v for v in allowed if v < floor) if allowed else floor - 1


@pytest.mark.parametrize(("key", "floor"), PROD_FLOORS, ids=[k for k, _ in PROD_FLOORS])
def test_each_prod_floor_refuses_below_and_accepts_at_the_limit(key, floor):
    below = just_below(key, floor)
    with pytest.raises(ParamError, match=rf"^{key}={below} is below prod's floor; allowed: at least {floor}"):
        load_params("prod", [f"{key}={below}"])
    assert load_params("prod", [f"{key}={floor}"])[key] == floor


@pytest.mark.parametrize(("key", "floor"), PROD_FLOORS, ids=[k for k, _ in PROD_FLOORS])
def test_dev_and_staging_keep_their_own_values_below_prods_floors(key, floor):
    for env in ("dev", "staging"):
        assert load_params(env, [f"{key}={just_below(key, floor)}"])[key] == just_below(key, floor)


def test_prod_needs_an_alarm_address_and_keeps_deletion_protection():
    with pytest.raises(ParamError, match="^alarm_email is empty; allowed in prod: an address that reads the alarms"):
        load_params("prod", ["alarm_email="])
    for key in ("alb_deletion_protection",):
        with pytest.raises(ParamError, match=rf"^{key}=false is not allowed in prod; allowed: true"):
            load_params("prod", [f"{key}=false"])
    assert load_params("dev", ["alarm_email=", "alb_deletion_protection=false"])["alarm_email"] == ""
