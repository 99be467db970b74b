"""Opt-out and opt-in keywords: is this inbound message, as a whole, STOP or START?

People type "Stop.", "STOP!!", "ＳＴＯＰ" (full-width), "Arrêt", "stop 🛑", and
phones add invisible characters (a zero-width space, a variation selector).
A message and every configured keyword go through the same `normalise_keyword`:

1. NFKC (full-width and compatibility letters become plain ones),
2. case folding (also "ß" -> "ss"),
3. accents removed (decompose, drop combining marks: "Arrêt" -> "arret"),
4. format characters removed (zero-width space and joiners, BOM, word joiner),
5. dashes and connectors become spaces ("stop-promotions" -> "stop promotions"),
   other punctuation and symbols are removed ("S.T.O.P." -> "stop", emoji go),
6. whitespace collapsed to single spaces and trimmed.

The whole message must equal a keyword after this, never merely contain one:
"stop sending me the wrong size" is a customer talking, not an opt-out, and
short words such as BAJA, ALTO or PARE are ordinary words inside sentences.
The marketing opt-out button arrives as a button message whose payload or
text ("Stop promotions") is matched the same way. An opt-out wins when a
message somehow matches both lists.
"""

from __future__ import annotations

import functools
import unicodedata

from django.conf import settings

STOP = "stop"
START = "start"


def normalise_keyword(text: str | None) -> str:
    """The form in which a message and the keywords are compared (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    kept = []
    for char in unicodedata.normalize("NFKD", text):
        category = unicodedata.category(char)
        if char.isspace() or category in ("Pd", "Pc"):
            kept.append(" ")
        elif category[0] in "LN":
            kept.append(char)
        # Marks (accents), format characters, other punctuation, symbols and controls are dropped.
    return " ".join("".join(kept).split())


@functools.lru_cache(maxsize=8)
def _normalised(keywords: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise_keyword(word) for word in keywords) - {""}


def keyword_intent(*texts: str | None) -> str | None:
    """STOP / START when one of `texts` (a message's text, a button's payload) is, as a whole, a configured keyword."""
    candidates = {normalise_keyword(text) for text in texts} - {""}
    if candidates & _normalised(tuple(settings.WHATSAPP_OPT_OUT_KEYWORDS)):
        return STOP
    if candidates & _normalised(tuple(settings.WHATSAPP_OPT_IN_KEYWORDS)):
        return START
    return None
