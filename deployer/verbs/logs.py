"""`logs`: the container log group, like the original CDK design's `aws logs tail /ecs/ia-comafi/api --follow`.

FilterLogEvents over every stream of the group (one per task), oldest first; ``--follow`` polls from the
newest timestamp seen until Ctrl-C, without printing an event twice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from collections.abc import Callable

import contract
from deployer.errors import EXIT_OK, DeployError
from deployer.verbs.verb import Verb, say

DEFAULT_SINCE = "10m"
FOLLOW_POLL = 2  # s
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


def format_event(event: dict) -> str:
    """`aws logs tail`'s shape: time, stream (the task), message."""
    when = dt.datetime.fromtimestamp(event["timestamp"] / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")
    return f"{when} {event.get('logStreamName', '')} {event.get('message', '').rstrip()}"


def fetch(logs, group: str, start_ms: int, pattern: str = "") -> list[dict]:
    """Every event of ``group`` from ``start_ms`` on, oldest first."""
    kwargs: dict = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        kwargs["filterPattern"] = pattern
    events: list[dict] = []
    for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
        events += page.get("events", [])
    return sorted(events, key=lambda e: (e["timestamp"], e.get("eventId", "")))


def tail(logs, group: str, since_seconds: int, say: Callable[[str], None], follow: bool = False,
         pattern: str = "", poll: float = FOLLOW_POLL, now: Callable[[], float] = time.time,
         sleep: Callable[[float], None] = time.sleep, max_polls: int | None = None) -> int:
    """Print the events of the last ``since_seconds``; with ``follow``, keep printing new ones until
    interrupted (or ``max_polls`` polls, for tests). Returns how many events were printed."""
    start = int((now() - since_seconds) * 1000)
    seen: set[str] = set()  # ids of events at the newest timestamp: the next poll starts there again
    printed = 0
    polls = 0
    while True:
        events = [e for e in fetch(logs, group, start, pattern) if e.get("eventId") not in seen]
        for e in events:
            say(format_event(e))
        printed += len(events)
        if events:
            newest = events[-1]["timestamp"]
            if newest != start:
                seen = set()
            start = newest
            seen |= {e["eventId"] for e in events if e["timestamp"] == newest}
        polls += 1
        if not follow or (max_polls is not None and polls >= max_polls):
            return printed
        sleep(poll)


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
