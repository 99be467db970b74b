"""How free-form contact attributes are named and typed, shared by the CSV
import and the audience rules so that a rule compares like with like."""

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")
_INTEGER = re.compile(r"-?(0|[1-9]\d{0,17})")
_DECIMAL_POINT = re.compile(r"-?(0|[1-9]\d*)\.\d+")
_DECIMAL_COMMA = re.compile(r"-?(0|[1-9]\d*),\d+")
# One separator followed by exactly three digits: "1,234" is 1234 in one
# convention and 1.234 in the other.
_AMBIGUOUS = re.compile(r"-?[1-9]\d{0,2}[.,]\d{3}")
# Thousands separators, then maybe decimals with the other mark: never ambiguous.
_GROUPED_COMMA = re.compile(r"-?[1-9]\d{0,2}(,\d{3})+(\.\d+)?")  # 1,234,567 / 1,234.50
_GROUPED_DOT = re.compile(r"-?[1-9]\d{0,2}(\.\d{3})+(,\d+)?")  # 1.234.567 / 1.234,50
_GROUPED_SPACE = re.compile(r"-?[1-9]\d{0,2}([ \u00a0\u202f]\d{3})+([.,]\d+)?")  # 1 234,50 (French)


def normalize_key(raw: str) -> str:
    """'Total Spent' -> 'total_spent', 'Téléphone' -> 'telephone': lower case without accents, words joined by _."""
    text = unicodedata.normalize("NFKD", (raw or "").strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NON_WORD.sub("_", text).strip("_")


def coerce_value(raw, *, decimal_comma: bool | None = None):
    """A CSV cell or form value as JSON: numbers stay numbers, so 'greater than' works.

    Plain integers and decimals with a point or a comma ("99.5", "212,83")
    parse, and so do thousands separators when the grouping says which mark
    is which ("1.234,50", "1,234.50", "1 234,50", "1,234,567"). "1,234" and
    "1.234" alone are ambiguous: `decimal_comma` says the file's convention
    (True: comma decimals, so "1,234" is 1.234 and "1.234" is 1234; False: the
    reverse); None (unknown) reads "1.234" as 1.234 and leaves "1,234" as text.
    "007" (a code, not a number) and "1e5" stay text; text is stripped.
    """
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if _AMBIGUOUS.fullmatch(text):
        comma = text[-4] == ","
        if decimal_comma is None and comma:
            return text
        thousands = comma != bool(decimal_comma) if decimal_comma is not None else False
        return int(text.replace(text[-4], "")) if thousands else float(text.replace(",", "."))
    if _DECIMAL_POINT.fullmatch(text):
        return float(text)
    if _DECIMAL_COMMA.fullmatch(text):
        return float(text.replace(",", "."))
    for grouped, thousands in ((_GROUPED_COMMA, ","), (_GROUPED_DOT, "."), (_GROUPED_SPACE, None)):
        if grouped.fullmatch(text):
            digits = re.sub(r"[ \u00a0\u202f]", "", text) if thousands is None else text.replace(thousands, "")
            digits = digits.replace(",", ".")
            return float(digits) if "." in digits else int(digits)
    return text
