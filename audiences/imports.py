"""Reading a contacts CSV: column aliases, per-row validation with line numbers.

Parsing never touches the database; `services.contacts_import` writes what it
returns in bulk. A bad row (empty or unparseable phone, bad encoding, bad
subscription value) becomes an `InvalidRow` with its line number (the header
is line 1) and the good rows carry on. Rows for the same phone are merged.
"""

import codecs
import csv
from collections.abc import Iterable
from dataclasses import dataclass, field

from audiences.attributes import coerce_value, normalize_key
from audiences.phones import InvalidPhoneNumber, normalize_phone

ALIASES = {
    "phone": ("phone", "phone_number", "mobile", "mobile_number", "mobile_phone", "whatsapp", "whatsapp_number",
              "wa_id", "msisdn", "cell", "cell_phone", "telephone", "tel", "number"),
    "name": ("name", "full_name", "fullname", "contact_name", "customer_name", "display_name"),
    "first_name": ("first_name", "firstname", "given_name", "first"),
    "last_name": ("last_name", "lastname", "surname", "family_name", "last"),
    "language": ("language", "lang", "locale", "language_code"),
    "tags": ("tags", "tag", "labels", "groups"),
    "subscribed": ("subscribed", "subscription", "opt_in", "opted_in"),
}  # fmt: skip
_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_YES = {"1", "yes", "y", "true", "t", "subscribed", "opt_in", "opted_in", "in"}
_NO = {"0", "no", "n", "false", "f", "unsubscribed", "opt_out", "opted_out", "out", "stop"}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, no phone column)."""


@dataclass
class InvalidRow:
    line: int
    reason: str
    value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            return f"line {self.line}: {self.reason}"
        return f"line {self.line}: invalid phone {self.value!r}: {self.reason}"


@dataclass
class ParsedContact:
    phone: str
    line: int
    name: str = ""
    first_name: str = ""
    language: str = ""
    attributes: dict = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    subscribed: bool | None = None  # None: the file does not say

    def merge(self, later: "ParsedContact") -> None:
        """A later row for the same phone fills in and overrides what it gives."""
        self.name = later.name or self.name
        self.first_name = later.first_name or self.first_name
        self.language = later.language or self.language
        self.attributes.update(later.attributes)
        self.tags |= later.tags
        if later.subscribed is not None:
            # An opt-out anywhere in the file wins over an opt-in elsewhere.
            self.subscribed = later.subscribed if self.subscribed is None else (self.subscribed and later.subscribed)


@dataclass
class ParsedFile:
    contacts: dict[str, ParsedContact]
    invalid: list[InvalidRow]
    rows: int


def parse_contacts_csv(binary_lines: Iterable[bytes], *, region: str | None = None) -> ParsedFile:
    """Parse a CSV given as an iterable of byte lines (an open binary file, an upload)."""
    bad_encoding: set[int] = set()
    lines = _decode(binary_lines, bad_encoding)
    first = next(lines, None)
    if first is None or not first.strip():
        raise ImportFileError("the file is empty; the first line must be a header with a phone column")
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(_chain(first, lines), delimiter=delimiter)
    header = next(reader)
    columns = [_ALIAS_TO_FIELD.get(normalize_key(h)) for h in header]
    keys = [normalize_key(h) for h in header]
    if "phone" not in columns:
        raise ImportFileError(f"no phone column in the header {header!r}; name one of: {', '.join(ALIASES['phone'])}")
    contacts: dict[str, ParsedContact] = {}
    invalid: list[InvalidRow] = []
    rows = 0
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            invalid.append(InvalidRow(line, f"unreadable CSV: {exc}"))
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        rows += 1
        if any(n in bad_encoding for n in range(line, reader.line_num + 1)):
            invalid.append(InvalidRow(line, "bad encoding: not UTF-8 text"))
            continue
        parsed = _parse_row(cells, columns, keys, line, region, invalid)
        if parsed is None:
            continue
        if parsed.phone in contacts:
            contacts[parsed.phone].merge(parsed)
        else:
            contacts[parsed.phone] = parsed
    return ParsedFile(contacts=contacts, invalid=invalid, rows=rows)


def _parse_row(cells, columns, keys, line, region, invalid) -> ParsedContact | None:
    values: dict[str, str] = {}
    attributes: dict = {}
    for cell, column, key in zip(cells, columns, keys, strict=False):
        cell = cell.strip()
        if column:
            values.setdefault(column, cell)
        elif key and cell:
            attributes[key] = coerce_value(cell)
    raw_phone = values.get("phone", "")
    if not raw_phone:
        invalid.append(InvalidRow(line, "empty phone"))
        return None
    try:
        phone = normalize_phone(raw_phone, region)
    except InvalidPhoneNumber as exc:
        invalid.append(InvalidRow(line, str(exc), raw_phone))
        return None
    subscribed = None
    if values.get("subscribed"):
        flag = normalize_key(values["subscribed"])
        if flag not in _YES | _NO:
            invalid.append(InvalidRow(line, f"subscribed: {values['subscribed']!r} is neither yes nor no"))
            return None
        subscribed = flag in _YES
    name = values.get("name", "")
    first_name = values.get("first_name", "")
    if not name and (first_name or values.get("last_name")):
        name = f"{first_name} {values.get('last_name', '')}".strip()
    tags = {t.strip()[:100] for t in values.get("tags", "").split(",") if t.strip()}
    language = values.get("language", "").replace("-", "_")
    return ParsedContact(
        phone=phone,
        line=line,
        name=name[:200],
        first_name=first_name[:100],
        language=language[:15],
        attributes=attributes,
        tags=tags,
        subscribed=subscribed,
    )


def _decode(binary_lines: Iterable[bytes], bad: set[int]):
    for number, raw in enumerate(binary_lines, start=1):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(number)
            yield raw.decode("utf-8", errors="replace")


def _chain(first, rest):
    yield first
    yield from rest
