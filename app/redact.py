"""Personal data out of every text that leaves the request: the unresolved-question record (S3,
or the log when S3 fails) and the LangSmith trace.

The text is first cleaned as the question is (``app.text.clean``: NFKC turns full-width digits
and the full-width at sign into plain ones, invisible characters go), then read as people type:

- e-mail addresses with every character RFC 5322 allows in the local part, spaces around the
  at sign, or the sign written ``(at)``, ``[at]``, ``arroba``;
- a CBU alias after the word ``alias``;
- every *digit run*: digits joined by any mix of separators (spaces, Unicode spaces, ``.``,
  ``-``, ``/``, ``_``, parentheses), judged as one number on its digits alone, so the grouping
  never decides. In order: a keyword just before it (dni, cuit, tarjeta, cbu, cel, ...) makes
  it personal whatever it looks like; a valid check digit makes it a card (length and Luhn),
  a CBU/CVU (22 digits, both check digits) or a CUIT/CUIL; then what a question about
  benefits is full of is kept (amounts, percentages, dates, times, branch and store numbers,
  0800/0810 lines); then the forms of an Argentine phone number; then a DNI (7 or 8 digits).
  A run that is none of these as a whole is searched for a card, CBU, CUIT or phone number
  inside it (a DNI typed next to a card), and the rest judged again.

Each kind is replaced by a typed placeholder and counted.
"""

from __future__ import annotations

import re
from collections import Counter

from app.text import clean

CARD, CBU, CUIT, EMAIL, PHONE, DNI, ALIAS = "CARD", "CBU", "CUIT", "EMAIL", "PHONE", "DNI", "ALIAS"
KINDS = (CARD, CBU, CUIT, EMAIL, PHONE, DNI, ALIAS)

# ---------------------------------------------------------------- e-mail and alias

_ATEXT = r"[\w!#$%&'*+/=?^`{|}~-]"  # RFC 5322 atext (and, as RFC 6531 allows, any letter)
_LOCAL = rf'(?:{_ATEXT}+(?:\.{_ATEXT}+)*|"[^"\n]{{1,64}}")'
_AT = r"(?:\s*@\s*|\s*[(\[{]\s*(?:at|arroba)\s*[)\]}]\s*|\s+arroba\s+)"
_DOMAIN = r"[\w-]+(?:(?:\.|\s*[(\[]\s*(?:dot|punto)\s*[)\]]\s*|\s+punto\s+)[\w-]+)*"
_EMAIL = re.compile(rf"{_LOCAL}{_AT}{_DOMAIN}", re.IGNORECASE)

# A CBU alias is 6 to 20 letters, digits, dots and hyphens; a word with neither a dot nor a digit
# after "alias" is more likely prose ("el alias funciona") and is kept.
_ALIAS = re.compile(
    r"(?<!\w)(alias(?:\s+(?:cbu|cvu))?\s*(?:(?:es|de|mi|:)\s*){0,3})"
    r"((?=[\w.-]*[.\d])[A-Za-z0-9][A-Za-z0-9.-]{4,18}[A-Za-z0-9])(?![\w.-])",
    re.IGNORECASE,
)

# ---------------------------------------------------------------- digit runs

# Separators people put inside one number: any whitespace (NBSP, thin and ideographic spaces
# are whitespace to Python's \s), dot, hyphen, slash, underscore, parentheses; mixed, up to 4.
_SEP = r"[\s./_()-]"
# A run starts at a digit (or + / an opening parenthesis before one) that does not continue a
# word (a promotion code such as PROMO2024 is kept) and ends at a digit not followed by a letter.
_RUN = re.compile(rf"(?<![^\W\d])[+(]?\d+(?:{_SEP}{{1,4}}\d+)*(?![^\W\d])")
_GROUP = re.compile(r"\d+")

