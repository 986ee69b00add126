"""Printing: one line per event, prefixed with the stack, safe from several threads.

Colour only on a terminal (and never with NO_COLOR); plain text in CI logs.
With GITHUB_STEP_SUMMARY set (GitHub Actions), change-set tables are also
appended there as Markdown, so a reviewer sees them on the run's page.
"""

from __future__ import annotations

import os
import sys
import threading

_COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}

# Statuses coloured by what they mean, so failures stand out in a scrolling log.
def status_colour(status: str) -> str | None:
    if "FAILED" in status or "ROLLBACK" in status or status in ("failed",):
        return "red"
    if status.endswith("_COMPLETE") or status in ("created", "updated", "unchanged", "no changes"):
        return "green"
    if "IN_PROGRESS" in status or status in ("changes", "pending review"):
        return "yellow"
    return None


class Printer:
    def __init__(self, stream=None, colour: bool | None = None, summary_path: str | None = None):
        self.stream = stream or sys.stdout
        if colour is None:
            colour = hasattr(self.stream, "isatty") and self.stream.isatty() and not os.environ.get("NO_COLOR")
        self.colour = colour
        self.summary_path = summary_path if summary_path is not None else os.environ.get("GITHUB_STEP_SUMMARY")
        self.lock = threading.RLock()  # one writer at a time: lines and tables never interleave

    def paint(self, text: str, colour: str | None) -> str:
        if not self.colour or not colour:
            return text
        return f"\033[{_COLOURS[colour]}m{text}\033[0m"

    def line(self, text: str = "", stack: str | None = None, colour: str | None = None) -> None:
        prefix = self.paint(f"[{stack}] ", "bold") if stack else ""
        with self.lock:
            print(prefix + self.paint(text, colour), file=self.stream, flush=True)

    def block(self, lines: list[str], stack: str | None = None) -> None:
        with self.lock:
            for text in lines:
                self.line(text, stack)

    def error(self, text: str, stack: str | None = None) -> None:
        self.line(text, stack, "red")

    def ask(self, question: str) -> bool:
        with self.lock:
            try:
                answer = input(question)
            except EOFError:
                return False
        return answer.strip().lower() in ("y", "yes")

    def summary(self, markdown: str) -> None:
        if not self.summary_path:
            return
        with self.lock, open(self.summary_path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")


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
