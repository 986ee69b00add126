"""Live progress on a terminal: one line per stack, redrawn in place while the stacks change.

Each line: the stack, its status, resources done / total, the resource in progress, the time since the
stack started. ``Board`` is the model (what each line says, fed from the threads that change the stacks);
``LiveView`` draws it with rich. A printer without a terminal hands out engine/report.py's ``NULL`` instead:
every call does nothing, so the plain lines it prints stay exactly what they were. The view polls nothing:
the engine feeds it (engine/events.watch follows a stack's events for it while destroy's waiter runs).

A verb (or the engine) asks the printer for a tracker and reports through it; it never asks which kind:

    with ctx.out.progress([t.key for t in targets]) as tracker:    # live on a terminal, NULL otherwise
        tracker.begin(key, "DETECTION_IN_PROGRESS", resources=logical_ids)  # total = len(resources)
        tracker.update(key, current="Queries (AWS::S3::Bucket)")         # the resource in progress
        tracker.update(key, completed="Queries")                         # one more resource done
        tracker.event(key, stack_event)                                  # or a whole CloudFormation event
        tracker.finish(key, "IN_SYNC")                                   # or failed=True: drawn in red
    # ctx.out.line(...) keeps printing as before: on a terminal above the live lines, which stay at the bottom.

``ctx.out.event(key, event, text, colour)`` prints a stack event as before off a terminal; on one it feeds the
line and prints only failures (in red, above the live lines, where they stay).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from deployer.engine.report import Tracker
from deployer.engine.stack_status import Meaning, is_failure, is_resource_failure, is_settled, meaning

STACK_TYPE = "AWS::CloudFormation::Stack"
REFRESH_PER_SECOND = 4

# Statuses coloured by what they mean (engine/stack_status.py), so failures stand out in a scrolling log and on
# the live lines alike (deployer/output.py prints with these too).
_MEANING_COLOUR = {Meaning.FAILED: "red", Meaning.DONE: "green", Meaning.PENDING: "yellow"}


def status_colour(status: str) -> str | None:
    return _MEANING_COLOUR.get(meaning(status))


@dataclass
class Row:
    key: str
    status: str = "waiting"
    expected: set[str] | None = None  # the logical ids the operation touches; None: not known yet
    done: set[str] = field(default_factory=set)
    in_progress: dict[str, str] = field(default_factory=dict)  # logical id -> "Id (Type)", oldest first
    current: str = ""  # set by update(current=...) when no event says it
    started: float | None = None
    ended: float | None = None
    failed: bool = False

    def progress(self) -> str:
        if self.expected is None:
            return ""
        return f"{len(self.done & self.expected)}/{len(self.expected)}"

    def resource(self) -> str:
        if self.ended is not None:
            return ""
        return next(reversed(self.in_progress.values()), "") if self.in_progress else self.current

    def elapsed(self, now: float) -> str:
        if self.started is None:
            return ""
        seconds = int((self.ended if self.ended is not None else now) - self.started)
        return f"{seconds // 60}:{seconds % 60:02d}"


class Board:
    """What each stack's line says; every method is safe from any thread."""

    HEADERS = ("stack", "status", "resources", "in progress", "elapsed")

    def __init__(self, keys: Iterable[str], clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.lock = threading.Lock()
        self._rows = {key: Row(key) for key in keys}

    def _row(self, key: str) -> Row:
        if key not in self._rows:  # a stack nobody announced (an adoption's IMPORT...): a line of its own
            self._rows[key] = Row(key)
        return self._rows[key]

    def begin(self, key: str, status: str, resources: Iterable[str] | None = None) -> None:
        """The stack starts (or starts its next step): the clock runs from its first begin."""
        with self.lock:
            row = self._row(key)
            row.status = status
            if row.started is None:
                row.started = self.clock()
            if resources is not None:
                row.expected, row.done, row.in_progress = set(resources), set(), {}

    def update(self, key: str, status: str | None = None, current: str | None = None,
               completed: str | None = None) -> None:
        with self.lock:
            row = self._row(key)
            if status is not None:
                row.status = status
                row.failed = row.failed or is_failure(status)
            if current is not None:
                row.current = current
            if completed is not None:
                row.done.add(completed)
                row.in_progress.pop(completed, None)

    def event(self, key: str, event: dict) -> None:
        """A CloudFormation stack event: the stack's own sets the status; a resource's, what is in progress
        and what is done (a resource counts once, whatever it went through: a replacement's DELETE later in
        cleanup counts no second time)."""
        status = event.get("ResourceStatus", "")
        logical = event.get("LogicalResourceId", "")
        with self.lock:
            row = self._row(key)
            if row.ended is not None:  # read late: it counts, but the end, and its verdict, are said
                if is_settled(status) and event.get("ResourceType") != STACK_TYPE:
                    row.done.add(logical)
                return
            if event.get("ResourceType") == STACK_TYPE and logical == event.get("StackName", logical):
                row.status = status
                row.failed = row.failed or is_failure(status)
                return
            if not is_settled(status):
                row.in_progress.pop(logical, None)
                row.in_progress[logical] = f"{logical} ({event.get('ResourceType', '')})"
            else:
                row.in_progress.pop(logical, None)
                row.done.add(logical)
                if is_resource_failure(status):
                    row.failed = True

    def finish(self, key: str, status: str, failed: bool = False) -> None:
        """The stack's end, as its operation decided (not as an event on the way said: a DELETE_FAILED that
        a delete then got past is no failure)."""
        with self.lock:
            row = self._row(key)
            row.status = status
            row.failed = failed
            if row.ended is None:
                row.ended = self.clock() if row.started is not None else None
            row.in_progress.clear()

    def is_finished(self, key: str) -> bool:
        with self.lock:
            return self._row(key).ended is not None

    def rows(self) -> list[tuple[str, str, str, str, str, bool]]:
        """(stack, status, done/total, in progress, elapsed, failed) for each stack, in the order given."""
        now = self.clock()
        with self.lock:
            return [(r.key, r.status, r.progress(), r.resource(), r.elapsed(now), r.failed)
                    for r in self._rows.values()]


class LiveView(Tracker):
    """The board drawn by rich.live.Live on the printer's stream; the printer's lines go above it."""

    live = True

    def __init__(self, printer, keys: Iterable[str], clock: Callable[[], float] = time.monotonic):
        from rich.console import Console
        from rich.live import Live

        self.printer = printer
        self.board = Board(keys, clock)
        self.console = Console(file=printer.stream, force_terminal=True, no_color=not printer.colour,
                               highlight=False, width=_width(printer.stream))
        self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=REFRESH_PER_SECOND,
                          transient=True, redirect_stdout=True, redirect_stderr=True)
        self._stop = threading.Event()
        self._watchers: list[threading.Thread] = []

    # ---- the tracker ----

    def begin(self, key, status, resources=None):
        self.board.begin(key, status, resources)

    def update(self, key, status=None, current=None, completed=None):
        self.board.update(key, status, current, completed)

    def event(self, key, event):
        self.board.event(key, event)

    def finish(self, key, status, failed=False):
        self.board.finish(key, status, failed)

    def following(self, key):
        return not self._stop.is_set() and not self.board.is_finished(key)

    def keep(self, thread):
        self._watchers.append(thread)

    # ---- drawing ----

    def render(self):
        from rich.table import Table
        from rich.text import Text

        grid = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for header in Board.HEADERS:
            grid.add_column(header, no_wrap=True, overflow="ellipsis",
                            justify="right" if header in ("resources", "elapsed") else "left")
        for key, status, done, current, elapsed, failed in self.board.rows():
            colour = "red" if failed else status_colour(status)
            grid.add_row(Text(key, style="bold red" if failed else "bold"), Text(status, style=colour or ""),
                         done, Text(current, style="dim"), elapsed)
        return grid

    def print(self, text: str) -> None:
        """A line above the live area (``text`` may carry the printer's ANSI colours)."""
        from rich.text import Text

        self.console.print(Text.from_ansi(text), soft_wrap=True)

    def start(self) -> None:
        self._live.start()

    def pause(self) -> None:
        self._live.stop()

    def resume(self) -> None:
        self._live.start()

    def close(self) -> None:
        """Stop drawing and leave the last state of every line on screen, for good."""
        self._stop.set()
        for thread in self._watchers:
            thread.join(timeout=5)
        self._live.stop()
        self.console.print(self.render())


def _width(stream) -> int | None:
    import os

    try:
        return os.get_terminal_size(stream.fileno()).columns or None  # a new pty may say 0: let rich guess
    except (AttributeError, OSError, ValueError):
        return None
