"""Pure ASGI middleware: request id, one JSON access line, no stack traces out.

Pure ASGI (not BaseHTTPMiddleware). `GET /`, which the ALB and the pipeline
poll, is answered right here with pre-built messages: the health check costs
neither routing nor logging.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import orjson

from app.logs import request_id_var

log = logging.getLogger("app.access")
error_log = logging.getLogger("app.error")

_VALID_ID = re.compile(r"^[A-Za-z0-9._:=-]{1,128}$")
MAX_BODY_BYTES = 64 * 1024
# A body (at most 64 KiB) must arrive within this (Settings.request_body_timeout_seconds): a client
# trickling bytes holds a connection and a task for as long as it likes otherwise. Well under the
# ALB's idle timeout (60 s), which restarts with every byte and so never cuts a slow body off.
BODY_TIMEOUT_SECONDS = 10.0
HEALTH_OK_BODY = b'{"status":"ok"}'
_OK_HEADERS = (
    (b"content-type", b"application/json"),
    (b"content-length", str(len(HEALTH_OK_BODY)).encode()),
)


def _header(scope: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


async def _send_json(send: Any, status: int, body: dict[str, Any], close: bool = False) -> None:
    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodyTooSlow(Exception):
    """The client did not send its whole body within the deadline."""


class RequestContextMiddleware:
    def __init__(self, app: Any, body_timeout_seconds: float = BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.body_timeout_seconds = body_timeout_seconds

    async def _bounded_body(self, scope: dict[str, Any], receive: Any) -> Any:
        """Read the whole body, counting the bytes actually received (a chunked body has no
        Content-Length to trust) and within a deadline: None when it passes MAX_BODY_BYTES,
        BodyTooSlow when the deadline passes first, else a ``receive`` that hands the app the
        body read here and then the client's own messages."""
        if scope["method"] in ("GET", "HEAD"):
            return receive
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return None  # refused before reading a byte
        try:
            async with asyncio.timeout(self.body_timeout_seconds):
                return await self._read_body(receive)
        except TimeoutError:
            raise BodyTooSlow from None

    @staticmethod
    async def _read_body(receive: Any) -> Any:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                first: dict[str, Any] | None = message  # the client went away: the app sees it
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break

        async def replay() -> dict[str, Any]:
            nonlocal first
            if first is not None:
                message, first = first, None
                return message
            return await receive()

        return replay

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/":
            if scope["method"] == "GET":
                # The ALB / pipeline health check: answered here, without routing,
                # logging or a request id (the route stays for the OpenAPI schema).
                # Fresh dicts each time: an outer layer may add headers to them.
                await send({"type": "http.response.start", "status": 200, "headers": list(_OK_HEADERS)})
                await send({"type": "http.response.body", "body": HEALTH_OK_BODY})
            else:
                await self.app(scope, receive, send)
            return

        given = _header(scope, b"x-request-id")
        request_id = given.decode("latin-1") if given and _VALID_ID.match(given.decode("latin-1")) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        state = {"status": 0, "duration_ms": 0.0}
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            try:
                receive = await self._bounded_body(scope, receive)
            except BodyTooSlow:
                # Connection: close, so uvicorn drops the socket instead of reading the rest.
                await _send_json(
                    send_with_id,
                    408,
                    {"detail": f"El cuerpo no llegó completo en {self.body_timeout_seconds:g} segundos.",
                     "request_id": request_id},
                    close=True,
                )
                return
            if receive is None:
                await _send_json(
                    send_with_id,
                    413,
                    {"detail": f"El cuerpo supera {MAX_BODY_BYTES} bytes.", "request_id": request_id},
                )
                return
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                error_log.exception("unhandled_error", extra={"method": scope["method"], "path": scope["path"]})
                if state["status"] == 0:
                    await _send_json(
                        send_with_id,
                        500,
                        {"detail": "Error interno. Intente nuevamente.", "request_id": request_id},
                    )
        finally:
            if log.isEnabledFor(logging.INFO):
                # makeRecord + handle is what log.info does, less its search of the stack for the
                # caller's file and line, which the JSON line does not carry.
                log.handle(
                    log.makeRecord(
                        log.name,
                        logging.INFO,
                        "",
                        0,
                        "request",
                        (),
                        None,
                        extra={
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": state["status"],
                            "duration_ms": state["duration_ms"],
                        },
                    )
                )
            request_id_var.reset(token)
