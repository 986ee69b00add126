"""`GET /` (the ALB's and the pipeline's check) and `GET /health` (ok or degraded).

`/health` tells the internet one word. Its details (Redis status and latency, model, region,
tracing, catalogue version) go to the log as one `health` line, which only those who may read
the account's logs see: the model id, the project and the cache's latency help someone probing
the API and nobody else. The log rather than a private path: the ALB forwards every path of
the listener to the tasks, so no path is "one the internet cannot reach" without a listener
rule, and an operator already reads this log (`deploy.py ENV logs`).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from app.deps import ServicesDep
from app.middleware import HEALTH_OK_BODY
from app.schemas import json_response

router = APIRouter(tags=["salud"])
log = logging.getLogger("app.health")


@router.get(
    "/",
    summary="Health check del ALB",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def root() -> Response:
    # The middleware answers GET / before routing; this route documents it and serves HEAD.
    return Response(HEALTH_OK_BODY, media_type="application/json")


@router.get(
    "/health",
    summary="ok, o degraded si la caché no responde (siempre 200; el detalle va al log)",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def health(services: ServicesDep) -> Response:
    settings, catalogue = services.settings, services.catalogue
    redis_status, latency = await services.cache.ping()
    status = "ok" if redis_status != "down" else "degraded"
    log.info(
        "health",
        extra={
            "status": status,
            "redis": {"status": redis_status, "latency_ms": latency, "cache_enabled": settings.cache_enabled},
            "model": {
                "id": settings.bedrock_model_id,
                "region": settings.aws_default_region,
                "langsmith_tracing": settings.langchain_tracing_v2,
                "langsmith_project": settings.langchain_project,
            },
            "catalogue": {
                "benefits": len(catalogue.benefits),
                "version": catalogue.version,
                "updated_at": catalogue.updated_at.isoformat(),
            },
            "unhandled_bucket_configured": settings.s3_bucket_unhandled is not None,
        },
    )
    return json_response({"status": status})
