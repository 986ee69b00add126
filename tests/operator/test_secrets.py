"""`secrets set` / `secrets keys` against moto's Secrets Manager; the restart it triggers against a stubbed
ECS client (moto's ECS never rolls a deployment out: see test_restart.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

import contract
from deployer.verbs import secrets as app_secrets
from testkit.placeholders import PROD
from tests.operator.conftest import (
    PROJECT,
    REGION,
    SERVICE_PARAMS,
    Pipe,
    Tty,
    client,
    deployment,
    describe_services,
    run,
    service,
)

SECRET = f"{PROJECT}/app-secrets"
CURRENT = {"LANGCHAIN_API_KEY": "lsv2-current-key", "REDIS_HOST": "redis.old.internal", "REDIS_PORT": "6379",
           "REDIS_PASSWORD": "current-redis-password", "LEGACY_FLAG": "kept-too"}
NEW_HOST = "redis-7f3a.new.internal"
NEW_PASSWORD = "n3w-pa55word-from-stdin"


@pytest.fixture
def secret(moto):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name=SECRET, SecretString=json.dumps(CURRENT))
    return sm


def stored(sm) -> dict:
    return json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])


def versions(sm) -> int:
    return len(sm.list_secret_version_ids(SecretId=SECRET)["Versions"])


def stubbed_restart() -> tuple:
    """An ECS client that expects exactly: is the service there, force a deployment, wait, look."""
    ecs = client("ecs")
    stub = Stubber(ecs)
    new = "ecs-svc/9999999999999999999"
    rolling = service([deployment(new, "PRIMARY", 7, 0), deployment("ecs-svc/1", "ACTIVE", 7, 1,
                                                                     rollout="COMPLETED")])
    done = service([deployment(new, "PRIMARY", 7, 1, rollout="COMPLETED")])
    stub.add_response("describe_services", describe_services(done), SERVICE_PARAMS)
    stub.add_response("update_service", {"service": rolling},
                      {"cluster": f"{PROJECT}-cluster", "service": f"{PROJECT}-api", "forceNewDeployment": True})
    stub.add_response("describe_services", describe_services(rolling), SERVICE_PARAMS)
    stub.add_response("describe_services", describe_services(done), SERVICE_PARAMS)
    stub.add_response("describe_services", describe_services(done), SERVICE_PARAMS)
    return ecs, stub


def test_set_merges_keeps_every_other_key_and_restarts_without_printing_values(secret, capsys, monkeypatch):
    ecs, stub = stubbed_restart()
    with stub:
        result = run([*PROD, "secrets", "set", f"REDIS_HOST={NEW_HOST}", "REDIS_PASSWORD=-"],
                     clients={"ecs": ecs}, stdin=Pipe(NEW_PASSWORD + "\n"))
        stub.assert_no_pending_responses()
    assert result.code == 0, result.out + result.err
    after = stored(secret)
    assert after == {**CURRENT, "REDIS_HOST": NEW_HOST, "REDIS_PASSWORD": NEW_PASSWORD}  # stdin minus its newline
    assert "ecs.UpdateService" in result.calls  # the restart the new values need
    assert result.calls.index("secretsmanager.PutSecretValue") < result.calls.index("ecs.UpdateService")
    for value in (NEW_HOST, NEW_PASSWORD, *CURRENT.values()):
        if value != "6379":
            assert value not in result.out + result.err
    assert "set REDIS_HOST, REDIS_PASSWORD (other keys kept)" in result.out


def test_value_typed_on_a_terminal_is_read_without_echo(secret, capsys, monkeypatch):
    prompts = []

    def getpass(prompt):
        prompts.append(prompt)
        return "typed-key-value"

    monkeypatch.setattr(app_secrets.getpass, "getpass", getpass)
    result = run([*PROD, "secrets", "set", "LANGCHAIN_API_KEY=-", "--no-restart"],
                 stdin=Tty(""))
    assert result.code == 0, result.out + result.err
    assert prompts == ["LANGCHAIN_API_KEY (not echoed): "]
    assert stored(secret)["LANGCHAIN_API_KEY"] == "typed-key-value"
    assert "typed-key-value" not in result.out + result.err
    assert "ecs.UpdateService" not in result.calls and "not restarted" in result.out


def test_unknown_key_is_refused_naming_the_allowed_keys_and_nothing_is_written(secret, capsys, monkeypatch):
    before = versions(secret)
    result = run([*PROD, "secrets", "set", "REDIS_HOST=x", "OPENAI_KEY=sk-should-not-show"])
    assert result.code == 2
    assert "'OPENAI_KEY'" in result.err and ", ".join(tuple(contract.SECRET_KEYS)) in result.err
    assert "sk-should-not-show" not in result.out + result.err
    assert result.calls == [] and versions(secret) == before and stored(secret) == CURRENT


def test_same_value_writes_nothing_and_does_not_restart(secret, capsys, monkeypatch):
    before = versions(secret)
    result = run([*PROD, "secrets", "set", f"REDIS_HOST={CURRENT['REDIS_HOST']}"])
    assert result.code == 0
    assert versions(secret) == before
    assert "PutSecretValue" not in " ".join(result.calls) and "ecs.UpdateService" not in result.calls
    assert "already set to that value: REDIS_HOST" in result.out


def test_no_service_yet_sets_the_value_and_says_the_first_tasks_read_it(secret, capsys, monkeypatch):
    result = run([*PROD, "secrets", "set", "REDIS_PORT=6380"])  # moto: no cluster
    assert result.code == 0, result.out
    assert stored(secret)["REDIS_PORT"] == "6380"
    assert "not deployed: its first tasks will read the new values" in result.out


def test_a_secret_that_is_not_a_json_object_is_not_overwritten_nor_shown(moto, capsys, monkeypatch):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name=SECRET, SecretString="plain-text-password-xyz")
    result = run([*PROD, "secrets", "set", "REDIS_HOST=h"])
    assert result.code == 1
    assert "not a JSON object" in result.err
    assert "plain-text-password-xyz" not in result.out + result.err
    assert sm.get_secret_value(SecretId=SECRET)["SecretString"] == "plain-text-password-xyz"


def test_keys_lists_names_and_states_never_values(moto, capsys, monkeypatch):
    sm = boto3.client("secretsmanager", region_name=REGION)
    # What the data stack creates, REDIS_HOST set since, LANGCHAIN_API_KEY still the placeholder.
    initial = app_secrets.template_values()
    sm.create_secret(Name=SECRET, SecretString=json.dumps(
        {**initial, "REDIS_HOST": "real-host-abc", "EXTRA": "extra-value-abc"}))
    result = run([*PROD, "secrets", "keys"])
    assert result.code == 0
    rows = {line.split()[0]: line for line in result.out.splitlines() if line.split() and line.split()[0].isupper()}
    assert "never set" in rows["LANGCHAIN_API_KEY"]
    assert rows["REDIS_HOST"].split(None, 1)[1] == "set"
    assert "MISSING" in rows["REDIS_PASSWORD"]  # generated by the template, gone here: ECS would refuse tasks
    assert "not read by the task definition" in rows["EXTRA"]
    assert "real-host-abc" not in result.out and "extra-value-abc" not in result.out
    assert all(v not in result.out for v in initial.values() if v != "6379")


def test_missing_secret_says_deploy_data_first(moto, capsys, monkeypatch):
    result = run([*PROD, "secrets", "keys"])
    assert result.code == 1
    assert f"secret {SECRET} does not exist; deploy the data stack first" in result.err


def test_allowed_keys_are_the_ones_the_task_definition_reads():
    # One source: the keys set accepts are the Secrets of compute's container definition.
    from templates import compute

    container = compute.build().resources["TaskDefinition"].properties["ContainerDefinitions"][0]
    assert tuple(s.properties["Name"] for s in container.properties["Secrets"]) == tuple(contract.SECRET_KEYS)


# ---- REDIS_PORT against params' redis_port (the tasks' egress rule) ----

def test_setting_a_redis_port_the_egress_rule_does_not_allow_warns_but_writes(secret, capsys, monkeypatch):
    result = run([*PROD, "secrets", "set", "REDIS_PORT=6380", "--no-restart"])
    assert result.code == 0, result.err
    [warning] = [line for line in result.out.splitlines() if "warning:" in line]
    assert "REDIS_PORT" in warning and "redis_port (6379)" in warning  # params/prod.yaml's, the default
    assert stored(secret)["REDIS_PORT"] == "6380"  # a warning, not a refusal


def test_a_redis_port_matching_the_param_says_nothing_and_keys_warns_on_a_mismatch(secret, capsys, monkeypatch):
    agreed = run([*PROD, "secrets", "set", "REDIS_PORT=6380", "-p", "redis_port=6380", "--no-restart"])
    assert agreed.code == 0, agreed.err
    assert "warning:" not in agreed.out
    keys = run([*PROD, "secrets", "keys"])  # params say 6379, the secret now 6380
    assert keys.code == 0, keys.err
    assert [line for line in keys.out.splitlines() if "warning:" in line and "redis_port (6379)" in line]
    assert "6380" not in keys.out  # the secret's value is not printed, even a port
    assert "warning:" not in run([*PROD, "secrets", "keys", "-p", "redis_port=6380"]).out
