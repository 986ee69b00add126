"""The benefits catalogue shipped with the app: model, loading, filtering, selection."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

DEFAULT_PATH = Path(__file__).parent / "data" / "benefits.json"
# Argentina has had no daylight saving time since 2009.
ARGENTINA = timezone(timedelta(hours=-3), "ART")


class Category(StrEnum):
    supermercados = "supermercados"
    combustible = "combustible"
    gastronomia = "gastronomia"
    delivery = "delivery"
    farmacias = "farmacias"
    indumentaria = "indumentaria"
    viajes = "viajes"
    entretenimiento = "entretenimiento"
    tecnologia = "tecnologia"
    hogar = "hogar"
    librerias = "librerias"


class Day(StrEnum):
    lunes = "lunes"
    martes = "martes"
    miercoles = "miercoles"
    jueves = "jueves"
    viernes = "viernes"
    sabado = "sabado"
    domingo = "domingo"


WEEK: tuple[Day, ...] = tuple(Day)


class Card(StrEnum):
    visa_credito = "visa_credito"
    mastercard_credito = "mastercard_credito"
    amex = "amex"
    visa_debito = "visa_debito"
    mastercard_debito = "mastercard_debito"


class CapPeriod(StrEnum):
    transaccion = "transaccion"
    semana = "semana"
    mes = "mes"


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Benefit(BaseModel):
    """One benefit of the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    merchant: Text
    category: Category
    description: Text
    discount_percent: int | None = Field(default=None, ge=1, le=100)
    installments: int | None = Field(default=None, ge=2, le=24, description="cuotas sin interés")
    days: tuple[Day, ...] = Field(min_length=1)
    cards: tuple[Card, ...] = Field(min_length=1)
    cap_ars: int | None = Field(default=None, gt=0, description="tope de reintegro en pesos")
    cap_period: CapPeriod | None = None
    channel: Text = "presencial y online"
    valid_from: date
    valid_until: date
    keywords: tuple[Annotated[str, StringConstraints(min_length=2, max_length=40)], ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Benefit:
        if self.discount_percent is None and self.installments is None:
            raise ValueError("a benefit needs discount_percent or installments")
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        if (self.cap_ars is None) != (self.cap_period is None):
            raise ValueError("cap_ars and cap_period go together")
        if len(set(self.days)) != len(self.days) or len(set(self.cards)) != len(self.cards):
            raise ValueError("days and cards must not repeat")
        return self


class CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    updated_at: date
    note: str = ""
    benefits: list[Benefit] = Field(min_length=1)

    @field_validator("benefits")
    @classmethod
    def _unique_ids(cls, benefits: list[Benefit]) -> list[Benefit]:
        seen: set[str] = set()
        for b in benefits:
            if b.id in seen:
                raise ValueError(f"duplicate benefit id {b.id!r}")
            seen.add(b.id)
        return benefits


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(text.split())


# Words in a question that point at a category (normalised, singular and plural).
CATEGORY_WORDS: dict[Category, tuple[str, ...]] = {
    Category.supermercados: ("super", "supermercado", "supermercados", "compras del mes", "almacen", "mercado"),
    Category.combustible: ("nafta", "combustible", "estacion de servicio", "gasoil", "cargar", "carga", "auto"),
    Category.gastronomia: (
        "restaurante",
        "restaurantes",
        "resto",
        "comer",
        "cena",
        "cenar",
        "almuerzo",
        "almorzar",
        "gastronomia",
        "bar",
        "bares",
        "cafe",
        "cafeteria",
        "helado",
        "helados",
    ),
    Category.delivery: ("delivery", "pedido", "pedidos", "envio de comida", "app de comida"),
    Category.farmacias: ("farmacia", "farmacias", "remedios", "medicamentos", "perfumeria"),
    Category.indumentaria: ("ropa", "indumentaria", "zapatillas", "calzado", "vestimenta", "deportiva"),
    Category.viajes: ("viaje", "viajes", "vuelo", "vuelos", "hotel", "hoteles", "turismo", "pasajes", "vacaciones"),
    Category.entretenimiento: ("cine", "cines", "teatro", "recital", "entradas", "pelicula", "peliculas", "show"),
    Category.tecnologia: (
        "tecnologia",
        "electro",
        "electrodomesticos",
        "celular",
        "celulares",
        "televisor",
        "tv",
        "notebook",
        "heladera",
        "lavarropas",
    ),
    Category.hogar: ("hogar", "muebles", "deco", "decoracion", "ferreteria", "construccion", "jardin"),
    Category.librerias: ("libro", "libros", "libreria", "librerias", "utiles", "escolares"),
}

CARD_WORDS: dict[str, tuple[Card, ...]] = {
    "visa": (Card.visa_credito, Card.visa_debito),
    "master": (Card.mastercard_credito, Card.mastercard_debito),
    "mastercard": (Card.mastercard_credito, Card.mastercard_debito),
    "amex": (Card.amex,),
    "american express": (Card.amex,),
    "debito": (Card.visa_debito, Card.mastercard_debito),
    "credito": (Card.visa_credito, Card.mastercard_credito, Card.amex),
}

RELATIVE_DAY_WORDS = ("hoy",)


def today_in_argentina() -> date:
    return datetime.now(ARGENTINA).date()


def _has_phrase(haystack: str, phrase: str) -> bool:
    return f" {phrase} " in haystack


@dataclass(frozen=True)
class Selection:
    benefits: tuple[Benefit, ...]
    days: tuple[Day, ...]
    cards: tuple[Card, ...]


class Catalogue:
    """The validated catalogue, loaded once."""

    def __init__(self, data: CatalogueFile, raw: bytes) -> None:
        self.updated_at = data.updated_at
        self.benefits: tuple[Benefit, ...] = tuple(data.benefits)
        self.by_id = {b.id: b for b in self.benefits}
        self.version = hashlib.sha256(raw).hexdigest()[:12]
        self._merchant_terms = {b.id: self._terms_for(b) for b in self.benefits}

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> Catalogue:
        raw = path.read_bytes()
        return cls(CatalogueFile.model_validate_json(raw), raw)

    @staticmethod
    def _terms_for(benefit: Benefit) -> tuple[str, ...]:
        merchant = normalise(benefit.merchant)
        terms = {merchant, *(normalise(k) for k in benefit.keywords)}
        return tuple(t for t in terms if t)

    def filter(
        self, category: Category | None = None, day: Day | None = None, card: Card | None = None
    ) -> list[Benefit]:
        return [
            b
            for b in self.benefits
            if (category is None or b.category == category)
            and (day is None or day in b.days)
            and (card is None or card in b.cards)
        ]

    def select(self, question: str, limit: int, today: date | None = None) -> Selection:
        """The benefits relevant to a question, best first (empty when none is)."""
        text = f" {normalise(question)} "
        days: list[Day] = [d for d in WEEK if _has_phrase(text, d.value)]
        if _has_phrase(text, "fin de semana") or _has_phrase(text, "finde"):
            days += [Day.sabado, Day.domingo]
        if any(_has_phrase(text, w) for w in RELATIVE_DAY_WORDS):
            days.append(WEEK[(today or today_in_argentina()).weekday()])
        cards: list[Card] = []
        for word, matched in CARD_WORDS.items():
            if _has_phrase(text, word):
                cards += [c for c in matched if c not in cards]
        if cards and (_has_phrase(text, "debito") != _has_phrase(text, "credito")):
            kind = "debito" if _has_phrase(text, "debito") else "credito"
            narrowed = [c for c in cards if c in CARD_WORDS[kind]]
            cards = narrowed or cards
        categories = {c for c, words in CATEGORY_WORDS.items() if any(_has_phrase(text, w) for w in words)}

        merchants = {b.id for b in self.benefits if any(_has_phrase(text, t) for t in self._merchant_terms[b.id])}
        # "¿qué descuentos hay los martes?": with no merchant nor category, everything that day / card.
        broad = not merchants and not categories and bool(days or cards)
        scored: list[tuple[int, Benefit]] = []
        for b in self.benefits:
            score = (10 if b.id in merchants else 0) + (4 if b.category in categories else 0)
            if score == 0 and broad:
                score = 1
            if score == 0:
                continue
            # A merchant named in the question stays even on another day or card:
            # the answer can then say when and with which card it applies.
            if b.id not in merchants:
                if days and not set(days) & set(b.days):
                    continue
                if cards and not set(cards) & set(b.cards):
                    continue
            scored.append((score, b))
        scored.sort(key=lambda sb: (-sb[0], -(sb[1].discount_percent or 0), sb[1].id))
        unique_days = tuple(dict.fromkeys(days))
        return Selection(tuple(b for _, b in scored[:limit]), unique_days, tuple(cards))

    @staticmethod
    def mentions_relative_day(question: str, normalised: bool = False) -> bool:
        text = f" {question if normalised else normalise(question)} "
        return any(_has_phrase(text, w) for w in RELATIVE_DAY_WORDS)


def describe(benefits: Iterable[Benefit]) -> str:
    """The benefits as compact text for the prompt."""
    lines = []
    for b in benefits:
        offer = []
        if b.discount_percent:
            offer.append(f"{b.discount_percent}% de descuento/reintegro")
        if b.installments:
            offer.append(f"{b.installments} cuotas sin interés")
        cap = "sin tope"
        if b.cap_ars and b.cap_period:
            cap = f"tope ${b.cap_ars:,} por {b.cap_period.value}".replace(",", ".")
        lines.append(
            f"- id={b.id} | {b.merchant} ({b.category.value}) | {' y '.join(offer)} | "
            f"días: {', '.join(d.value for d in b.days)} | tarjetas: {', '.join(c.value for c in b.cards)} | "
            f"{cap} | canal: {b.channel} | vigencia: {b.valid_from.isoformat()} a {b.valid_until.isoformat()} | "
            f"{b.description}"
        )
    return "\n".join(lines)
