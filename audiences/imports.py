"""Reading a contacts file (CSV or .xlsx) in one streamed pass: column aliases, per-row validation with line numbers.

Parsing never touches the database; `services.contacts_import` writes what
`ContactsFile.rows()` yields, batch by batch, so memory does not grow with the
file. What concerns the whole file is decided before the first row, for the
whole file: the format, the encoding and binary content (audiences/filetypes.py),
the delimiter (sniffed from the header: comma, semicolon, tab) and how decimals
are written (a semicolon or tab file is taken to use decimal commas, as
European spreadsheets write them). A file-level problem raises ImportFileError
before anything is written.

A bad row becomes an `InvalidRow` with its line number (the header is line
1) and the good rows carry on: an empty or unparseable phone, a bad
subscription value, a NUL or other control character, a line too long, or a
quote that is never closed. A quoted field may span a few lines (an
address); one that runs on for more than MAX_RECORD_LINES lines, or to the end
of the file, is an unclosed quote: its first line is reported and the lines it
swallowed are read again as rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import tempfile
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audiences.attributes import coerce_value, normalize_key
from audiences.filetypes import (  # noqa: F401 (ImportFileError and the encodings are also this module's API)
    CONTROL,
    ENCODING_CHOICES,
    ENCODING_NAMES,
    OLE2_MAGIC,
    XLSX_MAGIC,
    ImportFileError,
    detect_encoding,
    refuse_binary,
)
from audiences.phones import InvalidPhoneNumber, normalize_phone

ALIASES = {
    "phone": ("phone", "phone_number", "mobile", "mobile_number", "mobile_phone", "whatsapp", "whatsapp_number",
              "wa_id", "msisdn", "cell", "cell_phone", "telephone", "tel", "number",
              "portable", "numero", "numero_de_telephone", "telefono", "celular", "movil", "telemovel"),
    "name": ("name", "full_name", "fullname", "contact_name", "customer_name", "display_name",
             "nom_complet", "nombre_completo", "nome_completo"),
    "first_name": ("first_name", "firstname", "given_name", "first", "prenom", "nombre", "nome"),
    "last_name": ("last_name", "lastname", "surname", "family_name", "last", "nom", "apellido", "apellidos",
                  "sobrenome"),
    "language": ("language", "lang", "locale", "language_code", "langue", "idioma"),
    "tags": ("tags", "tag", "labels", "groups", "etiquettes", "etiquetas"),
    "subscribed": ("subscribed", "subscription", "opt_in", "opted_in"),
}  # fmt: skip
_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_YES = {"1", "yes", "y", "true", "t", "subscribed", "opt_in", "opted_in", "in", "oui", "si", "sim"}
_NO = {"0", "no", "n", "false", "f", "unsubscribed", "opt_out", "opted_out", "out", "stop", "non", "nao"}

DECIMAL_CHOICES = [
    ("", gettext_lazy("Detect (comma in semicolon or tab files)")),
    ("comma", gettext_lazy("Comma: 1.234,50")),
    ("point", gettext_lazy("Point: 1,234.50")),
]
FIELD_MEANINGS = {
    "phone": gettext_lazy("the phone number (E.164)"),
    "name": gettext_lazy("the name"),
    "first_name": gettext_lazy("the first name (else the name's first word)"),
    "last_name": gettext_lazy("the last name, after the first name in the name"),
    "language": gettext_lazy("the WhatsApp language (en_US, fr_FR ...)"),
    "tags": gettext_lazy("tags (comma separated)"),
    "subscribed": gettext_lazy("subscribed: yes or no (an import never resubscribes)"),
}
SNIFF_BYTES = 64 * 1024
MAX_RECORD_LINES = 20  # a quoted field running on longer than this is an unclosed quote
MAX_LINE_CHARS = 100_000


@dataclass
class InvalidRow:
    line: int
    reason: str
    value: str | None = None
    cells: list[str] | None = None  # the row as read, for the rejected-rows download

    @property
    def message(self) -> str:
        if self.value is None:
            return self.reason
        return _("invalid phone %(value)r: %(reason)s") % {"value": self.value, "reason": self.reason}

    def __str__(self) -> str:
        return _("line %(line)s: %(message)s") % {"line": self.line, "message": self.message}


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

    def merge(self, later: ParsedContact) -> None:
        """A later row for the same phone fills in and overrides what it gives."""
        self.name = later.name or self.name
        self.first_name = later.first_name or self.first_name
        self.language = later.language or self.language
        self.attributes.update(later.attributes)
        self.tags |= later.tags
        if later.subscribed is not None:
            # An opt-out anywhere in the file wins over an opt-in elsewhere.
            self.subscribed = later.subscribed if self.subscribed is None else (self.subscribed and later.subscribed)

    def as_dict(self) -> dict:
        return {
            "line": self.line,
            "phone": self.phone,
            "name": self.name,
            "first_name": self.first_name,
            "language": self.language,
            "tags": sorted(self.tags),
            "attributes": self.attributes,
            "subscribed": self.subscribed,
        }


@dataclass(frozen=True)
class Column:
    """One header cell and what it becomes: a contact field, an attribute, or nothing."""

    header: str
    field: str | None  # "phone", "name", ... or None for an attribute
    key: str  # the attribute key (normalize_key of the header); "" when ignored

    @property
    def target(self) -> str:
        if self.field:
            return self.field
        return f"attributes.{self.key}" if self.key else ""

    @property
    def meaning(self) -> str:
        """What the preview says the column becomes, in words."""
        if self.field:
            return str(FIELD_MEANINGS[self.field])
        if self.key:
            return _("an attribute (numbers stay numbers)")
        return _("ignored: the column has no header")


class ContactsFile:
    """One contacts file, opened and checked as a whole; `rows()` then reads it once, row by row.

    `file` is a binary file; one that cannot seek is copied to a temporary
    file first (detection reads it twice). `encoding` overrides the
    detection (any codec name Python knows); `decimal` is "comma", "point"
    or None (detect). Raises ImportFileError for a file-level problem.
    """

    def __init__(self, file: BinaryIO, *, region: str | None = None, encoding: str | None = None,
                 decimal: str | None = None) -> None:  # fmt: skip
        self.file = _seekable(file)
        self.region = region
        self.file.seek(0, io.SEEK_END)
        self.size = self.file.tell()
        self.file.seek(0)
        head = self.file.read(SNIFF_BYTES)
        self.file.seek(0)
        self.rows_read = 0
        self.delimiter = ""
        self.encoding = ""
        self.encoding_note = ""
        if not head.strip(b" \t\r\n\x00"):
            raise ImportFileError(_("the file is empty; the first line must be a header with a phone column"))
        if head.startswith(OLE2_MAGIC):
            raise ImportFileError(_("this is an old Excel .xls file: save it as .xlsx or CSV and upload that"))
        if head.startswith(XLSX_MAGIC):
            self.format = "xlsx"
            self._open_xlsx()
            self.decimal_comma = {"comma": True, "point": False}.get(decimal or "")
        else:
            self.format = "csv"
            self.encoding, self.encoding_note = detect_encoding(self.file, head, override=encoding)
            refuse_binary(head, self.encoding)
            self._open_csv()
            self.decimal_comma = {"comma": True, "point": False}.get(decimal or "", self.delimiter != ",")
        if "phone" not in [c.field for c in self.columns]:
            raise ImportFileError(
                _("no phone column in the header %(header)r; name one of: %(aliases)s")
                % {"header": [c.header for c in self.columns], "aliases": ", ".join(ALIASES["phone"])}
            )

    # --- opening ------------------------------------------------------------
    def _open_csv(self) -> None:
        text = io.TextIOWrapper(self.file, encoding=self.encoding, errors="strict", newline="")
        self._lines = _LineSource(text)
        header_line, header_text = self._lines.first_non_blank()
        if header_text is None:
            raise ImportFileError(_("the file is empty; the first line must be a header with a phone column"))
        self.delimiter = max(",;\t", key=lambda d: (_count_outside_quotes(header_text, d), d == ","))
        self._lines.push_back([(header_line, header_text)])
        self._reader = csv.reader(self._lines, delimiter=self.delimiter, strict=True)
        record = next(self._records(), None)
        if record is None or isinstance(record, InvalidRow):
            raise ImportFileError(
                _("the header line cannot be read: %(reason)s") % {"reason": getattr(record, "reason", "")}
            )
        self.header_line = record[0]
        self.columns = _columns(record[1])

    def _open_xlsx(self) -> None:
        from openpyxl import load_workbook

        try:
            self._workbook = load_workbook(self.file, read_only=True, data_only=True)
            sheet = self._workbook.worksheets[0]
            self._sheet_rows = sheet.iter_rows(values_only=True)
            self._sheet_total = sheet.max_row
            header = None
            for number, values in enumerate(self._sheet_rows, start=1):
                if any(v not in (None, "") for v in values):
                    header, self.header_line = values, number
                    break
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError) as exc:
            raise ImportFileError(_("this .xlsx file cannot be read: %(error)s") % {"error": exc}) from exc
        if header is None:
            raise ImportFileError(_("the first sheet is empty; its first row must be a header with a phone column"))
        self.columns = _columns(["" if v is None else str(v) for v in header])
        self.encoding_note = ""

    # --- reading ------------------------------------------------------------
    def progress(self) -> tuple[int, int | None]:
        """(done, total) for a progress bar: bytes of a CSV, rows of an .xlsx (total None when unknown)."""
        if self.format == "xlsx":
            return self.rows_read, self._sheet_total
        try:
            return min(self.file.tell(), self.size), self.size
        except (OSError, ValueError):
            return 0, self.size

    def rows(self) -> Iterator[ParsedContact | InvalidRow]:
        """Every data row once, in file order: a ParsedContact, or an InvalidRow saying why not."""
        records = self._xlsx_records() if self.format == "xlsx" else self._records()
        for record in records:
            if isinstance(record, InvalidRow):
                self.rows_read += 1
                yield record
                continue
            line, cells = record
            if not any(_cell_text(c) for c in cells):
                continue  # a blank line
            self.rows_read += 1
            yield self._parse_row(cells, line)

    def _records(self) -> Iterator[tuple[int, list] | InvalidRow]:
        lines, reader = self._lines, self._reader
        while True:
            lines.start_record()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, _RunawayQuote) as exc:
                taken = lines.record_lines()
                if not taken:
                    return
                first_line, first_text = taken[0]
                if isinstance(exc, _RunawayQuote) or "unexpected end of data" in str(exc):
                    reason = _("a quote opened on this line is never closed; the lines after it were read as rows")
                else:
                    reason = _("badly quoted field (%(error)s)") % {"error": exc}
                lines.push_back(taken[1:])  # the lines it swallowed are read again as rows
                yield InvalidRow(first_line, reason, cells=[first_text.rstrip("\r\n")])
                continue
            except _LineTooLong as exc:
                yield InvalidRow(exc.line, _("line longer than %(n)s characters") % {"n": MAX_LINE_CHARS})
                continue
            except UnicodeDecodeError as exc:  # only with an encoding chosen by hand; checked whole beforehand
                raise ImportFileError(str(exc)) from exc
            yield lines.record_start(), cells

    def _xlsx_records(self) -> Iterator[tuple[int, list]]:
        number = self.header_line
        try:
            for number, values in enumerate(self._sheet_rows, start=self.header_line + 1):
                yield number, list(values)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise ImportFileError(
                _("this .xlsx file cannot be read after row %(n)s: %(error)s") % {"n": number, "error": exc}
            ) from exc
        finally:
            self._workbook.close()

    def _parse_row(self, cells: list, line: int) -> ParsedContact | InvalidRow:
        texts = [_cell_text(c) for c in cells]
        for text in texts:
            if CONTROL.search(text):
                kind = _("a NUL character") if "\x00" in text else _("a control character")
                return InvalidRow(line, _("contains %(kind)s (binary data?)") % {"kind": kind}, cells=texts)
        values: dict[str, str] = {}
        attributes: dict = {}
        for cell, text, column in zip(cells, texts, self.columns, strict=False):
            if column.field:
                values.setdefault(column.field, text)
            elif column.key and text:
                attributes[column.key] = _attribute_value(cell, self.decimal_comma)
        raw_phone = values.get("phone", "")
        if not raw_phone:
            return InvalidRow(line, _("empty phone"), cells=texts)
        try:
            phone = normalize_phone(raw_phone, self.region)
        except InvalidPhoneNumber as exc:
            return InvalidRow(line, str(exc), raw_phone, cells=texts)
        subscribed = None
        if values.get("subscribed"):
            flag = normalize_key(values["subscribed"])
            if flag not in _YES | _NO:
                return InvalidRow(
                    line,
                    _("subscribed: %(value)r is neither yes nor no") % {"value": values["subscribed"]},
                    cells=texts,
                )
            subscribed = flag in _YES
        name = values.get("name", "")
        first_name = values.get("first_name", "")
        if not name and (first_name or values.get("last_name")):
            name = f"{first_name} {values.get('last_name', '')}".strip()
        tags = {t.strip()[:100] for t in values.get("tags", "").split(",") if t.strip()}
        return ParsedContact(
            phone=phone,
            line=line,
            name=name[:200],
            first_name=first_name[:100],
            language=values.get("language", "").replace("-", "_")[:15],
            attributes=attributes,
            tags=tags,
            subscribed=subscribed,
        )


# --- Helpers ------------------------------------------------------------------------


class _RunawayQuote(Exception):
    pass


class _LineTooLong(Exception):
    def __init__(self, line: int):
        self.line = line


class _LineSource:
    """The text's physical lines for csv.reader, numbered, with push-back, and the lines of the current record.

    Lines are split on CR, LF or CRLF (newline=""), so old Mac files read too.
    """

    def __init__(self, text: io.TextIOBase):
        self.text = text
        self.number = 0
        self.pending: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_RECORD_LINES:
            raise _RunawayQuote
        if self.pending:
            item = self.pending.popleft()
        else:
            line = self.text.readline(MAX_LINE_CHARS)
            if not line:
                raise StopIteration
            self.number += 1
            if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
                while (rest := self.text.readline(MAX_LINE_CHARS)) and not rest.endswith(("\n", "\r")):
                    pass
                raise _LineTooLong(self.number)
            item = (self.number, line)
        self.taken.append(item)
        return item[1]

    def start_record(self) -> None:
        self.taken = []

    def record_start(self) -> int:
        return self.taken[0][0] if self.taken else self.number

    def record_lines(self) -> list[tuple[int, str]]:
        return list(self.taken)

    def push_back(self, items: list[tuple[int, str]]) -> None:
        self.pending.extendleft(reversed(items))

    def first_non_blank(self) -> tuple[int, str | None]:
        for _line in self:
            number, text = self.taken[-1]
            self.taken = []
            if text.strip():
                return number, text
        return 0, None


def _columns(header: list[str]) -> list[Column]:
    columns = []
    for raw in header:
        key = normalize_key(raw)
        columns.append(Column(header=raw.strip(), field=_ALIAS_TO_FIELD.get(key), key=key))
    return columns


def _count_outside_quotes(line: str, delimiter: str) -> int:
    return re.sub(r'"[^"]*"', "", line).count(delimiter)


def _cell_text(value) -> str:
    """A cell as text: a CSV string stripped, an .xlsx number without a spurious ".0", a date in ISO form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _attribute_value(cell, decimal_comma: bool | None):
    if isinstance(cell, bool):
        return cell
    if isinstance(cell, int | float):
        return int(cell) if isinstance(cell, float) and cell.is_integer() else cell
    if isinstance(cell, str):
        return coerce_value(cell, decimal_comma=decimal_comma)
    return _cell_text(cell)


def _seekable(file) -> BinaryIO:
    if hasattr(file, "seekable") and file.seekable():
        return file
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 (returned open; closed with the import)
    if hasattr(file, "read"):
        shutil.copyfileobj(file, spooled)
    else:
        for chunk in file:
            spooled.write(chunk)
    spooled.seek(0)
    return spooled
