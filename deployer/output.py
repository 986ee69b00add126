"""Printing: one line per event, prefixed with the stack, safe from several threads.

Colour only on a terminal (and never with NO_COLOR or TERM=dumb); plain text in CI logs.
With GITHUB_STEP_SUMMARY set (GitHub Actions), change-set tables are also
appended there as Markdown, so a reviewer sees them on the run's page.

On a terminal (not NO_COLOR, not TERM=dumb), ``progress(keys)`` draws one live line per stack at the
bottom (deployer/progress.py) while the stacks change: the other lines print above it, stack events feed
it instead of scrolling past (a failed one is still printed, in red). Elsewhere ``progress`` changes
nothing: the same lines, no control characters.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator

from deployer.engine.stack_status import Meaning, is_resource_failure, meaning

_COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}

# Statuses coloured by what they mean (engine/stack_status.py), so failures stand out in a scrolling log.
_MEANING_COLOUR = {Meaning.FAILED: "red", Meaning.DONE: "green", Meaning.PENDING: "yellow"}


def status_colour(status: str) -> str | None:
    return _MEANING_COLOUR.get(meaning(status))


class Printer:
    def __init__(self, stream=None, colour: bool | None = None, summary_path: str | None = None,
                 live: bool | None = None):
        self.stream = stream or sys.stdout
        if colour is None:  # a dumb terminal prints escape codes as they are
            colour = (hasattr(self.stream, "isatty") and self.stream.isatty() and not os.environ.get("NO_COLOR")
                      and os.environ.get("TERM") != "dumb")
        self.colour = colour
        # Lines redrawn in place: on a terminal that takes colour (so not in CI, a pipe, NO_COLOR, TERM=dumb).
        self.live = colour if live is None else live
        self.summary_path = summary_path if summary_path is not None else os.environ.get("GITHUB_STEP_SUMMARY")
        self.lock = threading.RLock()  # one writer at a time: lines and tables never interleave
        self.tracker = _null_tracker()  # the live view while one runs (progress()), else a tracker doing nothing
        self._view = None

    @contextlib.contextmanager
    def progress(self, keys: Iterable[str]) -> Iterator:
        """One live line per stack of ``keys`` while the block runs (on a terminal); yields the tracker the
        block reports to (deployer/progress.py), also ``self.tracker``. Nested: the outer view goes on."""
        if not self.live or self._view is not None:
            yield self.tracker
            return
        from deployer.progress import LiveView

        view = LiveView(self, keys)
        with self.lock:
            self._view, self.tracker = view, view
            view.start()
        try:
            yield view
        finally:
            with self.lock:
                self._view, self.tracker = None, _null_tracker()
                view.close()

    def event(self, stack: str, event: dict, text: str, colour: str | None = None) -> None:
        """A CloudFormation stack event (``text`` is its line): the line as ever, or, under a live view, the
        stack's live line; a failure is printed either way, so that it stays on screen."""
        view = self._view
        if view is None:
            self.line(text, stack, colour)
            return
        view.event(stack, event)
        if is_resource_failure(event.get("ResourceStatus", "")):
            self.line(text, stack, "red")

    def paint(self, text: str, colour: str | None) -> str:
        if not self.colour or not colour:
            return text
        return f"\033[{_COLOURS[colour]}m{text}\033[0m"

    def line(self, text: str = "", stack: str | None = None, colour: str | None = None) -> None:
        prefix = self.paint(f"[{stack}] ", "bold") if stack else ""
        with self.lock:
            if self._view is not None:
                self._view.print(prefix + self.paint(text, colour))
                return
            print(prefix + self.paint(text, colour), file=self.stream, flush=True)

    def block(self, lines: list[str], stack: str | None = None) -> None:
        with self.lock:
            for text in lines:
                self.line(text, stack)

    def error(self, text: str, stack: str | None = None) -> None:
        self.line(text, stack, "red")

    def ask(self, question: str) -> bool:
        with self.lock, self.paused():
            try:
                answer = input(question)
            except EOFError:
                return False
        return answer.strip().lower() in ("y", "yes")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No live redrawing while the operator types (hold ``lock`` too, so that no line comes between)."""
        view = self._view
        if view is None:
            yield
            return
        view.pause()
        try:
            yield
        finally:
            view.resume()

    def summary(self, markdown: str) -> None:
        if not self.summary_path:
            return
        with self.lock, open(self.summary_path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")


def _null_tracker():
    from deployer.progress import NULL

    return NULL


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Fixed-width text table, as lines."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    out += [fmt.format(*(str(c) for c in row)).rstrip() for row in rows]
    return out


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(x) -> str:
        return str(x).replace("|", "\\|") or " "

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
