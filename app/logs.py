"""Structured logging: one JSON object per line on stdout, with the request id."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else passed through `extra=` is a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
    "request_id",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as a single JSON line (never a multi-line traceback)."""

    def __init__(self) -> None:
        super().__init__()
        # The time up to the second changes once a second, not once a line (one access line a request).
        self._second = -1
        self._second_text = ""

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_configured = False


def configure_logging(level: str = "INFO") -> None:
    """Send the root logger and uvicorn's loggers to stdout as JSON lines."""
    global _configured
    if _configured:
        return
    # Stamp the request id on each record when it is created, so it survives
    # handlers that format later or in another thread.
    base_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base_factory(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    logging.setLogRecordFactory(factory)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, logging.StreamHandler) or _is_capture(h)]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers = []
        uv.propagate = True
    # The access log of uvicorn is replaced by ours (JSON, with request id).
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "httpx2", "httpcore", "langsmith"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def _is_capture(handler: logging.Handler) -> bool:
    # Keep pytest's capture handlers, replace plain stream handlers.
    return type(handler).__module__.startswith("_pytest")
