"""staging and prod, from their own params files, deployed into one LocalStack (as two environments sharing an
account would be): their real stacks, exports and tags share nothing, and a second deploy of each changes
nothing. LocalStack's account answers STS; the harness pins each run to it (the files hold the placeholder)."""

from __future__ import annotations

import boto3
import pytest

import contract
import templates
from templates import params
from testkit import harness
from testkit.placeholders import filled

pytestmark = pytest.mark.usefixtures("localstack")

ENVIRONMENTS = contract.RELEASE_ENVIRONMENTS
# LocalStack cannot make a NAT gateway, and its Route 53 knows no zone of ours: an existing certificate instead
# (its ELBv2 is a placeholder that never checks it).
NO_NAT = ["-p", "nat_gateways=0", "-p", "hosted_zone_id=",
          "-p", "certificate_arn=arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"]
LOCALSTACK_PLACEHOLDER_ID = "unknown"
APP = [s.key for s in templates.STACKS if not s.optional]


def cfn():
    return boto3.client("cloudformation", region_name="us-east-1")


def deployed(env: str) -> dict[str, dict]:
    project = params.load_params(env).project
    return {key: cfn().describe_stacks(StackName=contract.stack_name(project, key))["Stacks"][0] for key in APP}


def exports_of(stack_ids: set[str]) -> set[str]:
    return {e["Name"] for page in cfn().get_paginator("list_exports").paginate() for e in page["Exports"]
            if e["ExportingStackId"] in stack_ids}


def test_staging_and_prod_deploy_side_by_side_sharing_nothing():
    for env in ENVIRONMENTS:
        result = harness.run_emulated([*filled(env), "--yes", *NO_NAT])
        assert result.code == 0, result.out + result.err
        assert f"environment {env}" in result.out
    stacks = {env: deployed(env) for env in ENVIRONMENTS}
    staging, prod = (stacks[env] for env in ENVIRONMENTS)
    # prod's stacks are the original names; staging's its own
    assert sorted(s["StackName"] for s in prod.values()) == sorted(f"ia-comafi-{key}" for key in APP)
    assert sorted(s["StackName"] for s in staging.values()) == sorted(f"ia-comafi-staging-{key}" for key in APP)
    ids = {env: {s["StackId"] for s in stacks[env].values()} for env in ENVIRONMENTS}
    assert not ids["staging"] & ids["prod"]
    exports = {env: exports_of(ids[env]) for env in ENVIRONMENTS}
    assert exports["staging"] and exports["prod"] and not exports["staging"] & exports["prod"]
    for env in ENVIRONMENTS:
        project = params.load_params(env).project
        for stack in stacks[env].values():
            assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack["StackName"]
            tags = {t["Key"]: t["Value"] for t in stack["Tags"]}
            assert tags == contract.stack_tags(project, env)
        for name in exports[env]:
            assert name.startswith(f"{project}-")
    # The physical resources: none in both. LocalStack does not emulate ECS, ELBv2 or WAFv2: their placeholder
    # resources all report the id "unknown" (their names are held apart by tests/environments/test_identity.py).
    resources = {env: {r["PhysicalResourceId"] for s in stacks[env].values()
                       for r in cfn().describe_stack_resources(StackName=s["StackName"])["StackResources"]}
                 - {LOCALSTACK_PLACEHOLDER_ID} for env in ENVIRONMENTS}
    shared = resources["staging"] & resources["prod"]
    assert not shared, sorted(shared)


def test_a_second_deploy_of_each_changes_nothing():
    for env in ENVIRONMENTS:
        again = harness.run_emulated([*filled(env), "--yes", *NO_NAT])
        assert again.code == 0, again.out + again.err
        assert again.calls.count("CreateChangeSet") == 0, (env, again.out)
        for key in APP:
            assert any(f"[{key}]" in line and "unchanged" in line for line in again.out.splitlines()), (env, key)
