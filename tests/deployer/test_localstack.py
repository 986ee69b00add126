"""The deployer, unchanged, against LocalStack's CloudFormation (see conftest.py).

The real stacks where it matters (first deploy, no-op, one parameter, diff);
small test templates for failures, recovery, S3 and the rest, where the real
stacks would be slow or cannot fail on purpose.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from troposphere import Export, ImportValue, Output, Ref, Template
from troposphere.s3 import Bucket
from troposphere.ssm import Parameter as SsmParameter

import contract
import templates
from deployer.engine import stack_policy
from templates import params
from templates.compute import add_image_digest_parameter
from testkit import fakes, harness
from testkit.placeholders import PROD

pytestmark = pytest.mark.usefixtures("localstack")


def cfn():
    return boto3.client("cloudformation", region_name="us-east-1")


def status(name: str) -> str | None:
    """The stack's status; None only on AWS's own answer for "no such stack" (any other error is the test's)."""
    try:
        return cfn().describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        error = exc.response["Error"]
        if error["Code"] == "ValidationError" and "does not exist" in error["Message"]:
            return None
        raise


def lines_with(out: str, *words: str) -> list[str]:
    return [line for line in out.splitlines() if all(w in line for w in words)]


# --- the real stacks ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real(localstack_endpoint):
    """One project for the ordered real-stack tests below; nat_gateways=0 (LocalStack cannot make a NAT)."""
    import uuid

    return ["dev", "-p", f"project_name=r{uuid.uuid4().hex[:8]}", "-p", "nat_gateways=0"]


def test_first_deploy_of_every_stack_from_nothing(real):
    sent = fakes.SentChangeSets()
    result = harness.run_emulated([*real, "--yes"], extra_hooks=sent.hooks)
    assert result.code == 0, result.out
    project = real[2].split("=")[1]
    keys = [s.key for s in templates.STACKS if not s.optional]
    for key in keys:
        assert status(contract.stack_name(project, key)) == "CREATE_COMPLETE"
        assert lines_with(result.out, f"[{key}]", "CREATE_COMPLETE")
    assert result.calls.count("CreateChangeSet") == len(keys)
    assert result.calls.count("ecr.DescribeImages") == 1  # the image resolved once, before anything changed
    # compute runs the digest params' `latest` named, and that digest now carries its release tag.
    repository = contract.resource_name("repository", project)
    latest = harness.REGISTRY.digest(repository, "latest")
    assert deployed_parameter(contract.stack_name(project, contract.COMPUTE), contract.IMAGE_DIGEST_PARAMETER) == latest
    assert result.calls.count("ecr.PutImage") == 1
    assert [t for t in harness.REGISTRY.tags(repository, latest) if t.startswith("release-dev-")]
    # Exactly the exports the contract says each stack exports, each by that stack.
    exporting = {e["Name"]: e["ExportingStackId"] for page in cfn().get_paginator("list_exports").paginate()
                 for e in page["Exports"] if e["Name"].startswith(f"{project}-")}
    expected = {contract.export_name(project, output): key for key, outputs in contract.EXPORTS.items()
                for output in outputs}
    assert set(exporting) == set(expected)
    for name, key in expected.items():
        stack_id = cfn().describe_stacks(StackName=contract.stack_name(project, key))["Stacks"][0]["StackId"]
        assert exporting[name] == stack_id, name
    # compute started only after network and data were done, waf after compute
    order = [line.split("]")[0][1:] for line in result.out.splitlines() if "executing" in line]
    assert order.index("compute") > max(order.index("network"), order.index("data"))
    assert order.index("waf") > order.index("compute")
    # The data stack's policy is set once it exists (LocalStack community has no SetStackPolicy: the harness
    # answers it at the HTTP boundary, and remembers the body the deployer sent).
    data = contract.stack_name(project, contract.DATA)
    assert harness.STACK_POLICIES.bodies[data] == stack_policy.body(stack_policy.policy(contract.DATA))
    assert lines_with(result.out, "[data]", "stack policy set")
    assert result.calls.count("SetStackPolicy") == 1  # only the data stack protects anything
    # A create has no alarms to be watched by yet: an explicit empty list (with the monitoring time) for the
    # stacks that have rollback-trigger outputs, nothing for the others.
    [compute] = sent[contract.stack_name(project, contract.COMPUTE)]
    assert fakes.triggers(compute) == [] and compute["RollbackConfiguration.MonitoringTimeInMinutes"] == "5"
    [network] = sent[contract.stack_name(project, contract.NETWORK)]
    assert fakes.triggers(network) is None


def test_second_run_changes_nothing_and_creates_no_change_set(real):
    result = harness.run_emulated([*real, "--yes"])
    assert result.code == 0, result.out
    keys = [s.key for s in templates.STACKS if not s.optional]
    assert result.calls.count("CreateChangeSet") == 0
    cfn_calls = [n for n in result.calls.names if n.startswith("cloudformation.")]
    # DescribeStacks + GetTemplate per stack, one DescribeStacks of the CI access stack (its boundary), one of
    # compute for the image it keeps (pre-flight), GetStackPolicy of the data stack (current: not set again).
    assert len(cfn_calls) <= 2 * len(keys) + 3, cfn_calls
    assert lines_with(result.out, "mode: admin (no CI access stack")
    assert result.calls.count("GetStackPolicy") == 1 and result.calls.count("SetStackPolicy") == 0
    # ECR: the kept image looked up once (by digest); it is released already, so nothing is tagged.
    assert [c for c in result.calls if c.startswith("ecr.")] == ["ecr.DescribeImages"]
    for key in keys:
        assert lines_with(result.out, f"[{key}]", "unchanged")
    # Nothing executed, nothing to record: the release ledger is not even looked for.
    assert [c for c in result.calls if c.startswith("s3.")] == [], result.calls.names


def test_list_shows_levels_and_statuses(real):
    result = harness.run_emulated([real[0], "list", *real[1:]])
    assert result.code == 0, result.out
    levels = {"network": "0", "data": "0", "compute": "1", "waf": "2"}
    for key, level in levels.items():
        [row] = [line.split() for line in result.out.splitlines() if line.split()[1:2] == [key]]
        assert row[0] == level and row[3] == "CREATE_COMPLETE", row
    assert result.calls.count("CreateChangeSet") == 0


def test_diff_exit_codes(real):
    project = real[2].split("=")[1]
    same = harness.run_emulated([*real, "diff"])
    assert same.code == 0, same.out
    assert same.calls.count("CreateChangeSet") == 0
    changed = harness.run_emulated([*real, "diff", "-p", "unhandled_expiry_days=45"])
    assert changed.code == 3, changed.out
    assert changed.calls.count("CreateChangeSet") == 1
    assert lines_with(changed.out, "[data]", "UnhandledExpiryDays", "90", "45")
    data = contract.stack_name(project, "data")
    assert cfn().list_change_sets(StackName=data)["Summaries"] == []  # printed, then deleted
    assert status(data) == "CREATE_COMPLETE"


def test_a_parameter_change_updates_exactly_one_stack(real, tmp_path):
    summary = tmp_path / "summary.md"
    # 90 -> 30 days deletes the older queries: a data-loss change, executed only once accepted.
    result = harness.run_emulated([*real, "--yes", "--accept", "data-loss", "-p", "unhandled_expiry_days=30"],
                                  summary_path=str(summary))
    assert result.code == 0, result.out
    assert result.calls.count("CreateChangeSet") == 1
    assert result.calls.count("ExecuteChangeSet") == 1
    assert lines_with(result.out, "[data]", "UnhandledExpiryDays", "90", "30")
    assert lines_with(result.out, "data", "updated")
    assert len(lines_with(result.out, "unchanged")) >= 3
    # GitHub step summary: the change set as a Markdown table
    text = summary.read_text()
    assert "| Action | Logical id | Type | Replacement |" in text and "UnhandledExpiryDays" in text


def test_a_compute_update_is_watched_by_its_alarm_and_image_tag_changes_its_digest(real):
    project = real[2].split("=")[1]
    compute = contract.stack_name(project, contract.COMPUTE)
    alarm_arn = cfn().describe_stacks(StackName=compute)["Stacks"][0]["Outputs"]
    [alarm_arn] = [o["OutputValue"] for o in alarm_arn if o["OutputKey"] == contract.RELEASE_HEALTH_ALARM_ARN]
    sent = fakes.SentChangeSets()
    result = harness.run_emulated([*real, "--yes", "--image-tag", "v1", "-p", "alarm_cpu_percent=80"],
                                  extra_hooks=sent.hooks)
    assert result.code == 0, result.out
    [form] = sent[compute]
    assert fakes.triggers(form) == [alarm_arn]
    assert form["RollbackConfiguration.RollbackTriggers.member.1.Type"] == "AWS::CloudWatch::Alarm"
    assert form["RollbackConfiguration.MonitoringTimeInMinutes"] == "5"
    v1 = harness.REGISTRY.digest(contract.resource_name("repository", project), "v1")
    assert lines_with(result.out, "[compute]", "ImageDigest", "latest (sha256:", f"v1 ({v1[:15]}...)")
    assert deployed_parameter(compute, contract.IMAGE_DIGEST_PARAMETER) == v1


def test_a_parameter_change_without_image_tag_keeps_the_running_image(real):
    project = real[2].split("=")[1]
    compute = contract.stack_name(project, contract.COMPUTE)
    v1 = deployed_parameter(compute, contract.IMAGE_DIGEST_PARAMETER)
    shown = f"v1 ({v1[:15]}...)"
    diff = harness.run_emulated([*real, "diff", "-p", "alarm_cpu_percent=70"])
    assert diff.code == 3, diff.out
    assert lines_with(diff.out, "[compute]", "ImageDigest", f"{shown} (kept)")
    assert not lines_with(diff.out, "latest")  # no v1 -> latest surprise
    result = harness.run_emulated([*real, "--yes", "-p", "alarm_cpu_percent=70"])
    assert result.code == 0, result.out
    assert lines_with(result.out, f"image {shown} (kept")  # the pre-flight looked up the kept digest
    assert lines_with(result.out, "[compute]", "ImageDigest", f"{shown} (kept)")
    assert lines_with(result.out, "[compute]", "AlarmCpuPercent", "80", "70")
    assert deployed_parameter(compute, contract.IMAGE_DIGEST_PARAMETER) == v1
    assert deployed_parameter(compute, "AlarmCpuPercent") == "70"


def deployed_parameter(stack: str, key: str) -> str:
    [value] = [p["ParameterValue"] for p in cfn().describe_stacks(StackName=stack)["Stacks"][0]["Parameters"]
               if p["ParameterKey"] == key]
    return value


def ci_access_standin(project: str, boundary_name: str) -> templates.Stack:
    """The CI access stack as the deployer sees it: its two outputs. The boundary is a real managed policy
    (LocalStack's IAM checks a role's PermissionsBoundary names one); the execution role an ARN only
    (LocalStack does not assume the RoleARN it is given)."""
    from troposphere.iam import ManagedPolicy

    def build() -> Template:
        t = Template(Description="deployer test: CI access")
        params.add_parameters(t, contract.CI_ACCESS)
        policy = t.add_resource(ManagedPolicy("Boundary", ManagedPolicyName=boundary_name, PolicyDocument={
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
        t.add_output(Output(contract.EXECUTION_ROLE_OUTPUT, Value=execution_role(project)))
        t.add_output(Output(contract.PERMISSIONS_BOUNDARY_OUTPUT, Value=Ref(policy)))
        return t

    return templates.Stack(contract.CI_ACCESS, (), build, optional=True)


def execution_role(project: str) -> str:
    return f"arn:aws:iam::000000000000:role/{contract.resource_name('cfn_execution_role', project)}"


def test_once_the_ci_stack_exists_network_and_compute_roles_get_its_boundary_in_place(real):
    """Admin mode above; now the CI access stack appears: the next deploy says so, passes its boundary to the
    stacks that declare it (network, compute), and updates their roles in place (no replacement)."""
    project = real[2].split("=")[1]
    boundary_name = contract.resource_name("permissions_boundary", project)
    graph = [ci_access_standin(project, boundary_name) if s.key == contract.CI_ACCESS else s
             for s in templates.STACKS]
    same = ["-p", "alarm_cpu_percent=70"]  # the stacks as the tests above left them
    ci = harness.run_emulated([*real, "--yes", "--stacks", contract.CI_ACCESS], graph=graph)
    assert ci.code == 0, ci.out
    boundary = f"arn:aws:iam::000000000000:policy/{boundary_name}"

    # Putting a boundary on the roles is an IAM change: the access risk class, accepted here.
    result = harness.run_emulated([*real, *same, "--yes", "--accept", "access"], graph=graph)
    assert result.code == 0, result.out
    [mode] = lines_with(result.out, "mode:")
    assert mode == f"mode: through the CI execution role {execution_role(project)} (roles bounded by {boundary})"
    declares = {"network", "compute"}
    for key in ("network", "data", "compute", "waf"):
        stack = cfn().describe_stacks(StackName=contract.stack_name(project, key))["Stacks"][0]
        given = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
        assert given.get(contract.PERMISSIONS_BOUNDARY_PARAMETER) == (boundary if key in declares else None), key
        if key in declares:
            assert stack["StackStatus"] == "UPDATE_COMPLETE", key
        else:
            assert lines_with(result.out, f"[{key}]", "unchanged"), key
    roles = lines_with(result.out, "AWS::IAM::Role", "Modify")
    assert roles and not [line for line in roles if "True" in line], roles  # an update in place
    assert lines_with(result.out, "[network]", "PermissionsBoundaryArn", boundary)

    # The boundary is known before the first look: the next run finds everything unchanged.
    again = harness.run_emulated([*real, *same, "--yes"], graph=graph)
    assert again.code == 0, again.out
    assert again.calls.count("CreateChangeSet") == 0 and lines_with(again.out, "mode: through the CI execution role")


# --- small test stacks --------------------------------------------------------------------------------------

def tiny(project: str, key: str, depends_on=(), *, bad=False, imports=None, export=True, pad=0,
         declare=None) -> templates.Stack:
    """A stack of one SSM parameter (LocalStack emulates SSM), optionally with a failing bucket."""

    def build() -> Template:
        t = Template(Description=f"deployer test {key}")
        if declare:
            params.add_parameters(t, declare)
        if declare == contract.COMPUTE:
            add_image_digest_parameter(t)
        value = ImportValue(contract.export_name(project, imports)) if imports else f"{key}-value"
        t.add_resource(SsmParameter("Value", Type="String", Value=value))
        if bad:
            # S3 rejects the name: a failure LocalStack reports like AWS, with its reason.
            broken = t.add_resource(Bucket("Broken", DependsOn="Value"))
            broken.properties["BucketName"] = "Invalid_Bucket_Name!"  # past troposphere's own check
        if export:
            t.add_output(Output("ValueName", Value=f"{key}-value",
                                Export=Export(contract.export_name(project, f"{key.capitalize()}Value"))))
        if pad:
            t.set_metadata({"Padding": "x" * pad})  # makes the template bigger than CloudFormation's inline limit
        return t

    return templates.Stack(key, tuple(depends_on), build)


def test_failure_prints_its_cause_exits_1_and_touches_nothing_after_it(project):
    graph = [tiny(project, "first", bad=True), tiny(project, "second", ("first",), imports="FirstValue")]
    result = harness.run_emulated(["dev", "--yes", "-p", f"project_name={project}"], graph=graph)
    assert result.code == 1, result.out
    cause = lines_with(result.out, "[first]", "caused by:")
    assert cause and "Broken" in cause[0] and "CREATE_FAILED" in cause[0] and "Invalid bucket name" in cause[0]
    assert status(contract.stack_name(project, "first")) == "ROLLBACK_COMPLETE"
    assert status(contract.stack_name(project, "second")) is None  # never touched
    assert lines_with(result.out, "second", "not started")

    # ROLLBACK_COMPLETE recovery: fixed, the next deploy deletes the empty stack and creates it again.
    graph = [tiny(project, "first"), tiny(project, "second", ("first",), imports="FirstValue")]
    again = harness.run_emulated(["dev", "--yes", "-p", f"project_name={project}"], graph=graph)
    assert again.code == 0, again.out
    assert lines_with(again.out, "[first]", "ROLLBACK_COMPLETE", "deleting it to create it again")
    assert status(contract.stack_name(project, "first")) == "CREATE_COMPLETE"
    assert status(contract.stack_name(project, "second")) == "CREATE_COMPLETE"


def test_failed_update_rolls_back_and_the_next_deploy_goes_on(project):
    argv = ["dev", "--yes", "-p", f"project_name={project}"]
    assert harness.run_emulated(argv, graph=[tiny(project, "solo")]).code == 0
    broken = harness.run_emulated(argv, graph=[tiny(project, "solo", bad=True)])
    assert broken.code == 1, broken.out
    assert lines_with(broken.out, "caused by:", "Broken")
    assert status(contract.stack_name(project, "solo")) == "UPDATE_ROLLBACK_COMPLETE"
    # (the fix removes the bucket that never got made: LocalStack gives no PolicyAction, so it reads as data loss)
    fixed = harness.run_emulated([*argv, "--accept", "data-loss"], graph=[tiny(project, "solo", pad=10)])
    assert fixed.code == 0, fixed.out


def test_no_execute_leaves_change_sets_for_review_then_deploy_creates_through_them(project):
    graph = [tiny(project, "solo")]
    name = contract.stack_name(project, "solo")
    review = harness.run_emulated(["dev", "--no-execute", "-p", f"project_name={project}"], graph=graph)
    assert review.code == 0, review.out
    assert review.calls.count("ExecuteChangeSet") == 0
    assert status(name) == "REVIEW_IN_PROGRESS"
    [summary] = cfn().list_change_sets(StackName=name)["Summaries"]
    assert summary["ChangeSetName"].startswith("deploy-")
    assert lines_with(review.out, summary["ChangeSetName"], "console.aws.amazon.com/cloudformation")
    deployed = harness.run_emulated(["dev", "--yes", "-p", f"project_name={project}"], graph=graph)
    assert deployed.code == 0, deployed.out
    assert status(name) == "CREATE_COMPLETE"


def test_template_over_51200_bytes_goes_through_s3(project):
    graph = [tiny(project, "big", pad=60_000)]
    seen = {}

    def capture(params, **_):
        seen.update(params)

    result = harness.run_emulated(["dev", "--yes", "-p", f"project_name={project}"], graph=graph,
                         extra_hooks=[("provide-client-params.cloudformation.CreateChangeSet", capture)])
    assert result.code == 0, result.out
    assert "TemplateURL" in seen and "TemplateBody" not in seen
    bucket = contract.resource_name("deploy_artifacts", project, "000000000000", "us-east-1")
    assert f"/{bucket}/" in seen["TemplateURL"]
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicAcls"]
    assert status(contract.stack_name(project, "big")) == "CREATE_COMPLETE"
    again = harness.run_emulated(["dev", "--yes", "-p", f"project_name={project}"], graph=graph)
    assert again.code == 0 and again.calls.count("CreateChangeSet") == 0, again.out


def test_missing_image_stops_before_any_stack_changes(project):
    graph = [tiny(project, "compute", declare="compute")]
    result = harness.run_emulated(["dev", "--yes", "-p", f"project_name={project}", "--image-tag", "nope"],
                         graph=graph, image_exists=False)
    assert result.code == 1, result.out
    repository = contract.resource_name("repository", project)
    assert result.err.startswith(f"deploy.py: error: image {repository}:nope is not in ECR"), result.err
    assert result.calls.count("CreateChangeSet") == 0
    assert status(contract.stack_name(project, "compute")) is None


def test_prod_stacks_are_protected(project):
    result = harness.run_emulated([*PROD, "--yes", "-p", f"project_name={project}"], graph=[tiny(project, "solo")])
    assert result.code == 0, result.out
    stack = cfn().describe_stacks(StackName=contract.stack_name(project, "solo"))["Stacks"][0]
    assert stack["EnableTerminationProtection"] is True
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {"Project": project, "Environment": "prod"}
    cfn().update_termination_protection(StackName=stack["StackId"], EnableTerminationProtection=False)


def test_a_change_set_without_changes_is_success_and_deleted(project):
    argv = ["dev", "--yes", "-p", f"project_name={project}"]
    assert harness.run_emulated(argv, graph=[tiny(project, "solo")]).code == 0
    # Template Metadata alone is not a change CloudFormation can apply: "no changes", not a failure.
    result = harness.run_emulated(argv, graph=[tiny(project, "solo", pad=10)])
    assert result.code == 0, result.out
    assert lines_with(result.out, "[solo]", "no changes")
    assert result.calls.count("DeleteChangeSet") == 1 and result.calls.count("ExecuteChangeSet") == 0
    assert cfn().list_change_sets(StackName=contract.stack_name(project, "solo"))["Summaries"] == []


def test_declining_at_the_prompt_changes_nothing(project, monkeypatch):
    from deployer.output import Printer

    asked = []
    monkeypatch.setattr(Printer, "ask", lambda self, question: asked.append(question) or False)
    result = harness.run_emulated(["dev", "-p", f"project_name={project}"], graph=[tiny(project, "solo")],
                                  stdin_tty=True)
    assert result.code == 1, result.out
    assert asked and "execute change set" in asked[0]
    assert result.calls.count("ExecuteChangeSet") == 0
    assert status(contract.stack_name(project, "solo")) is None  # the empty stack the change set made is gone


def test_deploy_py_as_ci_runs_it(localstack, project):
    """The real entry point, as a process, with nothing but AWS_ENDPOINT_URL to find LocalStack."""
    import subprocess
    import sys

    # The network stack: the data stack's policy calls would reach LocalStack, which has no SetStackPolicy (the
    # in-process runs answer them at the HTTP boundary; a child process cannot be hooked).
    cmd = [sys.executable, "deploy.py", "dev", "--stacks", "network", "--yes", "-p", f"project_name={project}",
           "-p", "nat_gateways=0"]
    proc = subprocess.run(cmd, cwd=harness.ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\033[" not in proc.stdout  # no colour when not on a terminal
    assert "account 000000000000" in proc.stdout and "region us-east-1" in proc.stdout
    assert status(contract.stack_name(project, "network")) == "CREATE_COMPLETE"


def test_once_ci_access_exists_stacks_change_through_its_execution_role(project):
    """The CI role may only create change sets that carry the execution role (templates/github_oidc.py):
    deploy.py passes it as RoleARN to every stack but the one that creates it."""
    role = f"arn:aws:iam::000000000000:role/{contract.resource_name('cfn_execution_role', project)}"

    def ci_access() -> Template:
        t = Template(Description="deployer test: CI access")
        params.add_parameters(t, contract.CI_ACCESS)
        t.add_resource(SsmParameter("Value", Type="String", Value="ci"))
        t.add_output(Output(contract.EXECUTION_ROLE_OUTPUT, Value=role))
        return t

    graph = [templates.Stack(contract.CI_ACCESS, (), ci_access, optional=True), tiny(project, "solo")]
    role_of = {}

    def capture(params, **_):
        role_of[params["StackName"]] = params.get("RoleARN")

    hooks = [("provide-client-params.cloudformation.CreateChangeSet", capture)]
    argv = ["dev", "--yes", "-p", f"project_name={project}"]
    before = harness.run_emulated([*argv, "--stacks", "solo"], graph=graph, extra_hooks=hooks)
    assert before.code == 0, before.out
    assert role_of == {contract.stack_name(project, "solo"): None}  # no CI access stack yet: the caller's rights

    first = harness.run_emulated([*argv, "--stacks", contract.CI_ACCESS], graph=graph, extra_hooks=hooks)
    assert first.code == 0, first.out
    assert role_of[contract.stack_name(project, contract.CI_ACCESS)] is None  # never through itself

    changed = [graph[0], tiny(project, "solo", pad=10)]
    after = harness.run_emulated([*argv, "--stacks", "solo"], graph=changed, extra_hooks=hooks)
    assert after.code == 0, after.out
    assert role_of[contract.stack_name(project, "solo")] == role


def test_an_image_with_critical_findings_stops_before_any_stack_changes(project):
    """ECR's scan answered at the HTTP boundary (testkit/fakes.py) as AWS answers DescribeImageScanFindings."""
    from testkit import fakes

    graph = [tiny(project, "compute", declare="compute")]
    critical = fakes.ecr_scan_findings(findings=({"name": "CVE-2024-6387", "severity": "CRITICAL", "attributes": [
        {"key": "package_name", "value": "openssh-client"}, {"key": "package_version", "value": "1:9.2p1-2"}]},))
    argv = ["dev", "--yes", "-p", f"project_name={project}"]
    refused = harness.run_emulated(argv, graph=graph, scan=critical)
    assert refused.code == 1, refused.out
    assert "1 CRITICAL finding(s)" in refused.err and "CVE-2024-6387" in refused.err
    assert lines_with(refused.out, "CRITICAL CVE-2024-6387 in openssh-client")
    assert refused.calls.count("CreateChangeSet") == 0
    assert status(contract.stack_name(project, "compute")) is None
    allowed = harness.run_emulated([*argv, "--allow-vulnerable"], graph=graph, scan=critical)
    assert allowed.code == 0, allowed.out
    assert status(contract.stack_name(project, "compute")) == "CREATE_COMPLETE"
