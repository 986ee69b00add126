"""`GET /` (the ALB's and the pipeline's check) and `GET /health` (Redis, model, catalogue)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.deps import ServicesDep
from app.middleware import HEALTH_OK_BODY
from app.schemas import json_response

router = APIRouter(tags=["salud"])


@router.get(
    "/",
    summary="Health check del ALB",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def root() -> Response:
    # The middleware answers GET / before routing; this route documents it and serves HEAD.
    return Response(HEALTH_OK_BODY, media_type="application/json")


@router.get("/health", summary="Estado de Redis y configuración del modelo (siempre 200)")
async def health(services: ServicesDep) -> Response:
    settings, catalogue = services.settings, services.catalogue
    redis_status, latency = await services.cache.ping()
    return json_response(
        {
            "status": "ok" if redis_status != "down" else "degraded",
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
        }
    )
