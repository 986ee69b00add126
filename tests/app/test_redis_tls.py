"""Redis over TLS against a real redis-server that listens only with TLS: answers are cached
when the server's certificate verifies, and the cache is refused (the API still answers)
when it does not."""

from __future__ import annotations

import logging

import pytest

QUESTION = "¿Qué descuento hay en Carrefour los miércoles?"


@pytest.fixture
def tls_db(tls_redis_server):
    client = tls_redis_server.client()
    client.flushall()
    return client


def _tls_settings(make_settings, server, ca_bundle):
    return make_settings(redis_host=server.host, redis_port=server.port, redis_ssl=True,
                         redis_ca_bundle=str(ca_bundle) if ca_bundle else None)


def test_answer_is_cached_over_tls(make_client, make_settings, fake_model, tls_redis_server, tls_files, tls_db, aws):
    client = make_client(_tls_settings(make_settings, tls_redis_server, tls_files.ca))
    assert client.post("/v1/query", json={"question": QUESTION}).json()["cached"] is False
    second = client.post("/v1/query", json={"question": QUESTION})
    assert second.status_code == 200 and second.json()["cached"] is True
    assert fake_model.calls == 1
    assert list(tls_db.scan_iter("ia-comafi:answer:*")), "the answer is in the TLS server"
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("trust", ["another CA", "the system trust store"])
def test_server_certificate_that_does_not_verify_is_refused(
    make_client, make_settings, fake_model, tls_redis_server, tls_files, tls_db, aws, caplog, trust
):
    ca_bundle = tls_files.other_ca if trust == "another CA" else None
    client = make_client(_tls_settings(make_settings, tls_redis_server, ca_bundle))
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            r = client.post("/v1/query", json={"question": QUESTION})
            assert r.status_code == 200
            assert r.json()["cached"] is False and r.json()["resolved"] is True
    assert fake_model.calls == 2, "without a verified cache every question goes to the model"
    assert tls_db.dbsize() == 0, "nothing was written through the refused connection"
    [warning] = [rec for rec in caplog.records if rec.getMessage() == "redis_unavailable"]
    assert "CERTIFICATE_VERIFY_FAILED" in warning.error or "certificate verify failed" in warning.error
    assert client.get("/health").json() == {"status": "degraded"}
