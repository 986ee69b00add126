"""`/`, `/health`, request ids and the JSON log format."""

from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter, request_id_var
from app.settings import Settings


def test_root_is_ok(make_client, make_settings):
    r = make_client(make_settings(cache_enabled=False)).get("/")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["content-type"] == "application/json"


def _health_line(caplog) -> logging.LogRecord:
    [line] = [r for r in caplog.records if r.name == "app.health" and r.getMessage() == "health"]
    return line


def test_health_tells_the_public_only_ok_and_the_log_the_details(make_client, make_settings, redis_db, caplog):
    settings = make_settings(
        bedrock_model_id="anthropic.claude-3-haiku-20240307-v1:0",
        langchain_tracing_v2=True,
        langchain_project="ia-comafi",
    )
    with caplog.at_level(logging.INFO):
        r = make_client(settings).get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    for secret in ("claude", "us-east-1", "ia-comafi", "redis", "latency", "langsmith"):
        assert secret not in r.text
    line = _health_line(caplog)
    assert line.status == "ok"
    assert line.redis["status"] == "up" and line.redis["latency_ms"] >= 0
    assert line.model == {
        "id": "anthropic.claude-3-haiku-20240307-v1:0",
        "region": "us-east-1",
        "langsmith_tracing": True,
        "langsmith_project": "ia-comafi",
    }
    assert line.catalogue["benefits"] >= 30
    assert line.unhandled_bucket_configured is True


def test_health_with_cache_disabled(make_client, make_settings, caplog):
    with caplog.at_level(logging.INFO):
        body = make_client(make_settings(cache_enabled=False)).get("/health").json()
    assert body == {"status": "ok"} and _health_line(caplog).redis["status"] == "disabled"


def test_request_id_is_echoed_or_generated(make_client, make_settings):
    client = make_client(make_settings(cache_enabled=False))
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"}).headers["x-request-id"]
    assert len(generated) == 32 and generated.isalnum()


def test_access_log_is_one_json_line_with_request_id(make_client, make_settings, caplog):
    client = make_client(make_settings(cache_enabled=False))
    with caplog.at_level(logging.INFO):
        client.get("/v1/benefits", headers={"X-Request-ID": "trace-42"})
        client.get("/")
    access = [r for r in caplog.records if r.name == "app.access"]
    assert len(access) == 1, "GET / (the ALB health check) is not logged"
    line = json.loads(JsonFormatter().format(access[0]))
    assert line["request_id"] == "trace-42"
    assert line["path"] == "/v1/benefits" and line["status"] == 200 and line["duration_ms"] >= 0
    assert line["level"] == "INFO" and line["message"] == "request"


def test_json_formatter_keeps_tracebacks_on_one_line():
    logger = logging.getLogger("test.fmt")
    token = request_id_var.set("rid-1")
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            record = logger.makeRecord(
                "test.fmt",
                logging.ERROR,
                __file__,
                1,
                "failed %s",
                ("x",),
                exc_info=__import__("sys").exc_info(),
                extra={"field": {"a": 1}},
            )
    finally:
        request_id_var.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "failed x" and data["field"] == {"a": 1}
    assert "RuntimeError: boom" in data["exception"]


def test_settings_from_environment(monkeypatch):
    env = {
        "AWS_DEFAULT_REGION": "sa-east-1",
        "BEDROCK_MODEL_ID": "anthropic.claude-3-haiku-20240307-v1:0",
        "CACHE_TTL_DEFAULT": "120",
        "CACHE_TTL_BENEFITS": "600",
        "CACHE_ENABLED": "false",
        "S3_BUCKET_UNHANDLED": "bucket-x",
        "LANGCHAIN_TRACING_V2": "true",
        "LANGCHAIN_ENDPOINT": "https://api.smith.langchain.com",
        "LANGCHAIN_PROJECT": "ia-comafi-dev",
        "LANGCHAIN_API_KEY": "lsv2_secret",
        "REDIS_HOST": "redis.example",
        "REDIS_PORT": "6380",
        "REDIS_PASSWORD": "pw",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert (s.aws_default_region, s.cache_ttl_default, s.cache_ttl_benefits) == ("sa-east-1", 120, 600)
    assert s.cache_enabled is False and s.cache_configured is False
    assert s.s3_bucket_unhandled == "bucket-x" and s.langchain_tracing_v2 is True
    assert s.redis_host == "redis.example" and s.redis_port == 6380
    assert s.redis_password.get_secret_value() == "pw"
    assert "lsv2_secret" not in repr(s) and "pw'" not in repr(s)
    monkeypatch.setenv("REDIS_PASSWORD", "")
    monkeypatch.setenv("CACHE_ENABLED", "true")
    assert Settings().redis_password is None and Settings().cache_configured is True


def test_json_formatter_time_is_the_records_own_to_the_millisecond():
    formatter = JsonFormatter()  # one formatter for many lines, as the handler has
    times = []
    for second, msecs in ((1_700_000_000, 123), (1_700_000_000, 999), (1_700_000_001, 4), (1_699_999_999, 500)):
        record = logging.makeLogRecord({"msg": "x"})
        record.created, record.msecs = second + msecs / 1000, msecs
        times.append(json.loads(formatter.format(record))["time"])
    assert times == [
        "2023-11-14T22:13:20.123Z",
        "2023-11-14T22:13:20.999Z",
        "2023-11-14T22:13:21.004Z",
        "2023-11-14T22:13:19.500Z",
    ]
