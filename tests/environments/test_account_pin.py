"""The account pin: every verb that calls AWS first asks STS who the credentials are, and refuses (exit 2,
naming both accounts) a credential for another account than params pins, before any other call."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

import contract
from deployer import cli
from deployer.engine import plan_file
from testkit import fakes, harness
from testkit.placeholders import filled

PINNED = "111111111111"
# A well-formed plan of nothing: apply reads its file (bad input, no AWS) before it asks who we are.
EMPTY_PLAN = Path(tempfile.mkdtemp()) / "plan.json"
plan_file.write(plan_file.document(environment="prod", project="ia-comafi", account=PINNED, region="us-east-1",
                                   caller="arn:aws:iam::111111111111:role/admin", created=datetime.now(UTC),
                                   stacks_=[], findings=[], classes=[], cost={}, image={}), EMPTY_PLAN)
OTHER = "222222222222"
OTHER_ARN = f"arn:aws:sts::{OTHER}:assumed-role/ia-comafi-github-deploy/GitHubActions"

# One command line per verb that calls AWS (cost estimates from the params alone: no AWS, nothing to pin).
VERB_ARGV = {
    "deploy": ["--yes"],
    "diff": [],
    "list": [],
    "status": [],
    "outputs": [],
    "drift": [],
    "health": [],
    "logs": ["--since", "1h"],
    "rollback": ["--image-tag", "0123abc", "--yes"],
    "restart": [],
    "secrets": ["keys"],
    "destroy": ["--yes"],
    "plan": ["--out", "/nonexistent/plan.json"],
    "apply": [str(EMPTY_PLAN)],
    "releases": [],
}
NO_AWS = {"cost"}


@pytest.fixture(autouse=True)
def _nowhere(monkeypatch):
    """Dummy credentials and an endpoint that refuses connections: a call past the pin fails loudly here."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


def sts_answering(account: str, arn: str):
    sts = boto3.session.Session(region_name="us-east-1").client("sts", region_name="us-east-1")
    stub = Stubber(sts)
    stub.add_response("get_caller_identity", {"Account": account, "Arn": arn, "UserId": "AROA:x"}, {})
    return sts, stub


def test_the_table_covers_every_verb():
    assert set(VERB_ARGV) | NO_AWS == set(cli.VERBS)


@pytest.mark.parametrize("env", ["staging", "prod", "dev"])
@pytest.mark.parametrize("verb", sorted(VERB_ARGV))
def test_every_verb_refuses_another_accounts_credentials_before_any_other_call(verb, env):
    sts, stub = sts_answering(OTHER, OTHER_ARN)
    with stub:
        result = harness.run([*filled(env), verb, *VERB_ARGV[verb], "-p", f"account_id={PINNED}"], clients={"sts": sts},
                             account=None)
        stub.assert_no_pending_responses()
    assert result.code == 2, result.out + result.err
    assert list(result.calls) == ["sts.GetCallerIdentity"]
    assert result.err == (f"deploy.py: error: these credentials are for account {OTHER} ({OTHER_ARN}), but "
                          f"params/{env}.yaml pins {env} to account {PINNED}; allowed: credentials for {PINNED}\n")


@pytest.mark.parametrize("env", contract.RELEASE_ENVIRONMENTS)
@pytest.mark.parametrize("verb", sorted(VERB_ARGV))
def test_the_repositorys_placeholder_account_is_refused_before_any_aws_session(verb, env):
    result = harness.run([env, verb, *VERB_ARGV[verb]], account=None)
    assert result.code == 2, result.out + result.err
    assert result.sessions == [] and list(result.calls) == []
    assert f"params/{env}.yaml still holds placeholders: " in result.err and "account_id=set-me" in result.err


def test_the_pinned_account_goes_on_to_the_verb():
    """The same run with the right account passes the pin: list goes on to read the stacks."""
    sts, stub = sts_answering(PINNED, f"arn:aws:sts::{PINNED}:assumed-role/ops/x")
    missing = ("before-send.cloudformation.DescribeStacks",
               lambda **_: fakes.cfn_error("ValidationError", "Stack with id x does not exist"))
    with stub:
        result = harness.run([*filled("prod"), "list", "-p", f"account_id={PINNED}"], clients={"sts": sts},
                             account=None, hooks=[missing])
    assert list(result.calls)[:2] == ["sts.GetCallerIdentity", "cloudformation.DescribeStacks"]
    assert result.code == 0, result.err


def test_cost_needs_no_account():
    result = harness.run(["prod", "cost"], account=None)
    assert result.code == 0 and result.sessions == []


@pytest.mark.parametrize("role", ["ia-comafi-github-deploy", "ia-comafi-github-build"])
def test_destroy_of_prod_with_a_ci_role_is_refused_as_an_admins_verb_before_any_read(role):
    sts, stub = sts_answering(PINNED, f"arn:aws:sts::{PINNED}:assumed-role/{role}/GitHubActions")
    with stub:
        result = harness.run([*filled("prod"), "destroy", "--yes", "-p", f"account_id={PINNED}"],
                             clients={"sts": sts}, account=None)
    assert result.code == 1, result.out + result.err
    assert list(result.calls) == ["sts.GetCallerIdentity"]
    assert f"destroy of prod is an admin's verb: arn:aws:sts::{PINNED}:assumed-role/{role}/GitHubActions is " \
           f"the CI role {role}" in result.err
