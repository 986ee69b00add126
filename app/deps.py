"""What the routes need, built once by ``create_app`` and kept in ``app.state``.

Each route declares what it uses as a FastAPI dependency (``ServicesDep``), which
reads it from the application that received the request: nothing lives in a
module global, so two apps (tests, benchmarks) never share a cache or a model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from app.cache import Cache
from app.catalogue import Catalogue, describe
from app.llm import ModelHolder
from app.redact import contacts
from app.settings import Settings
from app.unhandled import UnhandledSink


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalogue: Catalogue
    cache: Cache
    unhandled: UnhandledSink
    model: ModelHolder
    # Cache keys carry the catalogue's and the model's version: a new catalogue or
    # model never serves an answer made from the old one.
    answer_prefix: str
    benefits_prefix: str
    benefits_json: dict[str, Any]
    # The e-mails, web addresses and phone numbers the catalogue names: the only ones a cached
    # answer may name (app.redact.contacts).
    catalogue_contacts: frozenset[str]

    @classmethod
    def build(cls, settings: Settings, catalogue: Catalogue, model: Any = None) -> Services:
        model_tag = hashlib.sha256(settings.bedrock_model_id.encode()).hexdigest()[:8]
        return cls(
            settings=settings,
            catalogue=catalogue,
            cache=Cache(settings),
            unhandled=UnhandledSink(settings),
            model=ModelHolder(settings, model),
            answer_prefix=f"ia-comafi:answer:{catalogue.version}:{model_tag}:",
            benefits_prefix=f"ia-comafi:benefits:{catalogue.version}:",
            benefits_json={b.id: b.model_dump(mode="json") for b in catalogue.benefits},
            catalogue_contacts=contacts(describe(catalogue.benefits)),
        )


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool,
    # a hop that costs more than a whole cached answer.
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
