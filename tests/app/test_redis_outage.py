"""Redis down: the API still answers (no cache), warns once, and recovers."""

from __future__ import annotations

import logging
import time

QUESTION = "¿Qué descuento hay en Carrefour los miércoles?"


def _messages(caplog, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == name]


def test_redis_killed_mid_test_then_back(make_client, fake_model, redis_server, redis_db, aws, caplog):
    client = make_client()
    assert client.post("/v1/query", json={"question": QUESTION}).json()["cached"] is False
    assert client.post("/v1/query", json={"question": QUESTION}).json()["cached"] is True
    assert fake_model.calls == 1

    caplog.clear()
    with caplog.at_level(logging.INFO):
        redis_server.stop()
        for i in range(6):
            r = client.post("/v1/query", json={"question": QUESTION})
            assert r.status_code == 200
            assert r.json()["cached"] is False and r.json()["resolved"] is True
            assert client.get("/v1/benefits", params={"day": "lunes"}).status_code == 200
            if i % 2:
                time.sleep(0.25)  # past the retry window: Redis is tried again, and fails again
        assert fake_model.calls == 7  # every question went to the model
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "degraded"}
        assert client.get("/").status_code == 200

        warnings = _messages(caplog, "redis_unavailable")
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert warnings[0].levelno == logging.WARNING

        redis_server.start()
        time.sleep(0.25)  # let the retry window pass
        r = client.post("/v1/query", json={"question": QUESTION})
        assert r.status_code == 200 and r.json()["cached"] is False  # the restarted Redis is empty
        assert fake_model.calls == 8
        r = client.post("/v1/query", json={"question": QUESTION})
        assert r.json()["cached"] is True  # caching resumed
        assert fake_model.calls == 8
        assert len(list(redis_server.client().scan_iter("ia-comafi:answer:*"))) == 1
        assert len(_messages(caplog, "redis_recovered")) == 1
        assert len(_messages(caplog, "redis_unavailable")) == 1
        assert client.get("/health").json() == {"status": "ok"}


def test_outage_adds_no_per_request_delay(make_client, make_settings, fake_model, redis_server, redis_db, aws):
    """While Redis is known down, requests skip it instead of waiting on it each time."""
    client = make_client(make_settings(redis_retry_seconds=30))
    redis_server.stop()
    try:
        client.post("/v1/query", json={"question": QUESTION})  # discovers the outage
        started = time.perf_counter()
        for _ in range(20):
            assert client.get("/v1/benefits").status_code == 200
        assert (time.perf_counter() - started) / 20 < 0.05
        assert client.app.state.services.cache.status == "down"
    finally:
        redis_server.start()


def test_app_starts_and_answers_with_redis_unreachable(make_client, make_settings, fake_model, aws, caplog):
    from .conftest import free_port

    settings = make_settings(redis_port=free_port())  # nothing listens there
    with caplog.at_level(logging.INFO):
        client = make_client(settings)
        assert client.get("/").json() == {"status": "ok"}
        for _ in range(3):
            assert client.post("/v1/query", json={"question": QUESTION}).status_code == 200
    assert len(_messages(caplog, "redis_unavailable")) == 1
