"""What the engine tells whoever watches it: the ``Reporter`` it prints through and the ``Tracker`` it feeds.

The engine never imports the terminal. It speaks to these two shapes; deployer/output.py's ``Printer`` is
a ``Reporter`` and deployer/progress.py's ``LiveView`` a ``Tracker``, handed in by whoever runs the engine.
``NULL`` is the tracker of a run with no live view: every call does nothing and costs no AWS call.
The text tables are here too: plain lines, the same on a terminal, in a CI log and in a test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol


class Tracker:
    """A live view's calls, doing nothing (``NULL``); deployer/progress.py's ``LiveView`` draws them."""

    live = False  # a view that draws events: only then does the engine poll CloudFormation to feed it

    def begin(self, key: str, status: str, resources: Iterable[str] | None = None) -> None:
        return None

    def update(self, key: str, status: str | None = None, current: str | None = None,
               completed: str | None = None) -> None:
        return None

    def event(self, key: str, event: dict) -> None:
        return None

    def finish(self, key: str, status: str, failed: bool = False) -> None:
        return None

    def following(self, key: str) -> bool:
        """Whether the view still wants ``key``'s events (engine/events.watch stops after one more look)."""
        return False

    def keep(self, thread: threading.Thread) -> None:
        """A thread feeding the view: the view waits for it when it closes, so no late event is lost."""
        return None


NULL = Tracker()


class Reporter(Protocol):
    """Where the engine's lines go (deployer/output.py's ``Printer``), safe from several threads."""

    tracker: Tracker

    def line(self, text: str = "", stack: str | None = None, colour: str | None = None) -> None: ...

    def error(self, text: str, stack: str | None = None) -> None: ...

    def block(self, lines: list[str], stack: str | None = None) -> None: ...

    def summary(self, markdown: str) -> None: ...

    def event(self, stack: str, event: dict, text: str) -> None: ...

    def progress(self, keys: Iterable[str]) -> AbstractContextManager[Tracker]: ...


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
