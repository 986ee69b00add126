"""scripts/smoke_test.py, the pipeline's smoke test, against the real app served on 127.0.0.1 (uvicorn, the
image's server) with LangChain's fake model in Bedrock's place; and against a server that breaks the contract
one way at a time, each of which it must refuse."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time

import pytest
import uvicorn
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from app.main import create_app
from app.settings import Settings
from testkit.tools import ROOT
from tests.app.conftest import CARREFOUR_ANSWER
from tests.tools import free_port

sys.path.insert(0, str(ROOT / "scripts"))
import smoke_test  # noqa: E402


@pytest.fixture(scope="module")
def api_url():
    settings = Settings(aws_default_region="us-east-1", cache_enabled=False, s3_bucket_unhandled="smoke-bucket",
                        langchain_tracing_v2=False)
    app = create_app(settings, model=FakeListChatModel(responses=[CARREFOUR_ANSWER]))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http="httptools"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


def test_the_real_app_passes_every_request(api_url, capsys):
    assert smoke_test.main([api_url + "/", "--wait", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"GET {api_url}/: 200 ok"
    assert out[1].startswith("GET /v1/benefits: 200, ") and out[1].endswith(" benefits")
    assert out[2] == "POST /v1/query: 200, resolved=True, cached=False"
    assert out[3:] == ["POST /v1/query with an empty question: 422", "smoke test passed"]


GOOD = {
    ("GET", "/"): (200, {"status": "ok"}),
    ("GET", "/v1/benefits"): (200, {"count": 1, "updated_at": "2026-01-01", "benefits": [{}]}),
    ("POST", "/v1/query"): (200, {"answer": "a", "benefit_ids": [], "cached": False, "resolved": True}),
    ("POST", "/v1/query", ""): (422, {"detail": []}),
}


class Scripted(http.server.BaseHTTPRequestHandler):
    answers: dict = GOOD

    def _answer(self, method: str):
        key = (method, self.path)
        if method == "POST":
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            if body.get("question") == "":
                key = (*key, "")
        status, body = self.answers[key]
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):  # noqa: N802 (http.server's names)
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def log_message(self, *args):
        pass


def serve(answers: dict):
    handler = type("Handler", (Scripted,), {"answers": answers})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_scripted_server_passes_as_it_is():
    server = serve(GOOD)
    try:
        smoke_test.smoke(f"http://127.0.0.1:{server.server_port}", wait=1, poll=0.05, say=lambda _: None)
    finally:
        server.shutdown()


@pytest.mark.parametrize(("change", "message"), [
    ({("GET", "/"): (200, {"status": "degraded"})}, "GET /: 200 with {'status': 'degraded'}"),
    ({("GET", "/"): (502, {"message": "Bad Gateway"})}, "GET /: still 502 after 1 s"),
    ({("GET", "/v1/benefits"): (200, {"count": 1, "benefits": []})}, "field 'updated_at' is None"),
    ({("GET", "/v1/benefits"): (403, {"message": "Forbidden"})}, "GET /v1/benefits: answered 403, expected 200"),
    ({("POST", "/v1/query"): (200, {"answer": "a", "benefit_ids": [], "cached": False})},
     "POST /v1/query: field 'resolved' is None, expected a bool"),
    ({("POST", "/v1/query"): (503, {"reason": "model_unavailable"})}, "POST /v1/query: answered 503, expected 200"),
    ({("POST", "/v1/query", ""): (200, GOOD[("POST", "/v1/query")][1])},
     "POST /v1/query with an empty question: answered 200, expected 422"),
    ({("POST", "/v1/query", ""): (403, {"message": "Forbidden"})},  # a WAF that blocks what the API should judge
     "POST /v1/query with an empty question: answered 403, expected 422"),
])
def test_each_broken_promise_fails_the_smoke_test_naming_it(change, message, capsys):
    server = serve({**GOOD, **change})
    try:
        code = smoke_test.main([f"http://127.0.0.1:{server.server_port}", "--wait", "1"])
    finally:
        server.shutdown()
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("smoke_test.py: failed: ") and message in err, err


def test_a_url_that_is_not_one_is_bad_input(capsys):
    assert smoke_test.main(["staging.example.com"]) == 2
    assert "url 'staging.example.com' is not an http:// or https:// URL" in capsys.readouterr().err
