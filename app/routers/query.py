"""`POST /v1/query`: an answer from the model, grounded on the catalogue, cached in Redis;
questions it cannot resolve are recorded (to S3, after the response)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import Response

from app.catalogue import Catalogue, normalise, today_in_argentina
from app.deps import Services, ServicesDep
from app.llm import NOT_JSON_REASON, build_messages, classify, parse_answer
from app.logs import request_id_var
from app.schemas import ErrorResponse, QueryRequest, QueryResponse, json_response
from app.unhandled import new_record

log = logging.getLogger("app")

NO_MATCH_ANSWER = (
    "No encontré beneficios de Banco Comafi relacionados con tu consulta. "
    "Probá mencionando un comercio, un rubro (por ejemplo supermercados o combustible), un día o tu tarjeta."
)
CANNOT_ANSWER_TEXT = (
    "No tengo información suficiente para responder esa consulta con los beneficios vigentes. "
    "Registramos tu pregunta para mejorar el servicio."
)

_CACHED_SUFFIX = b',"cached":true}'

router = APIRouter(tags=["consultas"])


def _record_unhandled(
    services: Services, background: BackgroundTasks, question: str, reason: str, **details: Any
) -> None:
    record = new_record(
        question, reason, request_id_var.get(), model_id=services.settings.bedrock_model_id, **details
    )
    log.info("unresolved_question", extra={"reason": reason, "unhandled_id": record["id"]})
    background.add_task(services.unhandled.store, record)


@router.post(
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
async def query(body: QueryRequest, background: BackgroundTasks, services: ServicesDep) -> Response:
    settings, cache, catalogue = services.settings, services.cache, services.catalogue
    question = body.question
    today = today_in_argentina()
    key_text = normalise(question)
    if Catalogue.mentions_relative_day(key_text, normalised=True):
        key_text += f"|{today.isoformat()}"  # "hoy" changes meaning at midnight
    key = services.answer_prefix + hashlib.sha256(key_text.encode()).hexdigest()

    hit = await cache.get(key)
    if hit is not None and hit.endswith(b"}"):
        # The cached bytes are the object this route wrote (below): the answer goes out as
        # they are, with the flag appended, not decoded and encoded again.
        return Response(hit[:-1] + _CACHED_SUFFIX, media_type="application/json")

    selection = catalogue.select(question, settings.max_benefits_in_prompt, today)
    if not selection.benefits:
        _record_unhandled(services, background, question, "no_matching_benefits")
        return json_response({"answer": NO_MATCH_ANSWER, "benefit_ids": [], "cached": False, "resolved": False})

    messages = build_messages(question, selection.benefits, today)
    try:
        reply = await asyncio.wait_for(services.model.get().ainvoke(messages), settings.model_timeout_seconds)
    except Exception as exc:
        unavailable = classify(exc)
        if unavailable is None:
            raise
        log.warning(
            "model_unavailable",
            extra={
                "reason": unavailable.reason,
                "cause": unavailable.cause,
                "retry_after": unavailable.retry_after,
                "error": repr(exc),
            },
        )
        raise unavailable from None

    parsed = parse_answer(reply.content, selection.benefits)
    if not parsed.resolved:
        if parsed.reason == NOT_JSON_REASON:
            log.warning("model_reply_not_json", extra={"reply_chars": len(str(reply.content))})
        _record_unhandled(
            services,
            background,
            question,
            parsed.reason,
            offered_benefit_ids=[b.id for b in selection.benefits],
        )
        return json_response({"answer": CANNOT_ANSWER_TEXT, "benefit_ids": [], "cached": False, "resolved": False})

    payload = {"answer": parsed.answer, "benefit_ids": parsed.benefit_ids, "resolved": True}
    await cache.set(key, orjson.dumps(payload), settings.cache_ttl_default)
    return json_response({**payload, "cached": False})
