"""Slow and numerous clients against the Dockerfile's server, over real sockets on 127.0.0.1: a body
trickled a byte a second is cut off with a 408 well before the ALB's idle timeout, and past the
concurrency bound a request is refused at once with a 503 instead of queueing."""

from __future__ import annotations

import json
import socket
import time

import pytest

from app.middleware import BODY_TIMEOUT_SECONDS
from app.settings import Settings

from .server import Server, cmd, dockerfile_server

ALB_IDLE_TIMEOUT_SECONDS = 60  # the load balancer's default; the compute template does not change it
ENV = {"AWS_DEFAULT_REGION": "us-east-1", "CACHE_ENABLED": "false"}


@pytest.fixture
def server(tmp_path):
    with dockerfile_server(ENV, tmp_path) as running:
        yield running


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(4096)
    return int(status_line.split()[1]), headers, body


def _closed(sock: socket.socket, timeout: float = 5) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_the_deadline_is_well_under_the_albs_idle_timeout():
    assert Settings().request_body_timeout_seconds == BODY_TIMEOUT_SECONDS <= ALB_IDLE_TIMEOUT_SECONDS / 4


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_trickled_a_byte_a_second_gets_408_at_the_deadline(server, chunked):
    body = json.dumps({"question": "¿Qué descuento hay en Carrefour los miércoles?"}).encode()
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(body)
    sock = _connect(server)
    start = time.monotonic()
    sock.sendall(b"POST /v1/query HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n" + framing + b"\r\n\r\n")
    sock.setblocking(False)
    answered = None
    for byte in body:  # one byte a second, until the server answers
        try:
            sock.send(b"1\r\n%c\r\n" % byte if chunked else bytes([byte]))
        except OSError:
            break
        time.sleep(1)
        try:
            if sock.recv(1, socket.MSG_PEEK):
                answered = time.monotonic() - start
                break
        except BlockingIOError:
            continue
    assert answered is not None, "no answer while the body trickled in"
    status, headers, payload = _response(sock, 5)
    assert status == 408 and headers.get("connection") == "close"
    assert "no llegó completo" in json.loads(payload)["detail"]
    assert BODY_TIMEOUT_SECONDS <= answered < BODY_TIMEOUT_SECONDS + 3 < ALB_IDLE_TIMEOUT_SECONDS
    assert _closed(sock)
    sock.close()
    records = server.records()
    assert any(r.get("message") == "request" and r.get("status") == 408 for r in records)


def test_past_the_concurrency_bound_a_request_is_refused_at_once(server):
    command = cmd()
    limit = int(command[command.index("--limit-concurrency") + 1])
    assert 0 < limit <= 1000
    idle = [_connect(server) for _ in range(limit)]  # connected, sending nothing (idle keep-alives count)
    try:
        time.sleep(0.5)
        sock = _connect(server)
        start = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\n\r\n")
        status, _, _ = _response(sock, 5)
        assert status == 503 and time.monotonic() - start < 2
        sock.close()
    finally:
        for s in idle:
            s.close()
    time.sleep(0.5)
    sock = _connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\n\r\n")
    assert _response(sock, 5)[0] == 200
    sock.close()
