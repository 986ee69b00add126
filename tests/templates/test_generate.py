"""generate.py as its users run it."""

import json
import subprocess
import sys

import pytest
from troposphere import Template, sqs

import generate
import templates
from tests.tools import ROOT


def run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "generate.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_writes_templates_and_parameter_files_and_lints_clean(tmp_path):
    result = run("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    stacks = [s.key for s in templates.STACKS]
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == sorted(f"{s}.yaml" for s in stacks)
    network = json.loads((tmp_path / "prod" / "network.parameters.json").read_text())
    assert {"ParameterKey": "NatGateways", "ParameterValue": "1"} in network
    header, *rows = [line.split() for line in result.stdout.splitlines()[: len(stacks) + 1]]
    assert header == ["stack", "resources", "parameters", "outputs", "bytes", "findings"]
    assert [row[0] for row in rows] == stacks
    assert all(row[-1] == "0" for row in rows)
    assert int(rows[0][4]) == (tmp_path / "network.yaml").stat().st_size
    # The fresh clone's prod renders HTTPS with its placeholders (which deploy.py then refuses).
    compute = {p["ParameterKey"]: p["ParameterValue"]
               for p in json.loads((tmp_path / "prod" / "compute.parameters.json").read_text())}
    assert (compute["AllowPlainHttp"], compute["DomainName"]) == ("false", "api.example.com")


def test_same_input_same_bytes(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run("dev", "--no-lint", "--out", str(first)).returncode == 0
    assert run("dev", "--no-lint", "--out", str(second)).returncode == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_environments_share_templates_and_differ_in_parameters(tmp_path):
    run("prod", "--no-lint", "--out", str(tmp_path))
    prod_network = (tmp_path / "network.yaml").read_bytes()
    run("dev", "--no-lint", "--out", str(tmp_path))
    assert (tmp_path / "network.yaml").read_bytes() == prod_network
    dev = json.loads((tmp_path / "dev" / "network.parameters.json").read_text())
    assert {"ParameterKey": "NatGateways", "ParameterValue": "0"} in dev


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "fargate_cpus=512"], "unknown key 'fargate_cpus'; did you mean fargate_cpu?"),
    (["-p", "fargate_cpu=333"], "fargate_cpu=333 is not allowed; allowed: 256, 512, 1024, 2048, 4096"),
    (["-p", "fargate_cpu=256", "-p", "fargate_memory=4096"], "fargate_memory=4096 does not fit fargate_cpu=256"),
    (["-p", "min_capacity=5", "-p", "max_capacity=3"], "min_capacity=5 is greater than max_capacity=3"),
    (["-p", "nat_gateways=3"], "nat_gateways=3 is not allowed; allowed: 0, 1, 2"),
    (["-p", "waf_rate_limit=5"], "waf_rate_limit=5 is not allowed"),
    (["-p", "project_name=" + "x" * 40], "is 40 characters; allowed: at most 28"),
    (["qa"], "no such params file for environment 'qa'; known environments: dev, prod, staging"),
    (["prod", "-p", "domain_name=", "-p", "hosted_zone_id="], "prod serves HTTPS but has no domain_name and no "
     "certificate_arn or hosted_zone_id; allowed: domain_name with certificate_arn (an existing ACM certificate), "
     "or domain_name with hosted_zone_id"),
    (["prod", "-p", "allow_plain_http=true"], "allow_plain_http=true is not allowed in prod"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    result = run(*args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("generate.py: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_lint_findings_exit_1_and_are_printed(tmp_path, monkeypatch, capsys):
    broken = Template()
    broken.add_resource(sqs.Queue("Queue", DelaySeconds=9000))
    monkeypatch.setattr(templates, "build_all", lambda: {"broken": broken})
    assert generate.main(["--out", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "broken.yaml:" in out.err and "9000" in out.err
