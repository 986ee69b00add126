"""No personal data at rest or in a trace: a table of the forms people type, each with its
near-misses kept word for word, and a property test that hides a generated valid card, DNI,
CUIT, CBU, phone or e-mail, formatted at random, in random Spanish text."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.redact import cbu_valid, cuit_valid, luhn_valid, redact
from app.text import clean
from app.tracing import anonymize
from app.unhandled import new_record

from .conftest import BUCKET
from .personal_corpus import NEAR_MISSES, PERSONAL


@pytest.mark.parametrize(("question", "expected", "counts", "values"), PERSONAL, ids=[c[1][:40] for c in PERSONAL])
def test_personal_data_is_replaced_and_counted(question, expected, counts, values):
    assert redact(question) == (expected, counts)


@pytest.mark.parametrize("question", NEAR_MISSES)
def test_near_misses_are_kept(question):
    assert redact(question) == (question, {})


def test_check_digits():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert cuit_valid("20123456786") and not cuit_valid("20123456787")
    assert not cuit_valid("11123456786")  # no such type prefix
    assert cbu_valid("0170099222000006789011")
    assert not cbu_valid("0170099322000006789011")  # the bank block's check digit
    assert not cbu_valid("0170099222000006789012")  # the account block's check digit
    # Without a keyword a bad check digit is not a CUIT; the 22 digits of a bad CBU are no DNI either.
    assert redact("el 0170099322000006789012") == ("el 0170099322000006789012", {})


def test_the_keyword_wins_over_every_heuristic():
    assert redact("DNI 30123456 mil gracias")[0] == "DNI [DNI] mil gracias"
    assert redact("30123456 mil gracias")[0] == "30123456 mil gracias"  # an amount, without the keyword
    assert redact("cel 0810 222 1234")[0] == "cel 0810 222 1234"  # a business line stays, keyword or not
    assert redact("tel 2 veces")[0] == "tel 2 veces"  # too short to be a number of anyone's


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


def test_every_string_of_a_trace_is_redacted_at_any_depth():
    deep: dict = {"content": "mi tarjeta 4111 1111 1111 1111"}
    for _ in range(15):  # deeper than LangSmith's own anonymizer looks (10)
        deep = {"nested": [deep]}
    run = {"messages": [[{"kwargs": {"content": "DNI 30.123.456"}}]], "deep": deep, "n": 3, "ok": True,
           "ana@empresa.com": "key"}
    text = json.dumps(anonymize(run))
    assert "4111" not in text and "30.123.456" not in text and "ana@" not in text
    assert '"n": 3' in text and '"ok": true' in text and text.count("[CARD]") == 1


# ---------------------------------------------------------------- property: hidden values never survive

# Words around the value: no digits (so any digit left over is the value's), and none of the words that
# make a number ordinary (pesos, %, cuotas, días, sucursal, código...), which the near-miss table covers.
WORDS = ("hola", "quiero", "saber", "si", "hay", "descuento", "en", "el", "super", "los", "miércoles", "con",
         "mi", "pero", "gracias", "che", "consulta", "reintegro", "tope", "ayer", "hoy", "cuando", "vale",
         "banco", "cliente", "Carrefour", "Coto", "YPF", "nafta", "la", "de", "que", "¿", "?", "!", ",", "buenas",
         "tardes", "me", "dijeron", "llamen", "ustedes", "por", "favor", "urgente", "jueves")
INTROS = ("", "mi número es", "te paso", "es el", "anotá", "soy", "dato:", "ahí va el", "lo tengo como")
OUTROS = ("", ".", ",", "!", "?", "...", " gracias", " y nada más", ")")
SEPARATORS = (" ", "  ", "\u00a0", "\u2009", "\u3000", ".", "-", "/", "_", " - ", " . ")


def _check_digit_luhn(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError


def _mod11_cuit(body: str) -> int | None:
    check = 11 - sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
    return {11: 0, 10: None}.get(check, check)  # 10: AFIP issues another prefix instead


def _mod10(body: str, weights: tuple[int, ...]) -> str:
    return str((10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 10) % 10)


def _n_digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


@st.composite
def grouped(draw, value: str, sizes: tuple[int, ...]) -> str:
    """``value`` cut into groups of ``sizes``, each gap a separator of its own (or none)."""
    parts, at = [], 0
    for size in sizes:
        parts.append(value[at : at + size])
        at += size
    gaps = [draw(st.sampled_from(("", *SEPARATORS))) for _ in parts[1:]]
    return parts[0] + "".join(g + p for g, p in zip(gaps, parts[1:], strict=True))


@st.composite
def cards(draw) -> str:
    prefix, length, sizes = draw(st.sampled_from((
        ("4", 16, (4, 4, 4, 4)), ("51", 16, (4, 4, 4, 4)), ("55", 16, (4, 4, 4, 4)), ("6011", 16, (4, 4, 4, 4)),
        ("37", 15, (4, 6, 5)), ("34", 15, (4, 6, 5)), ("4", 13, (4, 4, 5)), ("62", 19, (4, 4, 4, 4, 3)),
    )))
    number = _check_digit_luhn(prefix + draw(_n_digits(length - len(prefix) - 1)))
    return draw(st.one_of(st.just(number), grouped(number, sizes)))


@st.composite
def dnis(draw) -> str:
    number = str(draw(st.integers(1_000_000, 99_999_999)))
    head = len(number) - 6
    return draw(st.one_of(st.just(number), grouped(number, (head, 3, 3))))


@st.composite
def cuits(draw) -> str:
    body = draw(st.sampled_from(("20", "23", "24", "27", "30", "33", "34"))) + draw(_n_digits(8))
    check = _mod11_cuit(body)
    if check is None:
        body, check = "23" + body[2:], _mod11_cuit("23" + body[2:])
    assume(check is not None)
    number = body + str(check)
    return draw(st.one_of(st.just(number), grouped(number, (2, 8, 1)), grouped(number, (2, 2, 3, 3, 1))))


@st.composite
def cbus(draw) -> str:
    bank = draw(_n_digits(7))
    account = draw(_n_digits(13))
    number = bank + _mod10(bank, (7, 1, 3, 9, 7, 1, 3)) + account + _mod10(account, (3, 9, 7, 1) * 3 + (3,))
    return draw(st.one_of(st.just(number), grouped(number, (8, 14)), grouped(number, (4, 4, 4, 4, 4, 2))))


@st.composite
def phones(draw) -> str:
    area = draw(st.sampled_from(("11", "351", "221", "341", "261", "2901", "3543")))
    subscriber = draw(st.sampled_from("23456789")) + draw(_n_digits(10 - len(area) - 1))
    sizes = {8: (4, 4), 7: (3, 4), 6: (2, 4)}[len(subscriber)]
    sub = draw(grouped(subscriber, sizes))
    sep = draw(st.sampled_from((" ", "-", ".", "  ", "\u00a0")))
    form = draw(st.sampled_from((
        "+54{s}9{s}{a}{s}{n}", "+54{a}{n}", "0054{s}9{s}{a}{s}{n}", "0{a}{s}{n}", "0{a}{s}15{s}{n}",
        "(0{a}){s}{n}", "({a}){s}15{s}{n}", "{a}{s}15{s}{n}", "{a}{s}{n}", "{a}{n}",
    )))
    return form.format(a=area, n=sub, s=sep)


EMAIL_LOCAL = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}){0,2}",
                            fullmatch=True)


@st.composite
def emails(draw) -> str:
    local = draw(EMAIL_LOCAL)
    domain = draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True))
    tld = draw(st.sampled_from(("com", "com.ar", "net", "org", "ar", "gob.ar")))
    at = draw(st.sampled_from(("@", " @ ", "＠", " ＠ ", "(at)", " (at) ", "[at]", " arroba ")))
    return f"{local}{at}{domain}.{tld}"


VALUES = st.one_of(cards(), dnis(), cuits(), cbus(), phones(), emails())
MARK = "ZZVALUEZZ"


@st.composite
def questions(draw) -> tuple[str, str]:
    """(the text with the value inside, the same text with MARK where the value is)."""
    before = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=8)) + [draw(st.sampled_from(INTROS))])
    after = draw(st.sampled_from(OUTROS)) + " " + " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=8)))
    value = draw(VALUES)
    return f"{before} {value}{after}", f"{before} {MARK}{after}"


def _survivors(redacted: str, skeleton: str) -> str:
    """What of the value is left: the redacted text must be the skeleton with one placeholder."""
    expected = re.escape(clean(skeleton)).replace(MARK, r"\[(?:CARD|CBU|CUIT|EMAIL|PHONE|DNI)\]")
    return "" if re.fullmatch(expected, redacted) else redacted


@settings(max_examples=400, deadline=1000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(questions())
def test_a_hidden_value_never_survives_in_s3_the_log_or_a_trace(case):
    text, skeleton = case
    stored = new_record(text, "no_matching_benefits", "req-1")  # what S3 or, S3 down, the log holds
    traced = anonymize({"messages": [[{"kwargs": {"content": text}}]]})  # what LangSmith receives
    assert _survivors(stored["question"], skeleton) == ""
    assert _survivors(traced["messages"][0][0]["kwargs"]["content"], skeleton) == ""
    assert sum(stored["redacted"].values()) == 1
