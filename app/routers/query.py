"""`POST /v1/query`: an answer from the model, grounded on the catalogue, cached in Redis;
questions it cannot resolve are recorded (to S3, after the response).

A cache hit is answered by ``CachedAnswerShortcut``, a pure ASGI layer in front of
FastAPI's routing: it parses and validates the body with the route's own model and
sends the stored bytes. Everything else (a miss, bad input, a body in another
encoding or content type) goes on to the FastAPI route below, which owns the API's
behaviour and its OpenAPI schema; the shortcut only skips work for the one answer
that needs none of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.catalogue import Catalogue, today_in_argentina
from app.deps import Services, ServicesDep
from app.llm import NOT_JSON_REASON, build_messages, classify, parse_answer
from app.logs import request_id_var
from app.redact import contacts, redact
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
QUERY_PATH = "/v1/query"
# Set in the ASGI scope by the shortcut when it looked the key up and missed: the
# route then goes straight to the model instead of asking Redis a second time.
_MISSED_KEY = "ia_comafi.answer_missed"

router = APIRouter(tags=["consultas"])


def _record_unhandled(
    services: Services, background: BackgroundTasks, question: str, reason: str, **details: Any
) -> None:
    record = new_record(
        question, reason, request_id_var.get(), model_id=services.settings.bedrock_model_id, **details
    )
    log.info("unresolved_question", extra={"reason": reason, "unhandled_id": record["id"]})
    background.add_task(services.unhandled.store, record)


def answer_key(services: Services, question: str) -> str:
    """The cache key of a validated question (``QueryRequest`` cleaned it): that very text, the
    one the model reads, plus the date when it says "hoy", hashed, under the catalogue's and the
    model's version. Nothing the model reads is left out of the key, so no hidden or differing
    text can be answered under another question's key."""
    key_text = question
    if Catalogue.mentions_relative_day(question):
        key_text += f"|{today_in_argentina().isoformat()}"  # "hoy" changes meaning at midnight
    return services.answer_prefix + hashlib.sha256(key_text.encode()).hexdigest()


async def cached_answer(services: Services, key: str) -> bytes | None:
    """The response body of a cached answer, or None."""
    hit = await services.cache.get(key)
    if hit is not None and hit.endswith(b"}"):
        # The cached bytes are the object the route wrote: the answer goes out as they
        # are, with the flag appended, not decoded and encoded again.
        return hit[:-1] + _CACHED_SUFFIX
    return None


@router.post(
    QUERY_PATH,
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
    body: QueryRequest, background: BackgroundTasks, services: ServicesDep, request: Request
) -> Response:
    settings, cache, catalogue = services.settings, services.cache, services.catalogue
    question = body.question
    today = today_in_argentina()
    key = answer_key(services, question)

    if request.scope.get(_MISSED_KEY) != key:
        hit = await cached_answer(services, key)
        if hit is not None:
            return Response(hit, media_type="application/json")

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
                "error": redact(repr(exc))[0],  # an error may quote the request back
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
    foreign = contacts(parsed.answer) - services.catalogue_contacts
    if foreign:
        # A contact the catalogue does not name came from the question or from nowhere: the answer
        # goes to this client only, never to everyone who asks the same for an hour. The log says
        # which kinds, not the values (they may be the client's own).
        log.warning("answer_not_cached", extra={"reason": "names_contact_not_in_catalogue",
                                                "kinds": sorted({c.split(":", 1)[0] for c in foreign})})
    else:
        await cache.set(key, orjson.dumps(payload), settings.cache_ttl_default)
    return json_response({**payload, "cached": False})


# Headers of a hit, as Starlette's Response(body, media_type="application/json") writes them.
_JSON = (b"content-type", b"application/json")


class CachedAnswerShortcut:
    """Pure ASGI: ``POST /v1/query`` answered from the cache without FastAPI's routing,
    dependency resolution and body machinery (about half of a hit's time, profiled).

    It takes only a body FastAPI would read as this JSON (no content type, or exactly
    ``application/json``), that orjson parses (RFC 8259 strict: whatever it accepts, the
    standard library's parser FastAPI uses reads as the same value) and that
    ``QueryRequest`` (the route's model) validates. Anything else, and every miss, goes
    on to the route with the body as it was received, so status codes, error bodies and
    headers stay the route's. It sits inside ``RequestContextMiddleware``: a hit gets
    the request id, the 64 KiB limit and the access log like any request.
    """

    def __init__(self, app: Any, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != QUERY_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            key = self._key(scope, message.get("body", b""))
            if key is not None:
                body = await cached_answer(self.services, key)
                if body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [(b"content-length", str(len(body)).encode()), _JSON],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
                scope[_MISSED_KEY] = key

        pending: dict[str, Any] | None = message

        async def replay() -> dict[str, Any]:
            nonlocal pending
            if pending is not None:
                first, pending = pending, None
                return first
            return await receive()

        await self.app(scope, replay, send)

    def _key(self, scope: dict[str, Any], body: bytes) -> str | None:
        if not self.services.cache.enabled:
            return None
        for name, value in scope["headers"]:
            if name == b"content-type" and value != b"application/json":
                return None
        try:
            question = QueryRequest.model_validate(orjson.loads(body)).question
        except (orjson.JSONDecodeError, ValidationError):
            return None
        return answer_key(self.services, question)
