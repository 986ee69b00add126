"""Questions the API could not resolve: one JSON object each to S3, or to the log."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import orjson
from botocore.config import Config

from app.redact import redact
from app.settings import Settings

log = logging.getLogger("app.unhandled")


def new_record(question: str, reason: str, request_id: str | None, **details: Any) -> dict[str, Any]:
    """The record of an unresolved question, personal data already replaced: it is what goes
    to S3 (kept for months) and, when S3 fails, to the log. The question as typed goes only to the
    model (Bedrock); the trace gets the same redaction (app.tracing)."""
    now = datetime.now(UTC)
    question, removed = redact(question)
    return {
        "id": uuid.uuid4().hex,
        "question": question,
        "redacted": removed,  # how many of each kind were replaced, e.g. {"DNI": 1, "EMAIL": 1}
        "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "reason": reason,
        "request_id": request_id,
        **details,
    }


def object_key(record: dict[str, Any]) -> str:
    day = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
    return f"unhandled/{day:%Y/%m/%d}/{record['id']}.json"


class UnhandledSink:
    """Writes records to s3://$S3_BUCKET_UNHANDLED/unhandled/YYYY/MM/DD/<id>.json.

    ``store`` is blocking and meant to run as a background task after the
    response is sent. Any failure (no bucket configured, S3 error, no
    credentials) logs the full record as one JSON line: nothing is lost.
    """

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket_unhandled
        self._region = settings.aws_default_region
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = boto3.client(
                    "s3",
                    region_name=self._region,
                    config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}),
                )
            return self._client

    def store(self, record: dict[str, Any]) -> bool:
        if not self.bucket:
            log.error(
                "unhandled_question_not_stored",
                extra={"reason_not_stored": "S3_BUCKET_UNHANDLED not set", "record": record},
            )
            return False
        key = object_key(record)
        try:
            self._s3().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=orjson.dumps(record),
                ContentType="application/json",
            )
        except Exception as exc:  # noqa: BLE001 - any failure must still keep the record
            log.error(
                "unhandled_question_not_stored",
                extra={"reason_not_stored": f"{type(exc).__name__}: {exc}", "s3_key": key, "record": record},
            )
            return False
        log.info("unhandled_question_stored", extra={"s3_key": key, "reason": record["reason"]})
        return True
