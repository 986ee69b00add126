"""Redis cache that never fails a request: Redis down means no cache, not an error."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.settings import Settings

log = logging.getLogger("app.cache")

_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


def _tls_options(settings: Settings) -> dict[str, object]:
    """TLS that verifies the server's certificate and name (redis-py's defaults, spelled out
    so a change of theirs cannot turn verification off here)."""
    if not settings.redis_ssl:
        return {"ssl": False}
    ca_bundle = settings.redis_ca_bundle
    if ca_bundle is None:
        paths = ssl.get_default_verify_paths()
        if not any(p and os.path.exists(p) for p in (paths.cafile, paths.capath)):
            import certifi  # a system without a trust store (a bare image): Mozilla's, through certifi

            ca_bundle = certifi.where()
    return {
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": ca_bundle,
        "ssl_min_version": ssl.TLSVersion.TLSv1_2,
    }


class Cache:
    """get/set with a circuit breaker.

    After a Redis error the cache is marked down: one warning is logged, and
    requests skip Redis for ``redis_retry_seconds`` (so an outage does not add
    a timeout to each request). The next call after that window tries Redis
    again; when it works, one info line says the cache is back.
    """

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.cache_configured
        self._retry_seconds = settings.redis_retry_seconds
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._client: aioredis.Redis | None = None
        if self.enabled:
            self._client = aioredis.Redis(
                host=settings.redis_host or "localhost",
                port=settings.redis_port,
                password=settings.redis_password.get_secret_value() if settings.redis_password else None,
                **_tls_options(settings),
                socket_timeout=settings.redis_timeout_seconds,
                socket_connect_timeout=settings.redis_timeout_seconds,
                max_connections=64,
                # One immediate retry (a pooled connection that died with a
                # restarted Redis); no backoff sleeps: the breaker handles outages.
                retry=Retry(NoBackoff(), 1),
            )

    @property
    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        return "down" if self._down_since is not None else "up"

    def _available(self) -> bool:
        if self._client is None:
            return False
        return self._down_since is None or time.monotonic() >= self._retry_at

    def _failed(self, op: str, exc: BaseException) -> None:
        now = time.monotonic()
        self._retry_at = now + self._retry_seconds
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "redis_unavailable",
                extra={"operation": op, "error": f"{type(exc).__name__}: {exc}", "effect": "serving without cache"},
            )

    def _succeeded(self) -> None:
        if self._down_since is not None:
            log.info("redis_recovered", extra={"down_seconds": round(time.monotonic() - self._down_since, 3)})
            self._down_since = None

    async def get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        assert self._client is not None
        try:
            value = await self._client.get(key)
        except _FAILURES as exc:
            self._failed("get", exc)
            return None
        self._succeeded()
        return value

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        if not self._available():
            return
        assert self._client is not None
        try:
            await self._client.set(key, value, ex=ttl)
        except _FAILURES as exc:
            self._failed("set", exc)
            return
        self._succeeded()

    async def ping(self) -> tuple[str, float | None]:
        """Status for /health: ('up' | 'down' | 'disabled', latency in ms)."""
        if self._client is None:
            return "disabled", None
        start = time.perf_counter()
        try:
            await self._client.ping()
        except _FAILURES as exc:
            self._failed("ping", exc)
            return "down", None
        self._succeeded()
        return "up", round((time.perf_counter() - start) * 1000, 3)

    async def close(self) -> None:
        if self._client is not None:
            try:
                await self._client.aclose()
            except _FAILURES:  # pragma: no cover - closing a dead connection
                pass
