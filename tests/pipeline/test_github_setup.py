"""scripts/github_setup.sh against a fake ``gh`` that keeps the repository's environments as GitHub would:
what it sets, that a second run changes nothing, and that the script, the workflow and the CI roles' trust
name the same environments, branch and workflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import contract
from templates import github_oidc, params
from testkit.tools import ROOT

SCRIPT = ROOT / "scripts" / "github_setup.sh"
REPO = "comafi/ia-comafi"

# A gh that answers `gh api [--method M] PATH [--input -] [-f k=v] [--jq EXPR]` from a JSON state file,
# logging each call; --jq is applied for the two reads the script makes.
FAKE_GH = r'''#!PYTHON
import json, sys
state_path, log_path = sys.argv[0] + ".state", sys.argv[0] + ".log"
args = sys.argv[2:]
method, fields, jq, body = "GET", {}, None, None
path = None
i = 0
while i < len(args):
    a = args[i]
    if a == "--method": method = args[i + 1]; i += 2; continue
    if a == "--jq": jq = args[i + 1]; i += 2; continue
    if a == "--input": body = json.loads(sys.stdin.read()); i += 2; continue
    if a == "-f": k, v = args[i + 1].split("=", 1); fields[k] = v; i += 2; continue
    path = a; i += 1
state = json.load(open(state_path))
with open(log_path, "a") as log:
    log.write(json.dumps([method, path, body or fields]) + "\n")
parts = path.split("/")
if parts[0] == "users":
    print(state["ids"][parts[1]]); sys.exit(0)
if parts[0] == "orgs":
    print(state["ids"][parts[3]]); sys.exit(0)
env = parts[4]
if method == "PUT":
    state["environments"][env] = body
elif parts[-1] == "deployment-branch-policies" and method == "GET":
    for p in state["policies"].get(env, []):
        print(f"{p['id']} {p['type']} {p['name']}")
elif method == "POST":
    policies = state["policies"].setdefault(env, [])
    policies.append({"id": 100 + len(policies), **fields})
elif method == "DELETE":
    state["policies"][env] = [p for p in state["policies"][env] if str(p["id"]) != parts[-1]]
json.dump(state, open(state_path, "w"))
'''


@pytest.fixture
def gh(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gh"
    fake.write_text(FAKE_GH.replace("PYTHON", sys.executable))
    fake.chmod(0o755)
    Path(f"{fake}.state").write_text(json.dumps({"ids": {"alice": 7, "release-approvers": 9},
                                                 "environments": {}, "policies": {}}))
    return fake


def run(gh: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{gh.parent}{os.pathsep}{os.environ['PATH']}", "PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def state(gh: Path) -> dict:
    return json.loads(Path(f"{gh}.state").read_text())


def calls(gh: Path) -> list[list]:
    log = Path(f"{gh}.log")
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_it_sets_each_release_environments_branch_and_prods_reviewers(gh):
    done = run(gh, REPO, "user:alice", "team:release-approvers")
    assert done.returncode == 0, done.stderr
    environments = state(gh)["environments"]
    plan = contract.plan_environment(contract.PRODUCTION)
    assert set(environments) == {*contract.RELEASE_ENVIRONMENTS, plan}
    branch_rule = {"protected_branches": False, "custom_branch_policies": True}
    assert environments["prod"] == {"wait_timer": 0, "prevent_self_review": True, "deployment_branch_policy":
                                    branch_rule, "reviewers": [{"type": "User", "id": 7}, {"type": "Team", "id": 9}]}
    assert environments["staging"] == {"wait_timer": 0, "prevent_self_review": False, "reviewers": [],
                                       "deployment_branch_policy": branch_rule}
    # The plan job's environment: the branch rule, no reviewers (a plan changes nothing; the apply is reviewed).
    assert environments[plan] == environments["staging"]
    for env in (*contract.RELEASE_ENVIRONMENTS, plan):
        assert [(p["type"], p["name"]) for p in state(gh)["policies"][env]] == [("branch", "master")]


def test_a_second_run_changes_nothing_and_a_stray_branch_rule_goes(gh):
    assert run(gh, REPO, "user:alice").returncode == 0
    first = state(gh)
    before = len(calls(gh))
    assert run(gh, REPO, "user:alice").returncode == 0
    assert state(gh) == first
    assert not [c for c in calls(gh)[before:] if c[0] in ("POST", "DELETE")]  # PUTs are GitHub's upsert
    # Someone added a branch rule by hand: the next run removes it, and keeps master's.
    s = state(gh)
    s["policies"]["prod"].append({"id": 555, "type": "branch", "name": "feature/*"})
    Path(f"{gh}.state").write_text(json.dumps(s))
    assert run(gh, REPO, "user:alice").returncode == 0
    assert [p["name"] for p in state(gh)["policies"]["prod"]] == ["master"]


@pytest.mark.parametrize("args", [[], ["comafi"], [REPO], [REPO, "alice"]])
def test_bad_arguments_exit_2_before_any_change(gh, args):
    done = run(gh, *args)
    assert done.returncode == 2
    assert not [c for c in calls(gh) if c[0] != "GET"]


def test_script_workflow_and_trust_name_the_same_environments_branch_and_workflow(gh):
    """The environments the script protects are the deploy jobs' environments, and each is the one its
    account's deploy role trusts, from deploy.yml on the branch the script restricts them to."""
    assert run(gh, REPO, "user:alice").returncode == 0
    protected = {env: [p["name"] for p in policies] for env, policies in state(gh)["policies"].items()}
    workflow = yaml.safe_load((ROOT / contract.DEPLOY_WORKFLOW).read_text())
    branches = workflow[True]["push"]["branches"]
    job_environments = {job["environment"]: name for name, job in workflow["jobs"].items() if "environment" in job}
    plan_environments = {contract.plan_environment(contract.PRODUCTION)}
    assert set(job_environments) == set(protected) == set(contract.RELEASE_ENVIRONMENTS) | plan_environments
    for env in contract.RELEASE_ENVIRONMENTS:
        p = params.load_params(env)
        assert protected[env] == branches == [p["github_branch"]]
        trust = _trust(p, "GithubDeployRole")
        assert trust[f"{github_oidc.GITHUB_OIDC_HOST}:sub"] == f"repo:{REPO}:environment:{env}"
        assert trust[f"{github_oidc.GITHUB_OIDC_HOST}:job_workflow_ref"] == \
            f"{REPO}/{contract.DEPLOY_WORKFLOW}@refs/heads/{branches[0]}"
        plan = _trust(p, "GithubPlanRole")
        assert plan[f"{github_oidc.GITHUB_OIDC_HOST}:sub"] == \
            f"repo:{REPO}:environment:{contract.plan_environment(env)}"
        assert plan[f"{github_oidc.GITHUB_OIDC_HOST}:job_workflow_ref"] == \
            trust[f"{github_oidc.GITHUB_OIDC_HOST}:job_workflow_ref"]
        if env == contract.PRODUCTION:  # the plan job runs in the environment the plan role trusts
            assert job_environments[contract.plan_environment(env)] == "plan-prod"
            assert protected[contract.plan_environment(env)] == branches
        build = _trust(p, "GithubBuildRole")
        assert build[f"{github_oidc.GITHUB_OIDC_HOST}:sub"] == f"repo:{REPO}:ref:refs/heads/{branches[0]}"
        assert build[f"{github_oidc.GITHUB_OIDC_HOST}:job_workflow_ref"] == \
            trust[f"{github_oidc.GITHUB_OIDC_HOST}:job_workflow_ref"]


def _trust(p: params.Params, role: str) -> dict[str, str]:
    """The role's trust condition as CloudFormation resolves it for this environment's stack (its Fn::Sub
    over the stack's parameters, with github_repo set)."""
    template = github_oidc.build().to_dict()
    values = {**params.cfn_parameter_values(contract.CI_ACCESS, p), "GithubRepo": REPO}
    (statement,) = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    resolved = {}
    for key, value in statement["Condition"]["StringEquals"].items():
        text = value["Fn::Sub"] if isinstance(value, dict) else value
        for name, v in values.items():
            text = text.replace("${" + name + "}", v)
        resolved[key] = text
    return resolved
