"""`drift`: what someone changed by hand in the deployed stacks' resources (the engine's ``drift`` does the work).

Exit 0 in sync, 3 drifted, 1 when a detection failed or timed out (what was found is printed all the same).
"""

from __future__ import annotations

import argparse

import contract
from deployer.engine import drift, stacks
from deployer.errors import EXIT_FAILED, DeployError
from deployer.verbs.verb import Verb, seconds


def drift_cmd(ctx, args) -> int:
    aws = ctx.aws()
    names = []
    for stack in ctx.graph:
        name = contract.stack_name(ctx.params.project, stack.key)
        # An optional stack nobody deployed is not drift; a required one missing is (detection says so: FAILED).
        if not stack.optional or stacks.describe(aws.cfn, name) is not None:
            names.append(name)
    if not args.json:
        ctx.out.line(f"detecting drift on {len(names)} stacks (at most {args.timeout:g} s): {', '.join(names)}")
    if args.json:
        results = drift.detect(aws.cfn, names, timeout=args.timeout, poll=drift.DEFAULT_POLL)
    else:  # one live line per stack on a terminal; off one, the table after is all
        with ctx.out.progress(names) as tracker:
            results = drift.detect(aws.cfn, names, timeout=args.timeout, poll=drift.DEFAULT_POLL, tracker=tracker)
    if args.json:
        ctx.out.line(drift.to_json(results))  # only the JSON on stdout
    else:
        ctx.out.block(drift.render(results))
    code = drift.exit_code(results)
    if code == EXIT_FAILED:
        failed = [f"{r.stack}: {r.status}" + (f" ({r.reason})" if r.reason else "") for r in results.values()
                  if r.status in (drift.FAILED, drift.TIMED_OUT)]
        raise DeployError("drift detection did not finish for " + "; ".join(failed))
    return code


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON on stdout, for scripts")
    parser.add_argument("--timeout", metavar="SECONDS", type=seconds, default=drift.DEFAULT_TIMEOUT,
                        help=f"how long to wait for the detections (default {drift.DEFAULT_TIMEOUT})")


DRIFT = Verb("drift", drift_cmd, "what was changed by hand in the stacks' resources (exit 0 in sync, 3 drifted, "
             "1 failed)", ("python deploy.py prod drift", "python deploy.py prod drift --json"), _options,
             notes="Runs CloudFormation drift detection on every deployed stack at once and prints each drifted "
                   "resource's property differences (expected vs actual).")
