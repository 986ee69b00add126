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

from deployer.engine.report import NULL, markdown_table, table
from deployer.engine.stack_status import is_resource_failure
from deployer.progress import LiveView, status_colour

__all__ = ["Printer", "markdown_table", "status_colour", "table"]  # the tables are the engine's, printed here

_COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}


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
        self.tracker = NULL  # the live view while one runs (progress()), else a tracker doing nothing
        self._view = None

    @contextlib.contextmanager
    def progress(self, keys: Iterable[str]) -> Iterator:
        """One live line per stack of ``keys`` while the block runs (on a terminal); yields the tracker the
        block reports to (deployer/progress.py), also ``self.tracker``. Nested: the outer view goes on."""
        if not self.live or self._view is not None:
            yield self.tracker
            return
        view = LiveView(self, keys)
        with self.lock:
            self._view, self.tracker = view, view
            view.start()
        try:
            yield view
        finally:
            with self.lock:
                self._view, self.tracker = None, NULL
                view.close()

    def event(self, stack: str, event: dict, text: str) -> None:
        """A CloudFormation stack event (``text`` is its line, coloured by its status): the line as ever, or,
        under a live view, the stack's live line; a failure is printed either way, so that it stays on screen."""
        view = self._view
        if view is None:
            self.line(text, stack, status_colour(event.get("ResourceStatus", "")))
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
