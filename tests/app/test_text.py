"""The one text of a question (app.text.clean): NFKC, invisible characters removed, spaces collapsed."""

from __future__ import annotations

import unicodedata

import pytest

from app.text import _shows_something, clean


@pytest.mark.parametrize(("raw", "cleaned"), [
    ("  ¿Qué   descuento\n\thay?  ", "¿Qué descuento hay?"),
    ("Ｃａｒｒｅｆｏｕｒ ４１１１", "Carrefour 4111"),  # full-width forms
    ("juan＠gmail.com", "juan@gmail.com"),
    ("Que\u0301", "Qué"),  # a combining accent composes
    ("Carre\u200bfour\u200d\u2060\ufeff", "Carrefour"),  # zero-width characters (Cf)
    ("hola\U000e0049\U000e0047\U000e004e\U000e007f", "hola"),  # tag characters carry hidden text
    ("hola\ue000\U000f0000", "hola"),  # private use
    ("hola\u0378\U000e0000", "hola"),  # unassigned
    ("a\u202eb\u2066c", "abc"),  # bidirectional overrides
    ("😀\ufe0f\U000e0100\U000e01ef", "😀"),  # variation selectors, which can smuggle bytes
    ("a\x00b\x1bc\x7fd", "abcd"),  # controls
    ("a\u00a0b\u2009c\u3000d", "a b c d"),  # Unicode spaces are spaces
])
def test_clean(raw, cleaned):
    assert clean(raw) == cleaned


def test_the_fast_path_agrees_with_the_filter_on_every_character_of_the_bmp_and_the_tag_blocks():
    def slow(text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        return " ".join("".join(ch for ch in text if _shows_something(ch)).split())

    points = [*range(0xD800), *range(0xE000, 0x10000), *range(0xE0000, 0xE0200)]
    assert [hex(c) for c in points if clean(f"a{chr(c)}b") != slow(f"a{chr(c)}b")] == []
