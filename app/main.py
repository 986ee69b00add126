"""FastAPI application: health checks, the benefits catalogue and questions about it.

Run with ``uvicorn --factory app.main:create_app`` (see the Dockerfile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from langchain_core.language_models.chat_models import BaseChatModel

from app.catalogue import Catalogue
from app.deps import Services
from app.llm import ModelUnavailable
from app.logs import configure_logging, request_id_var
from app.middleware import RequestContextMiddleware
from app.routers import benefits, health, query
from app.schemas import json_response, validation_errors
from app.settings import Settings
from app.tracing import install as install_tracing

log = logging.getLogger("app")


def create_app(
    settings: Settings | None = None, catalogue: Catalogue | None = None, model: BaseChatModel | None = None
) -> FastAPI:
    """The application. ``model`` replaces Bedrock (tests, benchmarks); without it
    the Bedrock model is built on first use."""
    configure_logging()
    settings = settings or Settings()
    tracer = install_tracing(settings)  # before any model call: every trace goes through redaction
    services = Services.build(settings, catalogue or Catalogue.load(), model)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info(
            "startup",
            extra={
                "benefits": len(services.catalogue.benefits),
                "catalogue_version": services.catalogue.version,
                "model_id": settings.bedrock_model_id,
                "region": settings.aws_default_region,
                "cache": services.cache.status,
                "unhandled_bucket": settings.s3_bucket_unhandled,
                "langsmith_tracing": settings.langchain_tracing_v2,
            },
        )
        yield
        await services.cache.close()
        if tracer is not None:
            await asyncio.to_thread(tracer.flush)  # the last traces go out before the task stops

    app = FastAPI(
        title="ia-comafi: API de beneficios",
        version="1.0.0",
        description="Responde preguntas sobre los beneficios de las tarjetas de Banco Comafi.",
        lifespan=lifespan,
        # The schema and its pages only where a setting asks for them (a local run, a test).
        openapi_url="/openapi.json" if settings.api_docs else None,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    app.state.services = services
    # add_middleware puts each new layer outside the previous ones: the shortcut runs
    # inside the request-id middleware (so a hit is logged and bounded like any request).
    app.add_middleware(query.CachedAnswerShortcut, services=services)
    app.add_middleware(RequestContextMiddleware, body_timeout_seconds=settings.request_body_timeout_seconds)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(ModelUnavailable, _on_model_unavailable)
    for router in (health.router, benefits.router, query.router):
        app.include_router(router)
    return app


async def _on_invalid(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details, message = validation_errors(exc)
    return json_response(
        {"detail": jsonable_encoder(details), "message": message, "request_id": request_id_var.get()}, 422
    )


async def _on_model_unavailable(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelUnavailable)
    return json_response(
        {
            "detail": exc.message,
            "reason": exc.reason,
            "retry_after": exc.retry_after,
            "request_id": request_id_var.get(),
        },
        503,
        headers={"Retry-After": str(exc.retry_after)},
    )