_KEYWORD_KINDS = {
    "dni": DNI, "d.n.i": DNI, "d.n.i.": DNI, "documento": DNI, "doc": DNI,
    "cuit": CUIT, "cuil": CUIT,
    "tarjeta": CARD, "tarj": CARD,
    "cbu": CBU, "cvu": CBU,
    "cel": PHONE, "celular": PHONE, "whatsapp": PHONE, "wsp": PHONE, "wpp": PHONE, "tel": PHONE,
    "teléfono": PHONE, "telefono": PHONE, "móvil": PHONE, "movil": PHONE,
}
_KEYWORD = re.compile(
    r"(?<!\w)(d\.n\.i\.?|" + "|".join(sorted((k for k in _KEYWORD_KINDS if "." not in k), key=len, reverse=True))
    + r")\.?[\s:#=°º-]*(?:(?:es|era|nro|n|num|número|numero|mi|de|del|el|la|al|:)\.?[\s:#=°º-]*){0,3}$",
    re.IGNORECASE,
)
_KEYWORD_MIN_DIGITS = 6  # "tarjeta terminada en 1234", "tel 2 veces" stay

# What a question about benefits is full of, read from the words around the run.
_MONEY_BEFORE = re.compile(r"(?:\$|\bars|\busd|\bu\$s|\bus\$)\s*$", re.IGNORECASE)
_AFTER_KEEPS = re.compile(
    r"^\s*(?:%|por\s?ciento\b|pesos\b|pe\b|mangos\b|lucas\b|mil\b|millones?\b|palos\b|d[oó]lares\b|usd\b|ars\b"
    r"|hs\b|h\b|horas?\b|am\b|pm\b|cuotas?\b|d[ií]as?\b|meses\b|a[ñn]os?\b|puntos\b|km\b)",
    re.IGNORECASE,
)
_NUMBER_WORD = r"\.?\s*(?:(?:n[°º]?|nro|número|numero|num)\.?\s*)?$"
# A branch or store number, and a promotion or coupon code, after the word that says so (a card,
# CBU or CUIT is judged before this, so "código" cannot hide one).
_PLACE_BEFORE = re.compile(
    r"\b(?:sucursal|suc|local|tienda|store|comercio|sede|caja|boca|estaci[oó]n)" + _NUMBER_WORD, re.IGNORECASE
)
_PLACE_MAX_DIGITS = 6
_CODE_BEFORE = re.compile(r"\b(?:c[oó]digo|cod|promo|promoci[oó]n|cup[oó]n)" + _NUMBER_WORD, re.IGNORECASE)
_CODE_MAX_DIGITS = 12
_BUSINESS_LINE = re.compile(r"^0?8[01]0\d{7}$")  # 0800 / 0810 numbers: a company's public line
_CUIT_PREFIXES = ("20", "23", "24", "25", "26", "27", "30", "33", "34")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def cuit_valid(digits: str) -> bool:
    """The CUIT/CUIL check digit (AFIP's modulo 11 with weights 5432765432)."""
    if len(digits) != 11 or not digits.startswith(_CUIT_PREFIXES):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    check = 11 - total % 11
    check = {11: 0, 10: 9}.get(check, check)
    return check == int(digits[10])


def _mod10_check(digits: str, weights: tuple[int, ...]) -> int:
    return (10 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10) % 10


def cbu_valid(digits: str) -> bool:
    """A CBU or CVU: 22 digits, the first block's (bank, branch) and the account's check digits
    (BCRA's weights 7139 repeated)."""
    if len(digits) != 22:
        return False
    return (
        _mod10_check(digits[:7], (7, 1, 3, 9, 7, 1, 3)) == int(digits[7])
        and _mod10_check(digits[8:21], (3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3)) == int(digits[21])
    )


