"""Request and response bodies, query parameters and the 422 messages, in Spanish."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from app.catalogue import Benefit, Card, Category, Day, normalise
from app.text import clean

MAX_QUESTION_CHARS = 1000



class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description="Pregunta en lenguaje natural sobre los beneficios. Se normaliza (Unicode NFKC), se quitan "
                    "los caracteres invisibles (de formato, de uso privado, sin asignar, etiquetas) y los espacios "
                    "repetidos; una pregunta que queda vacía es un 422.",
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
        # The one text of the question from here on: its cache key, the model's input, the record.
        value = clean(value)
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
    reason: str | None = Field(default=None, description="503: model_busy, model_timeout o model_unavailable")
    retry_after: int | None = Field(default=None, description="503: segundos a esperar (también en Retry-After)")


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


def validation_errors(exc: RequestValidationError) -> tuple[list[dict[str, Any]], str]:
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


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


