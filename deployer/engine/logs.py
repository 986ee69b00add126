"""The container log group as CloudWatch Logs gives it: FilterLogEvents over every stream of the group (one
per task), oldest first; ``tail``'s follow polls from the newest timestamp seen, without an event twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

FOLLOW_POLL = 2  # s


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
