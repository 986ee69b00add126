"""The catalogue: validated at start-up, filtered, cached for CACHE_TTL_BENEFITS."""

from __future__ import annotations

import json

import pydantic
import pytest

from app.catalogue import DEFAULT_PATH, Card, Catalogue, Day, normalise


def raw_catalogue() -> dict:
    return json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_shipped_catalogue_is_valid_and_realistic():
    catalogue = Catalogue.load()
    assert 30 <= len(catalogue.benefits) <= 60
    assert len({b.category for b in catalogue.benefits}) >= 8
    for b in catalogue.benefits:
        assert b.discount_percent or b.installments
        assert b.valid_from <= b.valid_until


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: b.update(discount_percent=150), "less than or equal to 100"),
        (lambda b: b.update(days=[]), "at least 1"),
        (lambda b: b.update(days=["funday"]), "lunes"),
        (lambda b: b.update(valid_until="2020-01-01"), "valid_until is before valid_from"),
        (lambda b: b.update(cap_period=None), "cap_ars and cap_period go together"),
        (lambda b: b.update(color="red"), "Extra inputs"),
        (lambda b: (b.pop("discount_percent"), b.pop("installments", None)), "discount_percent or installments"),
    ],
)
def test_invalid_catalogue_entries_fail_at_load(tmp_path, mutate, error):
    data = raw_catalogue()
    mutate(data["benefits"][0])
    path = tmp_path / "benefits.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(pydantic.ValidationError, match=error):
        Catalogue.load(path)


def test_duplicate_ids_fail_at_load(tmp_path):
    data = raw_catalogue()
    data["benefits"].append(dict(data["benefits"][0]))
    path = tmp_path / "benefits.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(pydantic.ValidationError, match="duplicate benefit id"):
        Catalogue.load(path)


def expected(category=None, day=None, card=None) -> list[str]:
    return [
        b["id"]
        for b in raw_catalogue()["benefits"]
        if (category is None or b["category"] == category)
        and (day is None or day in b["days"])
        and (card is None or card in b["cards"])
    ]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"category": "supermercados"},
        {"day": "miercoles"},
        {"card": "amex"},
        {"category": "gastronomia", "day": "sabado", "card": "amex"},
        {"category": "combustible", "card": "visa_debito"},
    ],
)
def test_filters(make_client, make_settings, params):
    client = make_client(make_settings(cache_enabled=False))
    r = client.get("/v1/benefits", params=params)
    assert r.status_code == 200
    body = r.json()
    ids = [b["id"] for b in body["benefits"]]
    assert ids == expected(**params)
    assert body["count"] == len(ids)
    assert ids, "each filter in this test matches something"


def test_day_and_card_filters_ignore_case_and_accents(make_client, make_settings):
    client = make_client(make_settings(cache_enabled=False))
    r = client.get("/v1/benefits", params={"day": "MIÉRCOLES", "card": "Visa Crédito"})
    assert [b["id"] for b in r.json()["benefits"]] == expected(day="miercoles", card="visa_credito")


def test_listing_is_cached_for_cache_ttl_benefits(make_client, make_settings, redis_db):
    client = make_client(make_settings(cache_ttl_benefits=777))
    first = client.get("/v1/benefits", params={"category": "farmacias"})
    assert first.headers["x-cache"] == "MISS"
    [key] = list(redis_db.scan_iter("ia-comafi:benefits:*"))
    assert 770 <= redis_db.ttl(key) <= 777
    second = client.get("/v1/benefits", params={"category": "farmacias"})
    assert second.headers["x-cache"] == "HIT"
    assert second.json() == first.json()
    # The cached bytes are what is served: change them and the API returns the change.
    redis_db.set(key, b'{"count":0,"updated_at":"2026-11-01","benefits":[]}', ex=60)
    assert client.get("/v1/benefits", params={"category": "farmacias"}).json()["count"] == 0


def test_normalise():
    assert normalise("  ¿Qué   DESCUENTO, hay en Cúspide?! ") == "que descuento hay en cuspide"
    assert normalise("snake_case") == "snake case"


@pytest.mark.parametrize(
    ("question", "must_include", "days", "cards"),
    [
        ("¿Qué descuento hay en Carrefour los miércoles?", ["carrefour-miercoles"], [Day.miercoles], []),
        ("descuentos en nafta el domingo con visa", ["ypf-domingo"], [Day.domingo], [Card.visa_credito]),
        ("¿cuántas cuotas en Frávega?", ["fravega-todos"], [], []),
        ("¿Y Carrefour los lunes?", ["carrefour-miercoles"], [Day.lunes], []),
    ],
)
def test_selection_finds_the_relevant_benefits(question, must_include, days, cards):
    catalogue = Catalogue.load()
    selection = catalogue.select(question, limit=8)
    ids = [b.id for b in selection.benefits]
    assert set(must_include) <= set(ids)
    assert list(selection.days) == days
    assert set(cards) <= set(selection.cards)


def test_selection_by_category_respects_day_and_card():
    catalogue = Catalogue.load()
    selection = catalogue.select("supermercado el jueves con débito", limit=8)
    assert selection.benefits, "there are supermarket benefits"
    for b in selection.benefits:
        assert b.category.value == "supermercados"
        assert Day.jueves in b.days
        assert {Card.visa_debito, Card.mastercard_debito} & set(b.cards)


def test_selection_empty_for_unrelated_question():
    assert Catalogue.load().select("¿Puedo pagar la luz en cuotas?", limit=8).benefits == ()
