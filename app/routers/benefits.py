"""`GET /v1/benefits`: the catalogue filtered by category, day and card, cached in Redis."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from app.deps import ServicesDep
from app.schemas import BenefitsResponse, CardParam, CategoryParam, DayParam, ErrorResponse

router = APIRouter(tags=["beneficios"])


@router.get(
    "/v1/benefits",
    response_model=BenefitsResponse,
    responses={422: {"model": ErrorResponse}},
    summary="Beneficios filtrados por rubro, día y tarjeta",
)
async def list_benefits(
    services: ServicesDep, category: CategoryParam = None, day: DayParam = None, card: CardParam = None
) -> Response:
    cache, catalogue = services.cache, services.catalogue
    key = f"{services.benefits_prefix}{category or '*'}:{day or '*'}:{card or '*'}"
    cached = await cache.get(key)
    if cached is not None:
        return Response(cached, media_type="application/json", headers={"X-Cache": "HIT"})
    found = catalogue.filter(category, day, card)
    body = orjson.dumps(
        {
            "count": len(found),
            "updated_at": catalogue.updated_at.isoformat(),
            "benefits": [services.benefits_json[b.id] for b in found],
        }
    )
    await cache.set(key, body, services.settings.cache_ttl_benefits)
    return Response(body, media_type="application/json", headers={"X-Cache": "MISS"})
