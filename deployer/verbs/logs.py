"""`logs`: the container log group, like the original CDK design's `aws logs tail /ecs/ia-comafi/api --follow`.

The reading (FilterLogEvents over every stream of the group, ``--follow``'s polling) is engine/logs.py's;
this verb parses ``--since`` and prints.
"""

from __future__ import annotations

import argparse
import re

import contract
from deployer.engine.logs import tail
from deployer.errors import EXIT_OK, DeployError
from deployer.verbs.verb import Verb, say

DEFAULT_SINCE = "10m"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SINCE = re.compile(r"(\d+)([smhdw])")
MAX_SINCE = 90 * 86400  # a bound on how much a typo ("10d" for "10m") can fetch


def parse_since(text: str) -> int:
    """"10m" -> 600 seconds. Raises ValueError naming the value and what is allowed."""
    m = _SINCE.fullmatch(text.strip())
    seconds = int(m.group(1)) * _UNITS[m.group(2)] if m else 0
    if not m or not 0 < seconds <= MAX_SINCE:
        raise ValueError(f"--since {text!r} is not allowed; allowed: a number and a unit s, m, h, d or w "
                         f"(such as 30s, 10m, 2h, 1d), up to 90d")
    return seconds


def since(text: str) -> int:
    """--since as an argparse type."""
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--since ", "", 1)) from None


def logs_cmd(ctx, args) -> int:
    group = contract.resource_name("container_log_group", ctx.params.project)
    client = ctx.aws().client("logs")
    try:
        tail(client, group, args.since, say(ctx), follow=args.follow, pattern=args.filter or "")
    except client.exceptions.ResourceNotFoundException:
        raise DeployError(f"log group {group} does not exist; is the compute stack deployed?") from None
    except KeyboardInterrupt:  # how --follow ends
        ctx.out.line()
    return EXIT_OK


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="AGE", type=since, default=DEFAULT_SINCE,
                        help=f"from AGE ago: 30s, 10m, 2h, 1d (default {DEFAULT_SINCE})")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    parser.add_argument("--filter", metavar="PATTERN", help="CloudWatch Logs filter pattern")


LOGS = Verb("logs", logs_cmd, "the container log group, like aws logs tail",
            ("python deploy.py prod logs --since 1h", "python deploy.py prod logs --follow --filter ERROR"), _options)
