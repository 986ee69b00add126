"""The one text of a question: what the cache key is made of, what the model reads, what is redacted.

A question is cleaned once, when it is validated: Unicode NFKC (full-width letters and digits,
the full-width at sign, ligatures become their plain forms), then every character that shows
nothing is removed (format characters such as zero-width spaces and the Unicode tag block
U+E0000-E007F, private-use, unassigned, surrogates, controls, variation selectors), then
whitespace runs become one space. Invisible characters could otherwise carry text the model
reads while the cache key, and a person reading the log, see an innocent question.
"""

from __future__ import annotations

import re
import unicodedata

# Categories that render as nothing: Cc control, Cf format (zero-width, bidi, tags), Co private
# use, Cn unassigned, Cs surrogate. Whitespace controls (tab, newline) go with the collapse.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs"})
# Variation selectors are marks (Mn), yet a run of them after one visible character can encode
# arbitrary bytes ("emoji smuggling"): VS1-16 and the supplement VS17-256.
_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))


def _shows_something(ch: str) -> bool:
    if ch.isspace():
        return True
    code = ord(ch)
    if any(code in block for block in _VARIATION_SELECTORS):
        return False
    return unicodedata.category(ch) not in _INVISIBLE_CATEGORIES


_HAS_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def clean(text: str) -> str:
    """``text`` in NFKC, without invisible characters, with single spaces and no ends."""
    # The usual question is already NFKC and printable (str.isprintable is false for every
    # category removed here, and for whitespace other than the space): both checks run in C,
    # and the per-character filter only for the rest.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if not text.isprintable() or _HAS_VARIATION_SELECTOR.search(text):
        text = "".join(ch for ch in text if _shows_something(ch))
    return " ".join(text.split())
