"""A deploy that changes nothing: deploy.py beside `aws cloudformation deploy` and `sceptre launch`.

    python bench/deploy_noop.py [--repeat N]

Starts LocalStack (testkit/emulator.py; or uses AWS_ENDPOINT_URL), deploys
the real stacks once with deploy.py (dev, nat_gateways=0: LocalStack cannot make a
NAT gateway), then times N no-change runs of each tool on exactly the same
templates, parameters and tags, counting the AWS API calls each makes:

- deploy.py: skips an unchanged stack from its DescribeStacks alone (the template digest it records), no
  GetTemplate, no change set;
- naive: `aws cloudformation deploy` once per stack, in graph order, as a CI script
  would: it always creates a change set and waits for "no changes";
- sceptre: `sceptre launch` of a Sceptre project pointing at the same stacks
  (its own virtualenv .tools/sceptre, since it pins its own dependencies).

Every tool runs as its own process (start-up included, as in CI). Calls are
counted inside each process with a botocore hook (deploy.py, sceptre) or from
`aws --debug` (the AWS CLI). LocalStack computes change sets synchronously, so
its wall times understate what a change set costs on AWS (there, seconds per
stack): the call and change-set counts are the numbers that carry over.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCEPTRE_PYTHON = ROOT / ".tools" / "sceptre" / "bin" / "python"
# The AWS CLI of `scripts/setup.sh --bench`, else whatever `aws` is on PATH.
AWS_CLI = str(ROOT / ".tools" / "awscli" / "bin" / "aws") if (ROOT / ".tools" / "awscli").exists() else "aws"


# --- the three tools, each one process ----------------------------------------------------------------------

# What a deploy asks besides one DescribeStacks per stack, even when nothing changes (deployer/verbs/deploy.py):
# STS, the ECR image, the CI stack's role and boundary, the data stack's policy (deployer/engine/flow.keep_policy).
PREFLIGHT_CALLS = 4


def run_ours(argv: list[str]) -> int:
    """(In a child process) deploy.py's main through the shared harness (testkit/harness.py): calls counted,
    ECR answered (not in community LocalStack), the real event poll delay."""
    sys.path.insert(0, str(ROOT))
    from deployer.engine import events
    from testkit import harness

    # Stack policies and ECR's images (answered at the HTTP boundary) outlive each child process, as AWS keeps
    # them between deploys (the image compute runs, and its release tag).
    policies = Path(os.environ["BENCH_CALLS_FILE"]).with_name("stack-policies.json")
    images = policies.with_name("ecr-images.json")
    if policies.exists():
        harness.STACK_POLICIES.bodies.update(json.loads(policies.read_text()))
    if images.exists():
        harness.REGISTRY.images.update(json.loads(images.read_text()))
    result = harness.run_emulated(argv, poll_delay=events.POLL_DELAY, summary_path=None)
    policies.write_text(json.dumps(harness.STACK_POLICIES.bodies))
    images.write_text(json.dumps(harness.REGISTRY.images))
    sys.stdout.write(result.out)
    sys.stderr.write(result.err)
    Path(os.environ["BENCH_CALLS_FILE"]).write_text(json.dumps(result.calls.names))
    return result.code


def run_sceptre(argv: list[str]) -> int:
    """(In a child process, sceptre's virtualenv) sceptre's CLI with every botocore call counted."""
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        calls.append(f"{self.meta.service_model.service_name}.{operation}")
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counted
    from sceptre.cli import cli

    try:
        cli.main(args=argv, prog_name="sceptre", standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    except Exception as exc:  # sceptre's own error: report it, the bench prints it
        print(f"sceptre failed: {exc!r}", file=sys.stderr)
        code = 1
    Path(os.environ["BENCH_CALLS_FILE"]).write_text(json.dumps(calls))
    return code


def timed(cmd: list[str], env: dict, cwd: Path) -> tuple[float, int, str, list[str]]:
    calls_file = Path(tempfile.mktemp(prefix="bench-calls-"))
    start = time.perf_counter()
    proc = subprocess.run(cmd, env={**env, "BENCH_CALLS_FILE": str(calls_file)}, cwd=cwd, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - start
    calls = json.loads(calls_file.read_text()) if calls_file.exists() else []
    calls_file.unlink(missing_ok=True)
    return elapsed, proc.returncode, proc.stdout + proc.stderr, calls


def naive_once(plans, workdir: Path, env: dict, bucket: str) -> tuple[float, int, str, list[str]]:
    """`aws cloudformation deploy` per stack, in graph order; calls from its --debug log. Templates go through
    ``bucket``, as the CLI requires for one over 51,200 bytes (compute's)."""
    total, output, calls, code = 0.0, "", [], 0
    for plan in plans:
        template = workdir / f"{plan.key}.yaml"
        cmd = [AWS_CLI, "--debug", "cloudformation", "deploy", "--stack-name", plan.name, "--template-file",
               str(template), "--s3-bucket", bucket, "--capabilities", "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM",
               "--no-fail-on-empty-changeset",
               "--parameter-overrides", *[f"{k}={v}" for k, v in plan.parameters.items()],
               "--tags", *[f"{k}={v}" for k, v in plan.tags.items()]]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        total += time.perf_counter() - start
        code = code or proc.returncode
        output += proc.stdout + proc.stderr[-2000:]
        for line in proc.stderr.splitlines():
            if "Making request for OperationModel(name=" in line:
                calls.append(line.split("OperationModel(name=")[1].split(")")[0])
    return total, code, output, calls


def sceptre_project(workdir: Path, project: str, plans) -> Path:
    """A Sceptre project over the same templates, parameters, tags, stack names and dependencies."""
    import yaml

    base = workdir / "sceptre"
    (base / "config" / "dev").mkdir(parents=True)
    (base / "templates").mkdir()
    (base / "config" / "config.yaml").write_text(yaml.safe_dump({"project_code": project, "region": "us-east-1"}))
    for plan in plans:
        shutil.copy(workdir / f"{plan.key}.yaml", base / "templates" / f"{plan.key}.yaml")
        config = {
            "template": {"type": "file", "path": f"{plan.key}.yaml"},
            "stack_name": plan.name,
            "parameters": dict(plan.parameters),
            "stack_tags": dict(plan.tags),
            "dependencies": [f"dev/{d}.yaml" for d in plan.depends_on],
        }
        (base / "config" / "dev" / f"{plan.key}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return base


# --- the run ------------------------------------------------------------------------------------------------

def summarise(name: str, runs: list[tuple[float, int, str, list[str]]], stacks: int) -> dict:
    calls = runs[-1][3]
    return {
        "tool": name,
        "ok": all(code == 0 for _, code, _, _ in runs),
        "median_s": statistics.median(t for t, _, _, _ in runs),
        "calls": len(calls),
        "per_stack": sum(1 for c in calls if "DescribeImages" not in c and "GetCallerIdentity" not in c) / stacks,
        "change_sets": sum(1 for c in calls if c.endswith("CreateChangeSet")),
        "stack_updates": sum(1 for c in calls if c.endswith("UpdateStack")),
        "by_operation": {op: calls.count(op) for op in sorted(set(calls))},
        "output": runs[-1][2],
    }


def bench(endpoint: str, repeat: int) -> int:
    sys.path.insert(0, str(ROOT))
    import boto3

    import contract
    import templates
    from deployer.engine import plan as plan_module
    from templates.params import load_params
    from testkit import emulator

    env = {k: v for k, v in os.environ.items() if k not in emulator.CLEARED_ENV}
    env.update(emulator.CLIENT_ENV, AWS_ENDPOINT_URL=endpoint, PYTHONPATH=str(ROOT))
    os.environ.update(env)
    project = f"bench{uuid.uuid4().hex[:6]}"
    args = ["dev", "-p", f"project_name={project}", "-p", "nat_gateways=0"]
    params = load_params("dev", args[2::2])
    plans = plan_module.build(params, plan_module.select(templates.STACKS, None), templates.STACKS)
    workdir = Path(tempfile.mkdtemp(prefix="bench-noop-"))
    for p in plans:
        (workdir / f"{p.key}.yaml").write_text(p.body)

    ours_cmd = [sys.executable, str(Path(__file__).resolve()), "--run-ours", *args, "--yes"]
    t, code, out, _ = timed(ours_cmd, env, ROOT)
    print(f"setup: first deploy of {len(plans)} stacks with deploy.py: {t:.1f} s, exit {code}")
    if code != 0:
        print(out)
        return 1

    results = [summarise("deploy.py", [timed(ours_cmd, env, ROOT) for _ in range(repeat)], len(plans))]
    # The other tools deploy the same parameters, compute's image digest (which deploy.py resolved) included.
    compute = next(p for p in plans if plan_module.declares(p, contract.IMAGE_DIGEST_PARAMETER))
    deployed = boto3.client("cloudformation").describe_stacks(StackName=compute.name)["Stacks"][0]["Parameters"]
    digest = next(p["ParameterValue"] for p in deployed if p["ParameterKey"] == contract.IMAGE_DIGEST_PARAMETER)
    plans = plan_module.with_parameter(plans, contract.IMAGE_DIGEST_PARAMETER, digest)

    if shutil.which(AWS_CLI):
        bucket = f"{project}-naive-templates"
        boto3.client("s3").create_bucket(Bucket=bucket)
        results.append(summarise("aws cloudformation deploy (naive)",
                                 [naive_once(plans, workdir, env, bucket) for _ in range(repeat)], len(plans)))
    else:
        print("naive: the AWS CLI (`aws`) is not installed here (bash scripts/setup.sh --bench); not measured")

    if SCEPTRE_PYTHON.exists():
        base = sceptre_project(workdir, project, plans)
        cmd = [str(SCEPTRE_PYTHON), str(Path(__file__).resolve()), "--run-sceptre", "--dir", str(base),
               "launch", "-y", "dev"]
        results.append(summarise("sceptre launch", [timed(cmd, env, base) for _ in range(repeat)], len(plans)))
    else:
        print(f"sceptre: {SCEPTRE_PYTHON} not found; create it with: bash scripts/setup.sh --bench")

    print(f"\nno-change deploy of {len(plans)} stacks against LocalStack, median of {repeat} runs, "
          "each tool as its own process:\n")
    head = f"{'tool':<34} {'ok':<4} {'wall s':>7} {'API calls':>10} {'per stack*':>11} {'change sets':>12} " \
           f"{'stack updates':>14}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['tool']:<34} {'yes' if r['ok'] else 'NO':<4} {r['median_s']:>7.2f} {r['calls']:>10} "
              f"{r['per_stack']:>11.1f} {r['change_sets']:>12} {r['stack_updates']:>14}")
    print("* per stack: CloudFormation calls only (deploy.py's pre-flight, STS + ECR, is once per deploy)\n")
    for r in results:
        print(f"{r['tool']}: {r['by_operation']}")
        if not r["ok"]:
            print(f"  {r['tool']} FAILED; its output:\n{r['output'][-3000:]}")
    ours = results[0]
    gets = ours["by_operation"].get("cloudformation.GetTemplate", 0)
    fastest = min(results, key=lambda r: r["median_s"])
    print(f"\ntargets: zero change sets: {'met' if ours['change_sets'] == 0 else 'MISSED'}; "
          f"<= 1 read per unchanged stack, no GetTemplate (plus {PREFLIGHT_CALLS}: STS, the ECR image, the CI "
          f"stack's role and boundary, the data stack's policy): "
          f"{'met' if ours['calls'] - PREFLIGHT_CALLS <= len(plans) and not gets else 'MISSED'}; "
          f"fastest: {'met' if fastest is ours else 'MISSED (' + fastest['tool'] + ')'}")
    print("note: LocalStack answers change sets synchronously; on AWS each of the naive way's change sets "
          "takes seconds, so its real cost is higher than these times show. `aws cloudformation deploy` also "
          "leaves each empty change set behind (FAILED, no DeleteChangeSet above).")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r["ok"] for r in results) else 1


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--run-ours":
        return run_ours(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--run-sceptre":
        return run_sceptre(sys.argv[2:])
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    sys.path.insert(0, str(ROOT))
    from testkit import emulator

    if os.environ.get("AWS_ENDPOINT_URL"):
        return bench(os.environ["AWS_ENDPOINT_URL"], repeat)
    try:
        with emulator.localstack() as endpoint:
            return bench(endpoint, repeat)
    except emulator.Unavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
