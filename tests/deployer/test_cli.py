"""Bad input: one line naming the bad value and what is allowed, exit 2, and not a single AWS client made."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys

import pytest

from deployer import cli
from deployer.output import Printer
from testkit.placeholders import PROD, filled
from testkit.tools import ROOT


def run(argv, no_aws, stdin_tty=False):
    out = io.StringIO()
    code = cli.main(argv, connect=no_aws, out=Printer(out, colour=False, summary_path=""), stdin_tty=stdin_tty)
    return code, out.getvalue()


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["nope", "--yes"], ["'nope'", "dev", "prod"]),
        (["prod", "-p", "fargate_cpu=3", "--yes"], ["fargate_cpu=3", "256, 512"]),
        (["prod", "-p", "nat_gatways=0", "--yes"], ["nat_gatways", "nat_gateways"]),
        (["prod", "-p", "novalue", "--yes"], ["novalue", "key=value"]),
        ([*PROD, "--stacks", "network,bogus", "--yes"], ["'bogus'", "network, data, compute, waf"]),
        (["prod", "--image-tag", "bad tag!", "--yes"], ["--image-tag", "'bad tag!'", "Docker tag"]),
        (["prod", "--image-digest", "sha256:abc", "--yes"], ["--image-digest", "'sha256:abc'", "64 lowercase hex"]),
        (["prod", "rollback", "--image-digest", "SHA256:" + "A" * 64, "--yes"], ["--image-digest", "'SHA256:AAAA"]),
        (["prod", "--image-tag", "v1", "--image-digest", "sha256:" + "a" * 64, "--yes"],
         ["--image-digest", "not allowed with", "--image-tag"]),
        (["prod", "diff", "-p", "image_tag=v2"], ["-p image_tag=v2", "--image-tag v2", "--image-digest"]),
        (["prod", "stauts"], ["'stauts'", "deploy, diff, list"]),
        (["prod", "--bogus-flag"], ["--bogus-flag"]),
        (["prod", "diff", "--yes"], ["--yes"]),  # diff never executes: no --yes
        (PROD, ["--yes", "--no-execute"]),  # no terminal to confirm on
        (["prod", "-p", "domain_name=", "-p", "hosted_zone_id=", "--yes"],
         ["prod serves HTTPS", "domain_name with certificate_arn", "domain_name with hosted_zone_id"]),
    ],
)
def test_bad_input_exits_2_with_one_line_before_any_aws_call(argv, names, no_aws, capsys):
    code, out = run(argv, no_aws)
    err = capsys.readouterr().err
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for name in names:
        assert name in err, (name, err)


AWS_VERBS = [name for name, verb in cli.VERBS.items() if verb.calls_aws]


@pytest.mark.parametrize("name", AWS_VERBS)
def test_every_verb_that_calls_aws_refuses_the_params_files_placeholders_first(name, no_aws, capsys):
    """prod.yaml ships placeholders (it renders on a fresh clone): no verb calls AWS with one, whatever it is
    asked; each example of the verb is refused in one line naming every placeholder left, exit 2."""
    examples = [e for e in cli.VERBS[name].examples if e.startswith("python deploy.py prod ")]
    assert examples
    for example in examples:
        argv = shlex.split(example.split("|")[0])[2:]
        code, out = run(argv, no_aws, stdin_tty=True)
        err = capsys.readouterr().err
        assert (code, out) == (2, ""), (example, err)
        assert err.startswith("deploy.py: error: params/prod.yaml still holds placeholders: account_id=set-me, "
                              "domain_name=api.example.com, hosted_zone_id=Z00000000000PLACEHOLDER, "
                              "alarm_email=alarms@example.com;"), err
        assert len(err.strip().splitlines()) == 1


def test_only_the_verbs_that_read_the_params_alone_skip_the_placeholder_check(no_aws, capsys):
    assert [name for name in cli.VERBS if name not in AWS_VERBS] == ["cost"]
    code, out = run(["prod", "cost"], no_aws)
    assert code == 0 and "total" in out.lower(), capsys.readouterr().err


def test_no_arguments_prints_the_usage_on_stderr_and_exits_2(no_aws, capsys):
    code, _ = run([], no_aws)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("usage: deploy.py ENV [VERB]")
    for name in cli.VERBS:
        assert f"    {name} " in captured.err


def test_help_is_on_stdout_and_exits_0(no_aws, capsys):
    code, _ = run(["--help"], no_aws)
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    assert "Examples:" in captured.out and "python deploy.py prod status" in captured.out


def test_stacks_lists_optional_stacks_as_allowed(no_aws, capsys):
    code, _ = run([*PROD, "--stacks", "nope", "--no-execute"], no_aws)
    assert code == 2
    err = capsys.readouterr().err
    import templates

    for stack in templates.STACKS:
        assert stack.key in err


@pytest.mark.parametrize("name", list(cli.VERBS))
def test_every_verb_explains_itself(name, no_aws, capsys):
    """Walks the verb table, so a new verb cannot skip it: `deploy.py prod VERB --help` shows its options
    and at least one real invocation, ENV appears once in its usage, nothing goes to stderr, no AWS."""
    code, _ = run(["prod", name, "--help"], no_aws)
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    usage = captured.out.split("\n\n")[0]
    assert usage.startswith(f"usage: deploy.py ENV {name} ")
    assert usage.count("ENV") == 1, usage
    assert "-p key=value" in captured.out
    examples = captured.out.split("Examples:\n", 1)[1].splitlines()
    runs = [line.strip() for line in examples if line.strip().startswith(f"python deploy.py prod {name}")]
    assert runs, examples
    for example in (x.strip() for x in examples if x.strip().startswith("python deploy.py ")):
        env, *rest = shlex.split(example.split("|")[0])[2:]
        argv = [*filled(env), *rest]  # as run once the params file's placeholders are set
        # Each example parses: right verb, known options, values of the right shape.
        verb, args, _ = cli.prepare(argv, templates_graph(), Printer(io.StringIO()), stdin_tty=True)
        assert verb.name == name


def templates_graph():
    import templates

    return templates.STACKS


def test_the_verb_may_follow_the_options_and_deploy_is_the_default():
    p = cli.parser()
    assert cli.normalise(["prod", "-p", "k=v", "diff"], p) == ["prod", "diff", "-p", "k=v"]
    assert cli.normalise(["prod", "--yes"], p) == ["prod", "deploy", "--yes"]
    # A value is never taken for a verb: `--stacks list` would be a stack called "list".
    assert cli.normalise(["prod", "--stacks", "list"], p) == ["prod", "deploy", "--stacks", "list"]


def test_colour_only_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Printer(Tty(), summary_path="").colour
    assert not Printer(io.StringIO(), summary_path="").colour
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Printer(Tty(), summary_path="").colour


PROBE = """
import runpy, sys
sys.argv = ["deploy.py", "prod", "outputs", "--help"]
try:
    runpy.run_path("deploy.py", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print("LOADED", sorted(m for m in ("troposphere", "awacs", "cfnlint", "boto3") if m in sys.modules), code)
"""


def test_outputs_help_as_a_process_loads_no_template_library():
    """`python deploy.py prod outputs --help`, the real entry point in its own process: no troposphere,
    awacs or cfn-lint in sys.modules at the end (verbs that render nothing never load them)."""
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "usage: deploy.py ENV outputs" in done.stdout, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED ['boto3'] 0", done.stdout
