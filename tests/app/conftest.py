"""Fixtures for the API tests: a real redis-server, S3 through moto, a fake model."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
import trustme
from fastapi.testclient import TestClient
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from moto import mock_aws

from app.main import create_app
from app.settings import Settings
from tests.tools import free_port, require_tool

BUCKET = "ia-comafi-unhandled-test"
REDIS_PASSWORD = "test-secret"

CARREFOUR_ANSWER = (
    '{"respuesta": "Los miércoles tenés 25% de reintegro en Carrefour con tarjetas de crédito, '
    'con tope de $20.000 por mes.", "beneficios": ["carrefour-miercoles"]}'
)


class RedisServer:
    """A real redis-server on 127.0.0.1, in a temp dir, that tests can stop and start."""

    def __init__(self, binary: str, workdir: Path, tls: TlsFiles | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.password = REDIS_PASSWORD
        self.tls = tls  # listen with TLS only (no plaintext port)
        self.proc: subprocess.Popen[bytes] | None = None

    def _listen(self) -> list[str]:
        if self.tls is None:
            return ["--port", str(self.port)]
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(self.tls.cert),
            "--tls-key-file", str(self.tls.key),
            "--tls-ca-cert-file", str(self.tls.ca),
            "--tls-auth-clients", "no",
        ]

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                self.host,
                *self._listen(),
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.password,
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self) -> redis.Redis:
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.tls.ca)} if self.tls else {}
        return redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=2, **tls)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA that signed the server's certificate (PEM)
    cert: Path
    key: Path
    other_ca: Path  # a CA that signed nothing of this server's


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA, a server certificate it signs for 127.0.0.1, and an unrelated CA."""
    where = tmp_path_factory.mktemp("tls")
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(where / "ca.pem", where / "server.pem", where / "server.key", where / "other-ca.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    other.cert_pem.write_to_path(str(files.other_ca))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    server.private_key_pem.write_to_path(str(files.key))
    return files


@pytest.fixture(scope="session")
def tls_redis_server(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Iterator[RedisServer]:
    """A real redis-server that speaks only TLS, with the test CA's certificate."""
    binary = require_tool("redis-server")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis-tls"), tls=tls_files)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = require_tool("redis-server")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_db(redis_server: RedisServer) -> redis.Redis:
    """The running test Redis, emptied for this test."""
    if not redis_server.running:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    return client


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's S3 with the unhandled-questions bucket; returns an S3 client."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture
def make_settings(redis_server: RedisServer) -> Callable[..., Settings]:
    def _make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "aws_default_region": "us-east-1",
            "bedrock_model_id": "anthropic.claude-3-haiku-20240307-v1:0",
            "cache_ttl_default": 3600,
            "cache_ttl_benefits": 86400,
            "cache_enabled": True,
            "s3_bucket_unhandled": BUCKET,
            "redis_host": redis_server.host,
            "redis_port": redis_server.port,
            "redis_password": redis_server.password,
            "redis_ssl": False,
            "redis_retry_seconds": 0.2,
            "redis_timeout_seconds": 0.5,
        }
        values.update(overrides)
        return Settings(**values)

    return _make


class CountingFakeModel(FakeListChatModel):
    """LangChain's fake chat model, counting calls; can raise or stall on demand."""

    calls: int = 0
    error: BaseException | None = None
    delay: float = 0.0
    last_messages: list[Any] = []

    def _call(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        self.calls += 1
        self.last_messages = list(messages)
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return super()._call(messages, stop, run_manager, **kwargs)


@pytest.fixture
def fake_model() -> CountingFakeModel:
    return CountingFakeModel(responses=[CARREFOUR_ANSWER])


@pytest.fixture
def make_client(
    make_settings: Callable[..., Settings], fake_model: CountingFakeModel
) -> Iterator[Callable[..., TestClient]]:
    """Builds an app with the given settings and the fake model, inside a TestClient."""
    with contextlib.ExitStack() as stack:

        def _make(settings: Settings | None = None, model: Any = None) -> TestClient:
            app = create_app(settings or make_settings(), model=model if model is not None else fake_model)
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield _make
