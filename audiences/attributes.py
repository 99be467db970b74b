"""How free-form contact attributes are named and typed, shared by the CSV
import and the audience rules so that a rule compares like with like."""

import re

_NON_WORD = re.compile(r"[^0-9a-z]+")
_INTEGER = re.compile(r"-?(0|[1-9]\d{0,17})")
_DECIMAL = re.compile(r"-?(0|[1-9]\d*)\.\d+")


def normalize_key(raw: str) -> str:
    """'Total Spent' -> 'total_spent': lower case, words joined by one underscore."""
    return _NON_WORD.sub("_", (raw or "").strip().lower()).strip("_")


def coerce_value(raw):
    """A CSV cell or form value as JSON: numbers stay numbers, so 'greater than' works.

    Only plain decimal notation parses; "007" (a code, not a number), "1e5" and
    "1,000" stay text, and text is stripped.
    """
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text
