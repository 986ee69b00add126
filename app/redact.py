"""Personal data out of unresolved questions before they are stored or logged.

Card numbers (Luhn-valid), CUIT/CUIL (valid check digit), e-mail addresses,
Argentine phone numbers and DNI are replaced with typed placeholders, and the
record says how many of each were removed. Each detector validates what it can
(Luhn, the CUIT check digit, the phone's digit count) so numbers a question about
benefits is full of (a 20% discount, $ 15.000, a date, a store number) are kept.
"""

from __future__ import annotations

import re
from collections import Counter

CARD, CUIT, EMAIL, PHONE, DNI = "CARD", "CUIT", "EMAIL", "PHONE", "DNI"
KINDS = (CARD, CUIT, EMAIL, PHONE, DNI)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Money and dates are never personal here; they are set aside before any number detector runs,
# so "$ 1.500.000" is not a dotted DNI and "12/03/2025" is not a phone.
_KEEP = re.compile(
    r"(?:\$|\bARS)\s?\d[\d.,]*"  # $ 15.000 / ARS 2500
    r"|\b\d[\d.,]*\s?(?:pesos|mangos|lucas|mil)\b"  # 1.500.000 pesos
    r"|\b\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?\b"  # 12/03/2025, 12-03
    r"|\b\d{1,3}\s?%",  # 20%
    re.IGNORECASE,
)
# 13-19 digits in one run, or in the groups cards are printed in (4-4-4-4[-1..3], Amex 4-6-5, Diners 4-6-4).
_CARD = re.compile(r"(?<![\d+])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?!\d)")
_CUIT = re.compile(r"(?<![\d.])(20|23|24|27|30|33|34)([-. ]?)(\d{2}\.?\d{3}\.?\d{3}|\d{8})\2(\d)(?![\d])")
# +54 9 11 1234-5678, 011 4567-8901, (0351) 456-7890, 11-15-1234-5678, 15 4567 8901, 4567-8901.
_PHONE = re.compile(
    r"(?<![\w.])(?:\+?54[ -]?)?(?:9[ -]?)?(?:\(?0?\d{2,4}\)?[ -]?)?(?:15[ -]?)?\d{3,4}[ -]\d{4}(?![\w.])"
    r"|(?<![\w.+])\+?54[ -]?9?[ -]?\d{10}(?![\w.])"
    r"|(?<![\w.])0?(?:11|2\d{2,3}|3\d{2,3})(?:15)?\d{6,8}(?![\w.])"
)
_DNI = re.compile(r"(?<!\d)(?<!\d[.,])(?:\d{1,2}\.\d{3}\.\d{3}|\d{7,8})(?!\d|[.,]\d|\s?%)")
_SET_ASIDE = "\x00{}\x00"
_RESTORE = re.compile("\x00(\\d+)\x00")


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
    if len(digits) != 11:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    check = 11 - total % 11
    check = {11: 0, 10: 9}.get(check, check)
    return check == int(digits[10])


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _phone_digits_ok(text: str) -> bool:
    digits = _digits(text)
    if text.lstrip().startswith("+") or (digits.startswith("54") and len(digits) >= 12):
        digits = digits[2:]
        digits = digits[1:] if digits.startswith("9") else digits
    digits = digits[1:] if digits.startswith("0") else digits
    if len(digits) == 12 and digits[2:4] == "15" or len(digits) == 12 and digits[3:5] == "15":
        digits = digits.replace("15", "", 1)
    # A national number is 10 digits (area + subscriber); a local one 8, written with a separator.
    return len(digits) == 10 or (len(digits) == 8 and bool(re.search(r"[ -]", text.strip())))


def redact(text: str) -> tuple[str, dict[str, int]]:
    """``text`` with personal data replaced by [CARD], [CUIT], [EMAIL], [PHONE], [DNI], and the counts."""
    removed: Counter[str] = Counter()
    kept: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return _SET_ASIDE.format(len(kept) - 1)

    def replace(kind: str, valid: object = None) -> object:
        def sub(match: re.Match[str]) -> str:
            if valid is not None and not valid(match.group(0)):  # type: ignore[operator]
                # A card-like run that fails Luhn is kept whole (no later detector may split it);
                # a CUIT-like one with a bad check digit is left to the DNI detector.
                return set_aside(match) if kind == CARD else match.group(0)
            removed[kind] += 1
            return f"[{kind}]"

        return sub

    text = _EMAIL.sub(replace(EMAIL), text)
    text = _CARD.sub(replace(CARD, lambda s: 13 <= len(_digits(s)) <= 19 and luhn_valid(_digits(s))), text)
    text = _CUIT.sub(replace(CUIT, lambda s: cuit_valid(_digits(s))), text)
    text = _KEEP.sub(set_aside, text)
    text = _PHONE.sub(replace(PHONE, _phone_digits_ok), text)
    text = _DNI.sub(replace(DNI), text)
    text = _RESTORE.sub(lambda m: kept[int(m.group(1))], text)
    return text, {kind: removed[kind] for kind in KINDS if removed[kind]}
