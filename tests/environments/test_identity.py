"""One identity per environment: params/ENV.yaml is ENV, names derive from it once, and no two environments
share a name (one would deploy onto the other's stacks)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import contract
from templates.params import PARAMS_DIR, ParamError, load_params
from testkit import harness

ENVIRONMENTS = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def names(env: str) -> set[str]:
    return contract.every_name(load_params(env).project)


def stack_names(env: str) -> list[str]:
    project = load_params(env).project
    return [contract.stack_name(project, s.key) for s in contract.STACKS]


def test_prod_keeps_the_original_names_byte_for_byte():
    # Live stacks: renaming one would make CloudFormation create a second stack beside it.
    assert stack_names("prod") == ["ia-comafi-network", "ia-comafi-data", "ia-comafi-compute", "ia-comafi-waf",
                                   "ia-comafi-github-oidc"]
    assert stack_names("dev") == ["ia-comafi-dev-network", "ia-comafi-dev-data", "ia-comafi-dev-compute",
                                  "ia-comafi-dev-waf", "ia-comafi-dev-github-oidc"]


def test_staging_exists_and_its_names_are_its_own():
    assert "staging" in ENVIRONMENTS
    assert stack_names("staging")[0] == "ia-comafi-staging-network"
    assert load_params("staging")["environment"] == "staging"


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(ENVIRONMENTS, 2)))
def test_no_two_params_files_share_a_stack_export_or_resource_name(a, b):
    shared = names(a) & names(b)
    assert not shared, f"params/{a}.yaml and params/{b}.yaml would share {sorted(shared)}"


# What every environment's file needs besides the point of each test: TLS (prod's schema refuses plain HTTP).
TLS = {"prod": "domain_name: api.ia-comafi.test\nhosted_zone_id: Z0123456789TESTZONE\nalarm_email: a@ia-comafi.test\n"}


def write(tmp: Path, env: str, text: str) -> Path:
    (tmp / f"{env}.yaml").write_text(text + TLS.get(env, "allow_plain_http: true\n"))
    return tmp


def test_a_file_that_names_another_environment_is_refused_naming_both(tmp_path):
    write(tmp_path, "staging", "account_id: '111111111111'\nenvironment: dev\n")
    with pytest.raises(ParamError) as err:
        load_params("staging", params_dir=tmp_path)
    message = str(err.value)
    assert "environment='dev' contradicts the file's environment 'staging'" in message
    assert "allowed: environment: staging, or leave it out" in message
    # Saying its own name is fine.
    write(tmp_path, "staging", "account_id: '111111111111'\nenvironment: staging\n")
    assert load_params("staging", params_dir=tmp_path).project == "ia-comafi-staging"


def test_a_file_whose_names_are_another_environments_is_refused_naming_it(tmp_path):
    write(tmp_path, "prod", "account_id: '111111111111'\n")
    write(tmp_path, "qa", "project_name: ia-comafi\n")  # prod's names, as the staging.yaml had
    with pytest.raises(ParamError) as err:
        load_params("qa", params_dir=tmp_path)
    message = str(err.value)
    assert f"gives environment 'qa' the names of {tmp_path / 'prod.yaml'} (project_name='ia-comafi')" in message
    assert "leave it out: ia-comafi-qa" in message
    # and the other way round: prod refuses qa's claim on its names too
    with pytest.raises(ParamError, match="the names of .*qa.yaml"):
        load_params("prod", params_dir=tmp_path)


def test_a_release_environment_must_pin_its_account(tmp_path):
    write(tmp_path, "staging", "region: us-east-1\n")
    with pytest.raises(ParamError, match="account_id is empty; allowed: the 12-digit account staging deploys to"):
        load_params("staging", params_dir=tmp_path)
    write(tmp_path, "dev", "region: us-east-1\n")
    assert load_params("dev", params_dir=tmp_path)["account_id"] == ""  # dev may leave it out


@pytest.mark.parametrize(("argv", "words"), [
    (["staging", "status", "-p", "environment=prod"], ["environment='prod' contradicts", "'staging'"]),
    (["dev", "status", "-p", "project_name=ia-comafi"], ["project_name='ia-comafi'", "prod.yaml"]),
    (["staging", "diff", "-p", "project_name=ia-comafi-dev"], ["project_name='ia-comafi-dev'", "dev.yaml"]),
])
def test_on_the_command_line_a_contradiction_or_a_collision_exits_2_before_any_aws_call(argv, words):
    result = harness.run(argv, account=None)
    assert result.code == 2, result.out + result.err
    assert result.err.count("\n") == 1 and all(w in result.err for w in words), result.err
    assert result.sessions == [] and list(result.calls) == []


def test_the_template_parameter_carries_each_environments_prefix():
    from templates.params import cfn_parameter_values

    for env in ENVIRONMENTS:
        params = load_params(env)
        for stack in contract.STACKS:
            assert cfn_parameter_values(stack.key, params)[contract.PROJECT_PARAMETER] == params.project

