"""What a contacts file is, decided once for the whole file before any row is read: format, encoding, binary.

The encoding: a byte-order mark says it; else UTF-8 when every byte of the
file is valid UTF-8 (one pass in chunks); else Windows-1252, or Latin-1 when
the file has bytes Windows-1252 leaves undefined. A file mixing valid UTF-8
with bytes that are not is refused rather than half mangled, and an encoding
chosen by hand must read the whole file. A file whose start is mostly control
characters (an image, a PDF, an archive) is refused, and so is the old binary
.xls. Every refusal is one ImportFileError, raised before anything is written.
"""

from __future__ import annotations

import codecs
import re
from typing import BinaryIO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

ENCODING_CHOICES = [
    ("", gettext_lazy("Detect")),
    ("utf-8", "UTF-8"),
    ("utf-16", "UTF-16"),
    ("cp1252", gettext_lazy("Windows-1252 (Excel, Western Europe)")),
    ("iso-8859-1", "Latin-1 (ISO-8859-1)"),
    ("iso-8859-15", "Latin-9 (ISO-8859-15)"),
]
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": gettext_lazy("UTF-8 with a byte-order mark"),
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 (little-endian)",
    "utf-16-be": "UTF-16 (big-endian)",
    "utf-32": "UTF-32",
    "cp1252": "Windows-1252",
    "iso8859-1": "Latin-1",
    "iso-8859-1": "Latin-1",
    "iso8859-15": "Latin-9",
}
_CHUNK = 1 << 20
XLSX_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INVALID_UTF8 = re.compile("[\udc80-\udcff]")
_VALID_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")
_CP1252_UNDEFINED = re.compile(b"[\x81\x8d\x8f\x90\x9d]")
_NEWLINE = re.compile(r"\r\n|\r|\n")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, no phone column, unreadable, binary); nothing is written."""


def detect_encoding(file: BinaryIO, head: bytes, *, override: str | None = None) -> tuple[str, str]:
    """(codec, how it was decided) for the whole file; ImportFileError when no single encoding reads it."""
    if override:
        try:
            codec = codecs.lookup(override).name
        except LookupError as exc:
            raise ImportFileError(_("unknown encoding %(name)r") % {"name": override}) from exc
        if codec == "utf-8" and head.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        bad_line = _first_undecodable_line(file, codec)
        if bad_line is not None:
            raise ImportFileError(
                _("the file is not valid %(codec)s: line %(line)s cannot be read that way")
                % {"codec": codec, "line": bad_line}
            )
        return codec, _("chosen on the form")
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, _("byte-order mark")
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16, _("detected (no byte-order mark)")
    invalid, valid_non_ascii, first_bad, cp1252_undefined = _scan_utf8(file)
    if not invalid:
        return "utf-8", _("detected")
    if valid_non_ascii:
        raise ImportFileError(
            _(
                "the file mixes UTF-8 with another encoding (the first byte that is not UTF-8 is on line %(line)s): "
                "save it again as UTF-8, or choose its encoding"
            )
            % {"line": first_bad}
        )
    codec = "iso-8859-1" if cp1252_undefined else "cp1252"
    return codec, _("detected: not UTF-8 from line %(line)s on") % {"line": first_bad}


def _scan_utf8(file: BinaryIO) -> tuple[bool, bool, int | None, bool]:
    """One pass in chunks: (bytes that are not UTF-8?, valid non-ASCII UTF-8?, first bad line, cp1252 holes?)."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    invalid = valid_non_ascii = cp1252_undefined = False
    first_bad, lines = None, 1
    file.seek(0)
    while True:
        chunk = file.read(_CHUNK)
        text = decoder.decode(chunk, final=not chunk)
        cp1252_undefined = cp1252_undefined or bool(_CP1252_UNDEFINED.search(chunk))
        if not text.isascii():
            bad = _INVALID_UTF8.search(text)
            if bad and not invalid:
                invalid, first_bad = True, lines + len(_NEWLINE.findall(text, 0, bad.start()))
            valid_non_ascii = valid_non_ascii or bool(_VALID_NON_ASCII.search(text))
        if not invalid:
            lines += len(_NEWLINE.findall(text))
        if not chunk:
            break
    file.seek(0)
    return invalid, valid_non_ascii, first_bad, cp1252_undefined


def _first_undecodable_line(file: BinaryIO, codec: str) -> int | None:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    lines, done = 1, ""
    file.seek(0)
    try:
        while chunk := file.read(_CHUNK):
            done = decoder.decode(chunk)
            lines += len(_NEWLINE.findall(done))
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return lines
    finally:
        file.seek(0)
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without a BOM has a NUL in every other byte (for Latin text)."""
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    if odd > 0.4 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.4 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def refuse_binary(head: bytes, codec: str) -> None:
    """Refuse, as a whole, a file whose start is mostly not text (an image, a PDF, an archive)."""
    text = head.decode(codec, errors="replace")
    if not text:
        return
    controls = len(CONTROL.findall(text)) + text.count("\ufffd")
    if controls > max(2, len(text) // 20):
        raise ImportFileError(
            _("this does not look like a CSV or .xlsx file (binary content); export the contacts as CSV or .xlsx")
        )
