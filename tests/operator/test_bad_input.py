"""Bad input to the operator verbs: one line on stderr naming the bad value and what is allowed, exit 2,
no traceback, and not one AWS client made (boto3 itself is booby-trapped)."""

from __future__ import annotations

import io
import sys

import pytest

from deployer import cli
from deployer.output import Printer
from testkit.placeholders import PROD
from tests.operator.conftest import Pipe

SECRET_VALUE = "hunter2-do-not-print"


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        ([*PROD, "secrets", "set", f"FOO={SECRET_VALUE}"], ["'FOO'", "LANGCHAIN_API_KEY, REDIS_HOST, REDIS_PORT, "
                                                             "REDIS_PASSWORD"]),
        ([*PROD, "secrets", "set", "REDIS_HOST"], ["'REDIS_HOST'", "KEY=VALUE"]),
        ([*PROD, "secrets", "set"], ["KEY=VALUE", "REDIS_PASSWORD"]),
        ([*PROD, "secrets", "set", "REDIS_HOST=a", "REDIS_HOST=b"], ["REDIS_HOST", "once"]),
        ([*PROD, "secrets", "set", "REDIS_HOST=-", "REDIS_PORT=-"], ["REDIS_HOST, REDIS_PORT", "one KEY=-"]),
        ([*PROD, "secrets", "keys", "REDIS_HOST=x"], ["secrets keys", "secrets set"]),
        ([*PROD, "secrets"], ["set", "keys"]),
        ([*PROD, "secrets", "sett"], ["'sett'", "'set', 'keys'"]),
        # (rollback without --image-tag reads the release ledger: tests/operator/test_rollback.py)
        ([*PROD, "rollback", "--yes", "--image-tag", "bad tag!"], ["--image-tag", "'bad tag!'", "Docker tag"]),
        ([*PROD, "rollback", "--image-tag", "abc123"], ["--yes", "terminal"]),  # no terminal, no --yes
        ([*PROD, "logs", "--since", "10x"], ["'10x'", "30s, 10m"]),
        ([*PROD, "logs", "--since", "999d"], ["'999d'", "90d"]),
        ([*PROD, "health", "--timeout", "0"], ["'0'", "seconds"]),
        ([*PROD, "health", "--timeout", "soon"], ["'soon'", "seconds"]),
        ([*PROD, "status", "--bogus"], ["--bogus"]),
        ([*PROD, "outputs", "--yes"], ["--yes"]),
        ([*PROD, "restart", "now"], ["now"]),
        ([*PROD, "destroy"], ["--yes", "terminal"]),  # no terminal, no --yes
        (["prod", "destory"], ["'destory'", "destroy"]),
        (["nope", "status"], ["'nope'", "prod"]),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_aws(argv, names, no_aws, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", Pipe(""))
    out = io.StringIO()
    code = cli.main(argv, connect=no_aws, out=Printer(out, colour=False, summary_path=""), stdin_tty=False)
    err = capsys.readouterr().err
    assert code == 2, err
    assert out.getvalue() == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert SECRET_VALUE not in err
    for name in names:
        assert name in err, (name, err)


def test_empty_value_from_stdin_is_refused(no_aws, capsys, monkeypatch):
    # `echo "$UNSET" | deploy.py prod secrets set REDIS_PASSWORD=-` must not blank the password.
    monkeypatch.setattr(sys, "stdin", Pipe("\n"))
    code = cli.main([*PROD, "secrets", "set", "REDIS_PASSWORD=-"], connect=no_aws,
                    out=Printer(io.StringIO(), colour=False, summary_path=""))
    err = capsys.readouterr().err
    assert code == 2
    assert "REDIS_PASSWORD=-" in err and "empty" in err


def test_every_operator_verb_is_in_the_table_and_the_usage():
    usage = cli.usage()
    for verb in ("status", "outputs", "health", "logs", "rollback", "restart", "secrets", "destroy"):
        assert verb in cli.VERBS
        assert f"  {verb} " in usage


def test_a_broken_promotion_source_file_is_bad_input_before_any_aws_call(no_aws, capsys, monkeypatch, tmp_path):
    """prod's CI access stack derives its promotion read from staging's file: a broken one is named, exit 2."""
    from templates import params

    for path in params.PARAMS_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "staging.yaml").write_text("fargate_cpu: 3\n")
    monkeypatch.setattr(cli, "load_params", lambda env, overrides=(): params.load_params(env, overrides, tmp_path))
    code = cli.main([*PROD, "diff", "--stacks", "github-oidc"], connect=no_aws,
                    out=Printer(io.StringIO(), colour=False, summary_path=""), stdin_tty=False)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "staging's params" in err and "fargate_cpu" in err, err
