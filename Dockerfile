# ia-comafi benefits API (FastAPI + uvicorn) for ECS Fargate, 0.5 vCPU / 1 GB.
# Base image pinned by digest: python:3.12.7-slim-bookworm (the multi-arch index digest that tag had when
# pinned, as published in public Dockerfiles; not pulled here). Refresh and verify it together with the tag:
#   docker buildx imagetools inspect python:3.12-slim-bookworm --format '{{json .Manifest.Digest}}'
FROM python:3.12.7-slim-bookworm@sha256:032c52613401895aa3d418a4c563d2d05f993bc3ecc065c8f4e2280978acd249

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv

# Dependencies in their own layer: rebuilt only when the lock changes. Every package is pinned with
# its hashes and installed without resolving (--no-deps): what runs is what the lock names, and a
# re-published or substituted file fails the build (app/requirements.lock says how to refresh it).
COPY app/requirements.lock /srv/app/requirements.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r /srv/app/requirements.lock

RUN groupadd --system --gid 10001 api \
    && useradd --system --uid 10001 --gid api --no-create-home --shell /usr/sbin/nologin api

# The code stays owned by root: the service user can read it, not change it.
COPY app /srv/app

USER 10001:10001
EXPOSE 8000

# slim has no curl: the health check uses the standard library.
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/', timeout=2).status == 200 else 1)"]

# One worker: the task has 0.5 vCPU, so a second process would only compete for
# the same half core and double the memory; one asyncio worker (uvloop +
# httptools) keeps it busy, and ECS auto scaling adds tasks, not workers.
# Keep-alive (75 s) outlives the ALB idle timeout (60 s), so the ALB never
# reuses a connection uvicorn has just closed (which would be a 502).
# At most 200 connections or requests at once (idle keep-alive connections count): past that
# uvicorn answers 503 at once instead of queueing, which bounds memory and sockets; a body that
# has not arrived within 10 s is a 408 (the app's deadline, REQUEST_BODY_TIMEOUT_SECONDS).
# uvicorn's access log is off: the app logs each request as one JSON line.
CMD ["uvicorn", "--factory", "app.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--timeout-keep-alive", "75", "--timeout-graceful-shutdown", "20", "--limit-concurrency", "200", "--no-access-log"]