def card_valid(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def phone_number(digits: str, groups: list[str], international: bool) -> str | None:
    """The number an Argentine phone written this way dials (+54 9, 0054, 0 trunk, area code, 15
    mobile prefix removed): area + subscriber, 10 digits; or a local one: 15 plus 8, or 8 digits
    written in two groups of 4. A number after + or 00 of another country: 8 to 15 digits, kept
    with its country code. None: not a phone number."""
    if digits.startswith("00"):
        digits, international = digits[2:], True
    if international or (digits.startswith("54") and len(digits) >= 12):
        if not digits.startswith("54"):
            return "+" + digits if international and 8 <= len(digits) <= 15 else None
        digits = digits[2:]
        digits = digits[1:] if digits.startswith("9") else digits
    digits = digits[1:] if digits.startswith("0") else digits
    if len(digits) == 12:
        for area in (2, 3, 4):
            if digits[area : area + 2] == "15" and digits[0] in "123":
                digits = digits[:area] + digits[area + 2 :]
                break
    if len(digits) == 10 and (digits[0] in "123" or digits.startswith("15")):
        return digits
    return digits if len(digits) == 8 and [len(g) for g in groups] == [4, 4] else None


def phone_valid(digits: str, groups: list[str], international: bool) -> bool:
    return phone_number(digits, groups, international) is not None


def _is_date(groups: list[str]) -> bool:
    sizes = [len(g) for g in groups]
    if sizes in ([1, 1], [1, 2], [2, 1], [2, 2]) or (len(sizes) == 3 and sizes[2] in (2, 4) and max(sizes[:2]) <= 2):
        day, month = int(groups[0]), int(groups[1])
        return 1 <= day <= 31 and 1 <= month <= 12 or 1 <= month <= 31 and 1 <= day <= 12
    if sizes == [4, 2, 2]:  # 2025-03-15
        return 1 <= int(groups[1]) <= 12 and 1 <= int(groups[2]) <= 31
    return False


def _is_amount(run: str, after: str) -> bool:
    """2.500,50 or 2,500.50: thousands and cents, which no document number has (the comma is
    not a separator inside a run, so 1.234.567,50 is the run 1.234.567 before ",50"). A bare
    1.500.000 is written like a DNI (30.123.456): without a $, "pesos" or the like it goes."""
    return bool(
        re.fullmatch(r"\d{1,3}(?:,\d{3})+\.\d{1,2}", run)
        or (re.fullmatch(r"\d{1,3}(?:\.\d{3})+", run) and re.match(r",\d{1,2}(?!\d)", after))
    )


def _is_time(run: str) -> bool:
    return bool(re.fullmatch(r"(?:[01]?\d|2[0-3])[.:h][0-5]\d", run))


class _Redactor:
    """One text's replacements, counted by kind."""

    def __init__(self) -> None:
        self.removed: Counter[str] = Counter()

    def placeholder(self, kind: str) -> str:
        self.removed[kind] += 1
        return f"[{kind}]"

    def text(self, text: str) -> str:
        text = _EMAIL.sub(lambda m: self.placeholder(EMAIL), text)
        text = _ALIAS.sub(lambda m: m.group(1) + self.placeholder(ALIAS), text)
        return _RUN.sub(lambda m: self.run(m.group(0), m.string[: m.start()], m.string[m.end() :]), text)

    def run(self, run: str, before: str, after: str) -> str:
        groups = _GROUP.findall(run)
        digits = "".join(groups)
        lead = run[: len(run) - len(run.lstrip("+("))]
        keyword = _KEYWORD.search(before[-40:])
        if keyword and len(digits) >= _KEYWORD_MIN_DIGITS and not _BUSINESS_LINE.match(digits):
            word = keyword.group(1).lower().rstrip(".")
            return self.placeholder(_strong_kind(digits) or _KEYWORD_KINDS.get(word, DNI))
        strong = _strong_kind(digits)
        if strong:
            return self.placeholder(strong)
        if self._kept(run.lstrip("+("), groups, digits, before + lead, after):
            return run
        if phone_valid(digits, groups, lead.startswith("+")):
            return self.placeholder(PHONE)
        if 7 <= len(digits) <= 8:
            return self.placeholder(PHONE if [len(g) for g in groups] in ([3, 4], [4, 4]) else DNI)
        return self.inside(run, groups)

    @staticmethod
    def _kept(run: str, groups: list[str], digits: str, before: str, after: str) -> bool:
        if _MONEY_BEFORE.search(before) or _AFTER_KEEPS.match(after):
            return True
        if _PLACE_BEFORE.search(before) and len(digits) <= _PLACE_MAX_DIGITS:
            return True
        if _CODE_BEFORE.search(before) and len(digits) <= _CODE_MAX_DIGITS:
            return True
        return (
            _BUSINESS_LINE.match(digits) is not None
            or _is_date(groups)
            or _is_time(run)
            or _is_amount(run, after)
            or len(digits) < 7
        )

    def inside(self, run: str, groups: list[str]) -> str:
        """A card, CBU, CUIT or phone number inside a run that is none of them as a whole (the
        longest first); what is left on each side is judged as a run of its own."""
        spans = [m.span() for m in _GROUP.finditer(run)]
        if len(spans) < 2:
            return run
        candidates = sorted(
            ((i, j) for i in range(len(groups)) for j in range(i + 1, len(groups))),
            key=lambda ij: -sum(len(g) for g in groups[ij[0] : ij[1] + 1]),
        )
        for i, j in candidates:
            part = groups[i : j + 1]
            digits = "".join(part)
            kind = _strong_kind(digits) or (PHONE if len(digits) >= 10 and phone_valid(digits, part, False) else None)
            if kind:
                start, end = spans[i][0], spans[j][1]
                left, right = run[:start], run[end:]
                return self.rest(left) + self.placeholder(kind) + self.rest(right)
        return run

    def rest(self, piece: str) -> str:
        return _RUN.sub(lambda m: self.run(m.group(0), m.string[: m.start()], m.string[m.end() :]), piece)


def _strong_kind(digits: str) -> str | None:
    if card_valid(digits):
        return CARD
    if cbu_valid(digits):
        return CBU
    if cuit_valid(digits):
        return CUIT
    return None


def redact(text: str) -> tuple[str, dict[str, int]]:
    """``text`` cleaned, with personal data replaced by [CARD], [CBU], [CUIT], [EMAIL], [PHONE],
    [DNI], [ALIAS], and how many of each were replaced."""
    redactor = _Redactor()
    result = redactor.text(clean(text))
    return result, {kind: redactor.removed[kind] for kind in KINDS if redactor.removed[kind]}



# ---------------------------------------------------------------- contacts named in a text

_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'«»()\[\]]+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|ar|io|app|info|biz|co|me|ly|link|site|online|store|shop)\b(?:/[^\s<>\"'«»()]*)?",
    re.IGNORECASE,
)


def contacts(text: str) -> frozenset[str]:
    """The e-mail addresses, web addresses and phone numbers ``text`` names, each in one form
    (``email:…``, ``url:…``, ``tel:DIGITS``), so two texts can be compared on them."""
    text = clean(text)
    found = {"email:" + re.sub(r"\s+", "", m.group(0)).casefold() for m in _EMAIL.finditer(text)}
    text = _EMAIL.sub(" ", text)
    for m in _URL.finditer(text):
        url = re.sub(r"^(?:https?://)?(?:www\.)?", "", m.group(0).casefold()).rstrip("/.,;:!?")
        found.add("url:" + url)
    text = _URL.sub(" ", text)
    for m in _RUN.finditer(text):
        run = m.group(0)
        groups = _GROUP.findall(run)
        digits = "".join(groups)
        number = digits.removeprefix("0") if _BUSINESS_LINE.match(digits) else phone_number(
            digits, groups, run.startswith("+"))
        if number:
            found.add("tel:" + number)
    return frozenset(found)
