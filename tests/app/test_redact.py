"""No personal data at rest: a corpus of realistic questions, with the personal data each
holds (removed, counted by kind) and near-misses that must be kept word for word."""

from __future__ import annotations

import json

import pytest

from app.redact import cuit_valid, luhn_valid, redact

from .conftest import BUCKET

# (question, expected text after redaction, counts removed)
PERSONAL = [
    ("Mi tarjeta es 4111 1111 1111 1111, ¿tengo descuento en Coto?",
     "Mi tarjeta es [CARD], ¿tengo descuento en Coto?", {"CARD": 1}),
    ("me cobraron mal con la 4111-1111-1111-1111 el martes", "me cobraron mal con la [CARD] el martes", {"CARD": 1}),
    ("la amex 3714 496353 98431 no me hizo el reintegro", "la amex [CARD] no me hizo el reintegro", {"CARD": 1}),
    ("pagué con 5031755734530604 y no vi el 20%", "pagué con [CARD] y no vi el 20%", {"CARD": 1}),
    ("Mi DNI es 30.123.456, ¿qué beneficios tengo?", "Mi DNI es [DNI], ¿qué beneficios tengo?", {"DNI": 1}),
    ("dni 7654321 y no me llega la promo", "dni [DNI] y no me llega la promo", {"DNI": 1}),
    ("soy monotributista, CUIT 20-12345678-6, ¿hay cuotas?", "soy monotributista, CUIT [CUIT], ¿hay cuotas?",
     {"CUIT": 1}),
    ("mi cuil es 27334455667", "mi cuil es [CUIT]", {"CUIT": 1}),
    ("la empresa 30-71234567-1 tiene tarjeta corporativa", "la empresa [CUIT] tiene tarjeta corporativa",
     {"CUIT": 1}),
    ("escribanme a juan.perez+promos@gmail.com por el reintegro",
     "escribanme a [EMAIL] por el reintegro", {"EMAIL": 1}),
    ("llamame al +54 9 11 2345-6789 para lo de YPF", "llamame al [PHONE] para lo de YPF", {"PHONE": 1}),
    ("mi cel 11 15 2345 6789, ¿Carrefour los miércoles?", "mi cel [PHONE], ¿Carrefour los miércoles?",
     {"PHONE": 1}),
    ("tel (0351) 456-7890, ¿hay descuento en farmacias?", "tel [PHONE], ¿hay descuento en farmacias?",
     {"PHONE": 1}),
    ("whatsapp 1123456789", "whatsapp [PHONE]", {"PHONE": 1}),
    ("fijo 4567-8901 por la tarde", "fijo [PHONE] por la tarde", {"PHONE": 1}),
    ("Soy Ana, DNI 28.765.432, mail ana@empresa.com.ar, tarjeta 4111111111111111 y cel +5491123456789",
     "Soy Ana, DNI [DNI], mail [EMAIL], tarjeta [CARD] y cel [PHONE]",
     {"DNI": 1, "EMAIL": 1, "CARD": 1, "PHONE": 1}),
]

NEAR_MISSES = [
    "¿El 20% de descuento en Carrefour tiene tope?",
    "¿Hay 6 cuotas sin interés en Frávega el 15/03/2025?",
    "¿El descuento vale en la sucursal 1234 de Coto?",
    "¿Cuál es el tope de $ 15.000 por mes en YPF?",
    "si gasto $1.500.000 en el viaje, ¿cuánto me devuelven?",
    "gasté 2.500.000 pesos en electro, ¿aplica el 30%?",
    "¿Sirve el número 4111 1111 1111 1112 que me dieron?",  # 16 digits, not Luhn-valid
    "¿Los miércoles 25% en Carrefour o 35% en Jumbo?",
    "¿El reintegro llega en 48 hs o en 30 días?",
    "¿Hasta el 31-12 vale la promo de 3 cuotas?",
    "¿Hay descuento en el local 45 del Unicenter?",
    "quiero saber por el código 2024 de la promo",
]


@pytest.mark.parametrize(("question", "expected", "counts"), PERSONAL, ids=[c[1][:40] for c in PERSONAL])
def test_personal_data_is_replaced_and_counted(question, expected, counts):
    assert redact(question) == (expected, counts)


@pytest.mark.parametrize("question", NEAR_MISSES)
def test_near_misses_are_kept(question):
    assert redact(question) == (question, {})


def test_check_digits():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert cuit_valid("20123456786") and not cuit_valid("20123456787")
    # A CUIT-looking number with a wrong check digit is not a CUIT, but its DNI still goes.
    assert redact("cuit 20-12345678-7") == ("cuit 20-[DNI]-7", {"DNI": 1})


def _objects(s3) -> list[dict]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="unhandled/")
    return [json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()) for o in listed.get("Contents", [])]


QUESTION_WITH_DATA = "Soy Ana, DNI 28.765.432, mail ana@empresa.com.ar: ¿puedo pagar la luz en cuotas?"


def test_unresolved_question_is_stored_without_personal_data(make_client, redis_db, aws):
    r = make_client().post("/v1/query", json={"question": QUESTION_WITH_DATA})
    assert r.status_code == 200 and r.json()["resolved"] is False
    [record] = _objects(aws)
    assert record["question"] == "Soy Ana, DNI [DNI], mail [EMAIL]: ¿puedo pagar la luz en cuotas?"
    assert record["redacted"] == {"DNI": 1, "EMAIL": 1}
    assert "28.765.432" not in json.dumps(record) and "ana@" not in json.dumps(record)


def test_unresolved_question_logged_when_s3_fails_has_no_personal_data(make_client, redis_db, aws, caplog):
    aws.delete_bucket(Bucket=BUCKET)
    with caplog.at_level("INFO"):
        make_client().post("/v1/query", json={"question": QUESTION_WITH_DATA})
    [failed] = [rec for rec in caplog.records if rec.getMessage() == "unhandled_question_not_stored"]
    assert failed.record["question"].startswith("Soy Ana, DNI [DNI], mail [EMAIL]")
    text = " ".join(str(rec.__dict__) for rec in caplog.records)
    assert "28.765.432" not in text and "ana@empresa.com.ar" not in text
