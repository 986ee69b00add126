"""The cache hit's shortcut (``CachedAnswerShortcut``): a hit never reaches FastAPI's route, and
answers exactly as the route would; everything else still goes through the route."""

from __future__ import annotations

import json
import logging

import pytest

from app.deps import get_services
from app.logs import JsonFormatter

QUESTION = "¿Qué descuento hay en Carrefour los miércoles?"


def _route_broken(app) -> None:
    """Any request that reaches a route needing the services fails (500)."""

    async def broken():
        raise RuntimeError("the route was reached")

    app.dependency_overrides[get_services] = broken


def _gets(redis_db) -> int:
    return int(redis_db.info("commandstats").get("cmdstat_get", {}).get("calls", 0))


def test_a_hit_is_answered_before_the_route(make_client, fake_model, redis_db, aws):
    client = make_client()
    first = client.post("/v1/query", json={"question": QUESTION})
    assert first.status_code == 200 and first.json()["cached"] is False
    _route_broken(client.app)
    r = client.post("/v1/query", json={"question": "  ¿Qué\u200b descuento  hay en Carrefour los miércoles? "})
    assert r.status_code == 200, r.text
    assert r.json() == {**first.json(), "cached": True}
    # A miss still needs the route (and here finds it broken).
    assert client.post("/v1/query", json={"question": "¿Hay descuento en Coto?"}).status_code == 500


def test_a_hit_has_the_routes_status_headers_and_body(make_client, fake_model, redis_db, aws):
    client = make_client()
    client.post("/v1/query", json={"question": QUESTION})
    body = json.dumps({"question": QUESTION}).encode()
    # With a charset in the content type the shortcut steps aside and the route serves the hit.
    by_route = client.post("/v1/query", content=body, headers={"content-type": "application/json; charset=utf-8"})
    by_shortcut = client.post("/v1/query", content=body, headers={"content-type": "application/json"})
    without_type = client.post("/v1/query", content=body)
    assert by_route.json()["cached"] is True
    for r in (by_shortcut, without_type):
        assert r.status_code == by_route.status_code == 200
        assert r.content == by_route.content
        assert [(k, v) for k, v in r.headers.items() if k != "x-request-id"] == [
            (k, v) for k, v in by_route.headers.items() if k != "x-request-id"
        ]
        assert len(r.headers["x-request-id"]) == 32


def test_a_miss_asks_redis_once(make_client, fake_model, redis_db, aws):
    client = make_client()
    before = _gets(redis_db)
    assert client.post("/v1/query", json={"question": QUESTION}).json()["cached"] is False
    assert _gets(redis_db) - before == 1
    assert fake_model.calls == 1


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"question": QUESTION, "user": "x"}}, 422),  # extra field: the model forbids it
        ({"json": {"question": QUESTION + " " * 1000}}, 422),  # too long before stripping
        ({"json": [QUESTION]}, 422),
        ({"content": json.dumps({"question": QUESTION}), "headers": {"content-type": "text/plain"}}, 422),
        ({"content": b'{"question": NaN}', "headers": {"content-type": "application/json"}}, 422),
    ],
)
def test_a_body_the_route_refuses_is_refused_even_when_its_question_is_cached(
    make_client, fake_model, redis_db, aws, kwargs, status
):
    client = make_client()
    client.post("/v1/query", json={"question": QUESTION})
    r = client.post("/v1/query", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["message"].startswith("Solicitud inválida: ")


def test_a_hit_is_logged(make_client, fake_model, redis_db, aws, caplog):
    client = make_client()
    client.post("/v1/query", json={"question": QUESTION})
    caplog.clear()
    with caplog.at_level(logging.INFO):
        r = client.post("/v1/query", json={"question": QUESTION}, headers={"X-Request-ID": "hit-1"})
    assert r.json()["cached"] is True and r.headers["x-request-id"] == "hit-1"
    [access] = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records if rec.name == "app.access"]
    assert access["request_id"] == "hit-1" and access["path"] == "/v1/query" and access["status"] == 200
    assert access["method"] == "POST" and access["duration_ms"] >= 0


def test_a_hit_when_redis_is_down_is_a_miss(make_client, fake_model, redis_db, redis_server, aws):
    client = make_client()
    client.post("/v1/query", json={"question": QUESTION})
    redis_server.stop()
    try:
        r = client.post("/v1/query", json={"question": QUESTION})
        assert r.status_code == 200 and r.json()["cached"] is False
        assert fake_model.calls == 2
    finally:
        redis_server.start()
