"""`health` against a real HTTP server on 127.0.0.1: the URL comes from the compute stack's ApiUrl output
(a moto CloudFormation stack), the GETs are real."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time

import pytest

import contract
from deployer.verbs import health
from testkit.placeholders import PROD
from tests.operator.conftest import PROJECT, cfn_stack, run

# The test server speaks plain HTTP: the environment that says so (dev's allow_plain_http), whose compute
# stack these tests create.
PLAIN_HTTP = ["dev"]
DEV_COMPUTE = f"{contract.default_project_name('dev')}-compute"


@contextlib.contextmanager
def server(statuses):
    """Answers GET with the next status of ``statuses`` (the last one forever after); records the paths."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            paths.append(self.path)
            status = statuses[min(len(paths), len(statuses)) - 1]
            body = b'{"status": "ok"}' if status == 200 else b"unavailable"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", paths
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_healthy_after_503s_exits_0(moto, capsys):
    with server([503, 503, 200]) as (url, paths):
        cfn_stack(DEV_COMPUTE, {"ApiUrl": url})
        result = run([*PLAIN_HTTP, "health", "--timeout", "10", "--interval", "0.1"])
    assert result.code == 0, result.out + result.err
    assert paths == ["/", "/", "/"]  # GET / is the ALB's health check path
    lines = [x for x in result.out.splitlines() if "GET " in x]
    assert [x.split("-> ")[1].split()[0] for x in lines] == ["503", "503", "200"]
    assert f"healthy: {url}/ answered 200" in result.out


def test_never_healthy_exits_1_with_last_status_within_the_bound(moto, capsys):
    with server([500, 503]) as (url, paths):
        cfn_stack(DEV_COMPUTE, {"ApiUrl": url})
        start = time.monotonic()
        result = run([*PLAIN_HTTP, "health", "--timeout", "1.5", "--interval", "0.2"])
        elapsed = time.monotonic() - start
    assert result.code == 1
    assert 1.4 <= elapsed < 3.5, elapsed  # polled until the bound, not far past it
    assert len(paths) >= 5  # kept trying every 0.2 s
    assert "did not answer 200 within 1.5 s; last: 503" in result.err


def test_nothing_listening_reports_the_connection_error(moto, capsys):
    with server([200]) as (url, _):
        pass  # closed: the port now refuses connections
    cfn_stack(DEV_COMPUTE, {"ApiUrl": url})
    result = run([*PLAIN_HTTP, "health", "--timeout", "0.5", "--interval", "0.1"])
    assert result.code == 1
    assert "last: error:" in result.err and "refused" in result.err.lower()


def test_an_http_api_url_where_the_params_serve_https_is_refused_not_polled(moto, capsys):
    with server([200]) as (url, paths):
        cfn_stack(f"{PROJECT}-compute", {"ApiUrl": url})
        result = run([*PROD, "health", "--timeout", "1"])
    assert result.code == 1 and paths == []
    assert f"ApiUrl is {url}, not https, yet params/prod.yaml serves HTTPS" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_without_the_compute_stack_says_so(moto, capsys):
    result = run([*PROD, "health", "--timeout", "1"])
    assert result.code == 1
    assert f"{PROJECT}-compute is not deployed" in result.err


def test_compute_without_api_url_names_the_outputs_it_has(moto, capsys):
    cfn_stack(f"{PROJECT}-compute", {"ClusterName": "c"})
    result = run([*PROD, "health", "--timeout", "1"])
    assert result.code == 1
    assert "no output ApiUrl" in result.err and "ClusterName" in result.err


@pytest.mark.parametrize("timeout", [0.0, 3.0])
def test_wait_healthy_makes_at_least_one_attempt_and_stops_at_the_bound(timeout):
    # A fake clock: the bound is checked against time, not against a count of attempts.
    now = [0.0]
    attempts = []

    def fetch(url, request_timeout):
        attempts.append(now[0])
        assert request_timeout <= max(0.5, timeout - now[0]) + 1e-9  # never lasts past the bound
        return "502"

    ok, last = health.wait_healthy("http://x/", timeout, lambda _: None, interval=1, fetch=fetch,
                                   clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert (ok, last) == (False, "502")
    assert attempts == ([0.0] if timeout == 0 else [0.0, 1.0, 2.0, 3.0])
