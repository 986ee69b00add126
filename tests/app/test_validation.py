"""Bad input gets a 422 with a message that says what is wrong."""

from __future__ import annotations

import pytest


@pytest.fixture
def client(make_client, make_settings):
    return make_client(make_settings(cache_enabled=False))


@pytest.mark.parametrize(
    ("kwargs", "field", "needle"),
    [
        ({"json": {"question": ""}}, "question", "no puede estar vacía"),
        ({"json": {"question": "   \n\t "}}, "question", "no puede estar vacía"),
        ({"json": {"question": "¿" + "a" * 1000}}, "question", "el máximo es 1000"),
        ({"json": {"question": 42}}, "question", "Debe ser un texto"),
        ({"json": {"question": ["Carrefour"]}}, "question", "Debe ser un texto"),
        ({"json": {"question": None}}, "question", "Debe ser un texto"),
        ({"json": {"question": "Carrefour", "user": "x"}}, "user", "Campo no permitido"),
        ({"json": {}}, "question", "obligatorio"),
        ({"json": ["Carrefour"]}, "body", "objeto JSON"),
        ({"json": "Carrefour"}, "body", "objeto JSON"),
        ({"content": b'{"question": ', "headers": {"content-type": "application/json"}}, "body", "JSON válido"),
    ],
)
def test_bad_query_is_422_with_a_clear_message(client, fake_model, kwargs, field, needle):
    r = client.post("/v1/query", **kwargs)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"].startswith("Solicitud inválida: ")
    assert needle in body["message"]
    assert any(d["field"] == field and needle in d["msg"] for d in body["detail"])
    assert body["request_id"] == r.headers["x-request-id"]
    assert fake_model.calls == 0


def test_exactly_1000_characters_is_accepted(client, fake_model):
    question = ("Carrefour " * 100)[:1000]
    assert len(question) == 1000
    assert client.post("/v1/query", json={"question": question}).status_code == 200


def test_question_is_stripped_before_use(client, fake_model):
    client.post("/v1/query", json={"question": "  Carrefour miércoles  "})
    assert fake_model.last_messages[1].content == "Carrefour miércoles"


def test_oversized_body_is_413(client):
    r = client.post(
        "/v1/query", content=b'{"question": "' + b"a" * 70_000 + b'"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "bytes" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"day": "funday"}, "day"), ({"category": "casinos"}, "category"), ({"card": "diners"}, "card")],
)
def test_bad_benefit_filter_is_422_listing_the_options(client, params, field):
    r = client.get("/v1/benefits", params=params)
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["field"] == f"query.{field}"
    assert "opciones" in detail["msg"]


def _chunks(total: int, size: int = 8192):
    yield b'{"question": "'
    for _ in range(total // size):
        yield b"a" * size
    yield b'"}'


def test_oversized_chunked_body_is_413(client, fake_model):
    # No Content-Length to trust: the limit counts the bytes actually received.
    r = client.post("/v1/query", content=_chunks(200_000), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert "bytes" in r.json()["detail"] and fake_model.calls == 0


def test_small_chunked_body_is_read_whole(client, fake_model):
    body = iter([b'{"question": "Carrefour ', b'mi\xc3\xa9rcoles"}'])
    r = client.post("/v1/query", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert fake_model.last_messages[1].content == "Carrefour miércoles"


def test_oversized_chunked_body_is_413_on_a_real_server(tmp_path):
    """uvicorn (httptools) parsing real chunked transfer encoding off a socket."""
    import http.client
    import os
    import subprocess
    import sys
    import time

    from tests.tools import ROOT, free_port

    port = free_port()
    env = {**os.environ, "CACHE_ENABLED": "false", "AWS_DEFAULT_REGION": "us-east-1"}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--http", "httptools"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/v1/query", body=_chunks(200_000), encode_chunked=True,
                             headers={"content-type": "application/json", "transfer-encoding": "chunked"})
                break
            except ConnectionRefusedError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        response = conn.getresponse()
        assert response.status == 413, response.read()
        assert response.getheader("content-length") is not None
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_are_off_unless_a_setting_turns_them_on(make_client, make_settings, path):
    assert make_client(make_settings(cache_enabled=False)).get(path).status_code == 404
    assert make_client(make_settings(cache_enabled=False, api_docs=True)).get(path).status_code == 200
