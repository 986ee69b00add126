"""The task definition and the app agree: every variable and secret the task sets is a
setting of the app, the values the params files give it parse as the setting's type to
the value meant, and the app's own defaults agree with the task's unless the contract
says why not. Names come from contract.py and the rendered template, never from here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import contract
from app.settings import Settings
from templates import params as schema

ENVIRONMENTS = sorted(p.stem for p in Path(schema.PARAMS_DIR).glob("*.yaml"))
TASK_NAMES = (*contract.CONTAINER_ENVIRONMENT, *contract.SECRET_KEYS)


def _field(name: str) -> str:
    # Settings is case-insensitive: the variable FOO_BAR is the field foo_bar.
    return name.lower()


def _settings_from(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> Settings:
    for name in TASK_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings()


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _computed_value(name: str, params: schema.Params) -> tuple[str, object]:
    """The value the template computes for a variable with no params key (raw string, expected setting)."""
    samples = {
        "AWS_DEFAULT_REGION": params["region"],
        "S3_BUCKET_UNHANDLED": contract.resource_name("unhandled_bucket", params.project, "123456789012",
                                                      params["region"]),
    }
    assert name in samples, f"{name} is computed by the template: add how to compute it to this test"
    return samples[name], samples[name]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_variable_and_secret_is_a_setting(name):
    assert _field(name) in Settings.model_fields, (
        f"the task definition sets {name}, but app/settings.py has no field {_field(name)}: "
        "the app would silently run on a default"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_params_values_parse_as_the_settings_types(env, monkeypatch):
    params = schema.load_params(env)
    raw: dict[str, str] = {}
    expected: dict[str, object] = {}
    for name, key in contract.CONTAINER_ENVIRONMENT.items():
        if key is None:
            raw[name], expected[name] = _computed_value(name, params)
        else:
            # What the task definition receives: the CloudFormation parameter's string.
            raw[name] = schema.BY_KEY[key].cfn_value(params[key])
            expected[name] = params[key]
    for key, placeholder in contract.SECRET_KEYS.items():
        value = placeholder if placeholder is not None else "G3nerated-Passw0rd"
        raw[key] = expected[key] = value
    settings = _settings_from(monkeypatch, raw)
    for name, want in expected.items():
        got = _plain(getattr(settings, _field(name)))
        if isinstance(got, int | float) and not isinstance(got, bool) and isinstance(want, str):
            want = type(got)(want)  # a secret holds text: REDIS_PORT "6379" is the port 6379
        assert got == want, f"{env}: {name}={raw[name]!r} reads as {got!r}, expected {want!r}"


def _differs(name: str, key: str) -> bool:
    return _plain(Settings.model_fields[_field(name)].default) != schema.BY_KEY[key].default


def test_local_defaults_differ_only_where_the_contract_says_why():
    differing = {name for name, key in contract.CONTAINER_ENVIRONMENT.items() if key and _differs(name, key)}
    assert differing <= set(contract.LOCAL_DEFAULTS_DIFFER), (
        f"app/settings.py defaults differ from the params schema for {sorted(differing)}: make them agree, or "
        "say why in contract.LOCAL_DEFAULTS_DIFFER"
    )
    assert set(contract.LOCAL_DEFAULTS_DIFFER) <= differing, (
        f"contract.LOCAL_DEFAULTS_DIFFER lists {sorted(set(contract.LOCAL_DEFAULTS_DIFFER) - differing)}, "
        "whose defaults agree"
    )


def test_task_definition_sets_exactly_the_contract_names():
    from templates import compute

    resources = compute.build().to_dict()["Resources"]
    [task] = [r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    [container] = task["Properties"]["ContainerDefinitions"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert sorted(environment) == sorted(contract.CONTAINER_ENVIRONMENT)
    assert sorted(s["Name"] for s in container["Secrets"]) == sorted(contract.SECRET_KEYS)
    # A variable with a params key carries that key's CloudFormation parameter, so the values
    # checked above are the values the task gets.
    for name, key in contract.CONTAINER_ENVIRONMENT.items():
        if key is not None:
            assert environment[name] == {"Ref": schema.BY_KEY[key].cfn_name}, name
