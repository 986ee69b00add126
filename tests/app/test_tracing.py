"""The Dockerfile's server with tracing on, as prod's params set it, against a fake LangSmith and a
fake Bedrock on 127.0.0.1: no body the tracer receives, and no line of the log, holds a personal
value of the corpus, while the traces still carry the question (redacted), the prompt and the reply."""

from __future__ import annotations

import email.parser
import gzip
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
import zstandard

import contract
from templates.params import SCHEMA, ParamError
from tests.tools import ROOT

from .personal_corpus import PERSONAL
from .server import dockerfile_server

PROD = yaml.safe_load((ROOT / "params" / "prod.yaml").read_text())


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path, dict(self.headers.items()), body))
        return body

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeLangSmith(_Handler):
    """Accepts whatever the SDK sends (/info, /runs/multipart, /runs/batch, /runs)."""

    def do_GET(self) -> None:
        self._record()
        self._json(200, {"version": "0.10.0"} if self.path.startswith("/info") else {})

    def do_POST(self) -> None:
        self._record()
        self._json(202 if "multipart" in self.path else 200, {})

    do_PATCH = do_POST


ECHO_ERROR = "provocá un error"


class FakeBedrock(_Handler):
    """Converse: the reply repeats the question (so the traced output holds it too); a question
    asking for an error gets a ValidationException whose message repeats it (the traced error)."""

    def do_POST(self) -> None:
        request = json.loads(self._record())
        question = request["messages"][-1]["content"][0]["text"]
        if ECHO_ERROR in question:
            self._json(400, {"message": f"Malformed input request: {question}"},
                       {"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/"})
            return
        reply = {"respuesta": f"Sobre «{question}»: 25% en Carrefour los miércoles.",
                 "beneficios": ["carrefour-miercoles"]}
        self._json(200, {
            "output": {"message": {"role": "assistant", "content": [{"text": json.dumps(reply, ensure_ascii=False)}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 10, "totalTokens": 20},
            "metrics": {"latencyMs": 5},
        })


@pytest.fixture
def fakes() -> Iterator[tuple[Recorder, Recorder]]:
    servers = (Recorder(FakeLangSmith), Recorder(FakeBedrock))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def decoded(headers: dict[str, str], body: bytes) -> list[str]:
    """Every text a request carried: the body decompressed as sent (zstd or gzip), split into its
    multipart parts, each JSON part reduced to its strings (and keys)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    encoding = lowered.get("content-encoding", "")
    if encoding == "zstd":
        body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    elif encoding == "gzip":
        body = gzip.decompress(body)
    content_type = lowered.get("content-type", "")
    parts: list[bytes] = [body]
    if content_type.startswith("multipart/"):
        message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        parts = [part.get_payload(decode=True) or b"" for part in message.walk() if not part.is_multipart()]
    texts: list[str] = []
    for part in parts:
        text = part.decode("utf-8", errors="replace")
        texts.append(text)
        try:
            texts.extend(_strings(json.loads(text)))
        except ValueError:
            pass
    return texts


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


VALUES = sorted({v for *_, values in PERSONAL for v in values})


def leaks(text: str) -> list[str]:
    """The corpus values ``text`` holds: digit values compared on digits only (any formatting),
    the others as written, ignoring case."""
    digits = re.sub(r"\D", "", text)
    folded = text.casefold()
    return [v for v in VALUES if (v.isdigit() and v in digits) or (not v.isdigit() and v.casefold() in folded)]


def _post(url: str, question: str) -> dict:
    request = urllib.request.Request(
        f"{url}/v1/query", data=json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def test_traces_and_log_hold_no_personal_value(fakes, tmp_path):
    langsmith, bedrock = fakes
    assert PROD["langchain_tracing_v2"] is True  # the setting under test is prod's
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "CACHE_ENABLED": "false",
        # As the task definition sets them from prod's params, the endpoint aside (the fake).
        **{name: str(PROD.get(key, "")).lower() if isinstance(PROD.get(key), bool) else str(PROD.get(key, ""))
           for name, key in contract.CONTAINER_ENVIRONMENT.items() if key and key.startswith("langchain_")},
        "LANGCHAIN_ENDPOINT": langsmith.url,
        "LANGCHAIN_API_KEY": "lsv2-test-key",
    }
    questions = [f"{question} ¿Hay descuento en Carrefour los miércoles?" for question, *_ in PERSONAL]
    questions.append(f"{ECHO_ERROR}: mi tarjeta 4111 1111 1111 1111 en Carrefour")
    with dockerfile_server(env, tmp_path) as server:
        answers = [_post(server.url, q) for q in questions]
    assert all(a.get("resolved") for a in answers[:-1]), answers[:3]
    assert answers[-1].get("reason") == "model_unavailable"
    assert len(bedrock.requests) == len(questions)

    bodies = [(path, decoded(headers, body)) for method, path, headers, body in langsmith.requests if body]
    traced = "\n".join(text for _, texts in bodies for text in texts)
    # Tracing really happened: the prompt, the redacted questions, the reply and the error went out.
    assert bodies and "Beneficios disponibles" in traced
    assert "[CARD]" in traced and "[EMAIL]" in traced and "[PHONE]" in traced and "[DNI]" in traced
    assert "Sobre «" in traced and "Malformed input request" in traced
    for path, texts in bodies:
        for text in texts:
            assert leaks(text) == [], f"{path} carried {leaks(text)}"
    # Nor does the container's log (the unhandled record falls back to it: no bucket here).
    for line in server.log_path.read_text().splitlines():
        assert leaks(line) == [], line


@pytest.mark.parametrize("endpoint", ["https://api.smith.langchain.com", "https://eu.api.smith.langchain.com"])
def test_the_endpoint_is_one_of_langsmiths_published_api_hosts(endpoint):
    assert _endpoint_param().parse(endpoint, from_cli=True) == endpoint


@pytest.mark.parametrize("endpoint", [
    "https://attacker.example.com", "http://api.smith.langchain.com", "https://api.smith.langchain.com.evil.io",
    "https://api.smith.langchain.com/../x", "https://smith.langchain.com", "",
])
def test_any_other_endpoint_is_refused_naming_the_allowed_hosts(endpoint):
    with pytest.raises(ParamError) as refused:
        _endpoint_param().parse(endpoint, from_cli=True)
    message = str(refused.value)
    assert "\n" not in message and "langchain_endpoint" in message
    assert "https://api.smith.langchain.com, https://eu.api.smith.langchain.com" in message


def _endpoint_param():
    [param] = [p for p in SCHEMA if p.key == "langchain_endpoint"]
    return param
