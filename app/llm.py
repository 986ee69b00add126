"""The model: how it is built (the test seam), the prompt, and reading its answer."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from app.catalogue import WEEK, Benefit, describe
from app.settings import Settings

CANNOT_ANSWER = "SIN_RESPUESTA"

SYSTEM_PROMPT = """Sos el asistente de beneficios de tarjetas de Banco Comafi (Argentina).
Respondé en español rioplatense, en dos o tres oraciones, claro y preciso.
Usá únicamente los beneficios listados abajo; no inventes comercios, porcentajes, días ni topes.
Mencioná el porcentaje o las cuotas, los días, las tarjetas y el tope cuando correspondan.
Hoy es {weekday} {today}.

Beneficios disponibles:
{benefits}

Devolvé solo un objeto JSON, sin texto alrededor, con esta forma:
{{"respuesta": "<tu respuesta>", "beneficios": ["<id de cada beneficio que usaste>"]}}
Si los beneficios listados no permiten responder la pregunta, devolvé exactamente:
{{"respuesta": "{cannot}", "beneficios": []}}"""

# Bedrock errors that mean "try again later" rather than "this request is wrong".
TRANSIENT_CODES = {
    "ThrottlingException": 5,
    "TooManyRequestsException": 5,
    "ServiceQuotaExceededException": 30,
    "ServiceUnavailableException": 15,
    "ModelNotReadyException": 15,
    "ModelTimeoutException": 5,
    "InternalServerException": 5,
    "ModelErrorException": 5,
}
DEFAULT_RETRY_AFTER = 30


BUSY, TIMEOUT, UNAVAILABLE = "model_busy", "model_timeout", "model_unavailable"
# What a client reads in a 503: what happened and what to do, never an internal name.
PUBLIC_MESSAGES = {
    BUSY: "El asistente está recibiendo demasiadas consultas. Intente nuevamente en {seconds} segundos.",
    TIMEOUT: "El asistente tardó demasiado en responder. Intente nuevamente en {seconds} segundos.",
    UNAVAILABLE: "El asistente no está disponible en este momento. Intente nuevamente en {seconds} segundos; "
                 "si el problema sigue, avise al banco indicando el request_id.",
}
_BUSY_CODES = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}


class ModelUnavailable(Exception):
    """The model could not be reached or refused for now; the API answers 503.

    ``reason`` is one of the public kinds above (the body says it); ``cause`` names the
    failure for the log only (``bedrock:AccessDeniedException``)."""

    def __init__(self, reason: str, retry_after: int, cause: str = "") -> None:
        super().__init__(cause or reason)
        self.reason = reason
        self.retry_after = retry_after
        self.cause = cause or reason

    @property
    def message(self) -> str:
        return PUBLIC_MESSAGES[self.reason].format(seconds=self.retry_after)


def classify(exc: BaseException) -> ModelUnavailable | None:
    """Map a model failure to a 503 with Retry-After (None: not a model failure)."""
    if isinstance(exc, ModelUnavailable):
        return exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        kind = BUSY if code in _BUSY_CODES else TIMEOUT if code == "ModelTimeoutException" else UNAVAILABLE
        return ModelUnavailable(kind, TRANSIENT_CODES.get(code, DEFAULT_RETRY_AFTER), f"bedrock:{code}")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ModelUnavailable(TIMEOUT, 5, "model_timeout")
    if isinstance(exc, BotoCoreError):
        # Connection errors, read/connect timeouts, missing credentials.
        return ModelUnavailable(UNAVAILABLE, 10, f"bedrock:{type(exc).__name__}")
    if isinstance(exc, (ConnectionError, OSError)):
        return ModelUnavailable(UNAVAILABLE, 10, f"connection:{type(exc).__name__}")
    return None


def build_bedrock_model(settings: Settings) -> BaseChatModel:
    """Claude on Bedrock through LangChain.

    Being a LangChain chat model, it is traced to LangSmith when LANGCHAIN_TRACING_V2 is on,
    through the redacting client ``app.tracing.install`` put in place at start-up.
    """
    from botocore.config import Config
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        model=settings.bedrock_model_id,
        region_name=settings.aws_default_region,
        temperature=0,
        max_tokens=settings.model_max_tokens,
        config=Config(
            connect_timeout=3,
            read_timeout=max(1, int(settings.model_timeout_seconds)),
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


class ModelHolder:
    """Builds the Bedrock model once, on first use (start-up needs no AWS access),
    unless a model was given."""

    def __init__(self, settings: Settings, model: BaseChatModel | None = None) -> None:
        self._settings = settings
        self._model: BaseChatModel | None = model
        self._lock = threading.Lock()

    def get(self) -> BaseChatModel:
        with self._lock:
            if self._model is None:
                self._model = build_bedrock_model(self._settings)
            return self._model


def build_messages(question: str, benefits: tuple[Benefit, ...], today: date) -> list[Any]:
    system = SYSTEM_PROMPT.format(
        weekday=WEEK[today.weekday()].value,
        today=today.isoformat(),
        benefits=describe(benefits),
        cannot=CANNOT_ANSWER,
    )
    return [SystemMessage(content=system), HumanMessage(content=question)]


CANNOT_ANSWER_REASON = "model_cannot_answer"
NOT_JSON_REASON = "model_reply_not_json"


@dataclass(frozen=True)
class ModelAnswer:
    answer: str
    benefit_ids: list[str]
    resolved: bool
    reason: str = ""  # why not resolved: CANNOT_ANSWER_REASON or NOT_JSON_REASON


# The one wrapping tolerated: a Markdown code fence around the object.
_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # Converse content blocks
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def parse_answer(content: Any, offered: tuple[Benefit, ...]) -> ModelAnswer:
    """The model's reply, only if it is the JSON object the prompt asks for. Anything else
    (prose, prose around JSON, another shape) is unresolved: it is neither shown nor cached,
    since a reply that ignored the format may as well have ignored the rules."""
    text = _text_of(content).strip()
    fenced = _FENCE.fullmatch(text)
    try:
        data = orjson.loads(fenced.group(1) if fenced else text)
    except orjson.JSONDecodeError:
        data = None
    if not (isinstance(data, dict) and isinstance(data.get("respuesta"), str)
            and isinstance(data.get("beneficios"), list)):
        return ModelAnswer(answer="", benefit_ids=[], resolved=False, reason=NOT_JSON_REASON)
    answer = data["respuesta"].strip()
    if not answer or CANNOT_ANSWER in answer:
        return ModelAnswer(answer="", benefit_ids=[], resolved=False, reason=CANNOT_ANSWER_REASON)
    named = {str(x) for x in data["beneficios"]}
    ids = [b.id for b in offered if b.id in named]
    if not ids:
        # No usable id: the benefits whose id or merchant the answer names, else all offered.
        lowered = answer.casefold()
        ids = [b.id for b in offered if b.id in lowered or b.merchant.casefold() in lowered] or [b.id for b in offered]
    return ModelAnswer(answer=answer, benefit_ids=ids, resolved=True)
