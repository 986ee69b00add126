"""Bad input: one line naming the bad value and what is allowed, exit 2, and not a single AWS client made."""

from __future__ import annotations

import io

import pytest

from deployer import cli
from deployer.output import Printer


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
        (["prod", "--stacks", "network,bogus", "--yes"], ["'bogus'", "network, data, compute, waf"]),
        (["prod", "--image-tag", "bad tag!", "--yes"], ["--image-tag bad tag!", "Docker tag"]),
        (["prod", "stauts"], ["'stauts'", "deploy, diff, list"]),
        (["prod", "--bogus-flag"], ["--bogus-flag"]),
        (["prod", "diff", "--yes"], ["--yes"]),  # diff never executes: no --yes
        (["prod"], ["--yes", "--no-execute"]),  # no terminal to confirm on
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


def test_no_arguments_prints_the_verbs_and_exits_2(no_aws, capsys):
    code, _ = run([], no_aws)
    assert code == 2
    assert "diff" in capsys.readouterr().out


def test_stacks_lists_optional_stacks_as_allowed(no_aws, capsys):
    code, _ = run(["prod", "--stacks", "nope", "--no-execute"], no_aws)
    assert code == 2
    err = capsys.readouterr().err
    import templates

    for stack in templates.STACKS:
        assert stack.key in err


def test_verbs_are_a_table():
    # Adding a verb is adding an entry: every one has a handler and help, and parses its own options.
    for name, verb in cli.VERBS.items():
        assert callable(verb.handler) and verb.help
        args = cli._parser(name, verb).parse_args(["prod"])
        assert args.env == "prod"


def test_colour_only_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Printer(Tty(), summary_path="").colour
    assert not Printer(io.StringIO(), summary_path="").colour
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Printer(Tty(), summary_path="").colour
