"""FastAPI application: health checks, the benefits catalogue and questions about it.

Run with ``uvicorn --factory app.main:create_app`` (see the Dockerfile).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import BackgroundTasks, Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from app.cache import Cache
from app.catalogue import Benefit, Card, Catalogue, Category, Day, normalise, today_in_argentina
from app.llm import ModelHolder, ModelUnavailable, build_messages, classify, get_model, parse_answer
from app.logs import configure_logging, request_id_var
from app.middleware import RequestContextMiddleware
from app.settings import Settings
from app.unhandled import UnhandledSink, new_record

log = logging.getLogger("app")

MAX_QUESTION_CHARS = 1000
NO_MATCH_ANSWER = (
    "No encontré beneficios de Banco Comafi relacionados con tu consulta. "
    "Probá mencionando un comercio, un rubro (por ejemplo supermercados o combustible), un día o tu tarjeta."
)
CANNOT_ANSWER_TEXT = (
    "No tengo información suficiente para responder esa consulta con los beneficios vigentes. "
    "Registramos tu pregunta para mejorar el servicio."
)
_OK = b'{"status":"ok"}'


# ---------------------------------------------------------------- schemas


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description="Pregunta en lenguaje natural sobre los beneficios.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_QUESTION_CHARS, "pattern": r"\S"},
        examples=["¿Qué descuento hay en Carrefour los miércoles?"],
    )

    @field_validator("question")
    @classmethod
    def _check_question(cls, value: str) -> str:
        if len(value) > MAX_QUESTION_CHARS:
            raise PydanticCustomError(
                "question_too_long",
                "La pregunta tiene {length} caracteres; el máximo es {max}.",
                {"length": len(value), "max": MAX_QUESTION_CHARS},
            )
        value = value.strip()
        if not value:
            raise PydanticCustomError("question_empty", "La pregunta no puede estar vacía.")
        return value


class QueryResponse(BaseModel):
    answer: str
    benefit_ids: list[str] = Field(description="ids de los beneficios usados en la respuesta")
    cached: bool = Field(description="la respuesta vino de la caché (sin llamar al modelo)")
    resolved: bool = Field(description="false: la pregunta quedó registrada como no resuelta")


class BenefitsResponse(BaseModel):
    count: int
    updated_at: date
    benefits: list[Benefit]


class ErrorResponse(BaseModel):
    detail: Any
    message: str | None = None
    request_id: str | None = None


# ---------------------------------------------------------------- helpers


def _enum_input(value: object) -> object:
    """Accept 'Miércoles', 'MIERCOLES', 'visa credito' for enum query values."""
    if isinstance(value, str):
        return normalise(value).replace(" ", "_")
    return value


DayParam = Annotated[Day | None, BeforeValidator(_enum_input), Query(description="día de la semana, p. ej. miercoles")]
CategoryParam = Annotated[Category | None, BeforeValidator(_enum_input), Query(description="rubro")]
CardParam = Annotated[Card | None, BeforeValidator(_enum_input), Query(description="tarjeta")]

_MESSAGES = {
    "missing": "Falta este campo obligatorio.",
    "extra_forbidden": "Campo no permitido.",
    "string_type": "Debe ser un texto.",
    "model_attributes_type": "El cuerpo debe ser un objeto JSON.",
    "dict_type": "El cuerpo debe ser un objeto JSON.",
    "model_type": "El cuerpo debe ser un objeto JSON.",
    "json_invalid": "El cuerpo no es JSON válido.",
}


def _validation_errors(exc: RequestValidationError) -> tuple[list[dict[str, Any]], str]:
    details, parts = [], []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        kind = err.get("type", "")
        if kind == "enum":
            msg = f"Valor no válido; opciones: {err.get('ctx', {}).get('expected', '')}."
        else:
            msg = _MESSAGES.get(kind, err.get("msg", "Valor no válido."))
        field = "body" if kind == "json_invalid" else (".".join(loc) or "body")
        details.append({"loc": err.get("loc", ()), "field": field, "msg": msg, "type": kind})
        parts.append(f"{field}: {msg}")
    return details, "Solicitud inválida: " + "; ".join(parts)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


# ---------------------------------------------------------------- app


def create_app(
    settings: Settings | None = None, catalogue: Catalogue | None = None, model: BaseChatModel | None = None
) -> FastAPI:
    """The application. ``model`` replaces Bedrock (tests, benchmarks); without it
    the Bedrock model is built on first use. ``app.dependency_overrides[get_model]``
    works too, at the price of FastAPI re-reading the override's signature per request."""
    configure_logging()
    settings = settings or Settings()
    catalogue = catalogue or Catalogue.load()
    cache = Cache(settings)
    sink = UnhandledSink(settings)
    benefits_json = {b.id: b.model_dump(mode="json") for b in catalogue.benefits}
    model_tag = hashlib.sha256(settings.bedrock_model_id.encode()).hexdigest()[:8]
    answer_prefix = f"ia-comafi:answer:{catalogue.version}:{model_tag}:"
    benefits_prefix = f"ia-comafi:benefits:{catalogue.version}:"

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info(
            "startup",
            extra={
                "benefits": len(catalogue.benefits),
                "catalogue_version": catalogue.version,
                "model_id": settings.bedrock_model_id,
                "region": settings.aws_default_region,
                "cache": cache.status,
                "unhandled_bucket": settings.s3_bucket_unhandled,
                "langsmith_tracing": settings.langchain_tracing_v2,
            },
        )
        yield
        await cache.close()

    app = FastAPI(
        title="ia-comafi: API de beneficios",
        version="1.0.0",
        description="Responde preguntas sobre los beneficios de las tarjetas de Banco Comafi.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.cache = cache
    app.state.unhandled = sink
    app.state.model_holder = ModelHolder(settings, model)
    app.add_middleware(RequestContextMiddleware)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_: Request, exc: RequestValidationError) -> Response:
        details, message = _validation_errors(exc)
        return _json({"detail": jsonable_encoder(details), "message": message, "request_id": request_id_var.get()}, 422)

    @app.exception_handler(ModelUnavailable)
    async def _on_model_unavailable(_: Request, exc: ModelUnavailable) -> Response:
        return _json(
            {
                "detail": "El asistente no está disponible en este momento. Intente nuevamente en unos segundos.",
                "reason": exc.reason,
                "request_id": request_id_var.get(),
            },
            503,
            headers={"Retry-After": str(exc.retry_after)},
        )

    # -- health

    @app.get(
        "/",
        summary="Health check del ALB",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    )
    async def root() -> Response:
        return Response(_OK, media_type="application/json")

    @app.get("/health", summary="Estado de Redis y configuración del modelo (siempre 200)")
    async def health() -> Response:
        redis_status, latency = await cache.ping()
        return _json(
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

    # -- catalogue

    @app.get(
        "/v1/benefits",
        response_model=BenefitsResponse,
        responses={422: {"model": ErrorResponse}},
        summary="Beneficios filtrados por rubro, día y tarjeta",
    )
    async def list_benefits(category: CategoryParam = None, day: DayParam = None, card: CardParam = None) -> Response:
        key = f"{benefits_prefix}{category or '*'}:{day or '*'}:{card or '*'}"
        cached = await cache.get(key)
        if cached is not None:
            return Response(cached, media_type="application/json", headers={"X-Cache": "HIT"})
        found = catalogue.filter(category, day, card)
        body = orjson.dumps(
            {
                "count": len(found),
                "updated_at": catalogue.updated_at.isoformat(),
                "benefits": [benefits_json[b.id] for b in found],
            }
        )
        await cache.set(key, body, settings.cache_ttl_benefits)
        return Response(body, media_type="application/json", headers={"X-Cache": "MISS"})

    # -- questions

    def record_unhandled(background: BackgroundTasks, question: str, reason: str, **details: Any) -> None:
        record = new_record(question, reason, request_id_var.get(), model_id=settings.bedrock_model_id, **details)
        log.info("unresolved_question", extra={"reason": reason, "unhandled_id": record["id"]})
        background.add_task(sink.store, record)

    @app.post(
        "/v1/query",
        response_model=QueryResponse,
        responses={
            400: {"model": ErrorResponse, "description": "Cuerpo ilegible (no es texto UTF-8)"},
            413: {"model": ErrorResponse, "description": "Cuerpo de más de 64 KiB"},
            422: {"model": ErrorResponse, "description": "Pregunta vacía, demasiado larga o mal formada"},
            503: {"model": ErrorResponse, "description": "Modelo no disponible (ver Retry-After)"},
        },
        summary="Responde una pregunta sobre beneficios",
    )
    async def query(
        body: QueryRequest, background: BackgroundTasks, model: Annotated[BaseChatModel, Depends(get_model)]
    ) -> Response:
        question = body.question
        today = today_in_argentina()
        key_text = normalise(question)
        if Catalogue.mentions_relative_day(question):
            key_text += f"|{today.isoformat()}"  # "hoy" changes meaning at midnight
        key = answer_prefix + hashlib.sha256(key_text.encode()).hexdigest()

        hit = await cache.get(key)
        if hit is not None:
            return _json({**orjson.loads(hit), "cached": True})

        selection = catalogue.select(question, settings.max_benefits_in_prompt, today)
        if not selection.benefits:
            record_unhandled(background, question, "no_matching_benefits")
            return _json({"answer": NO_MATCH_ANSWER, "benefit_ids": [], "cached": False, "resolved": False})

        messages = build_messages(question, selection.benefits, today)
        try:
            reply = await asyncio.wait_for(model.ainvoke(messages), settings.model_timeout_seconds)
        except Exception as exc:
            unavailable = classify(exc)
            if unavailable is None:
                raise
            log.warning(
                "model_unavailable",
                extra={"reason": unavailable.reason, "retry_after": unavailable.retry_after, "error": repr(exc)},
            )
            raise unavailable from None

        parsed = parse_answer(reply.content, selection.benefits)
        if not parsed.resolved:
            record_unhandled(
                background, question, "model_cannot_answer", offered_benefit_ids=[b.id for b in selection.benefits]
            )
            return _json({"answer": CANNOT_ANSWER_TEXT, "benefit_ids": [], "cached": False, "resolved": False})

        payload = {"answer": parsed.answer, "benefit_ids": parsed.benefit_ids, "resolved": True}
        await cache.set(key, orjson.dumps(payload), settings.cache_ttl_default)
        return _json({**payload, "cached": False})

    return app
