"""The orders CSV upload: shops without an integration report their orders as a file (docs/architecture.md,
"Engagement").

Every row goes through the same service as the API (`conversions.conversion_input` then
`conversions.conversion_record`): a row already recorded (same order id) changes nothing, a bad row is reported
with its line number and its reasons while the good rows are recorded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from campaigns.conversions import conversion_input, conversion_record

# Header names each field is recognised by (lower case, spaces and dashes as underscores).
COLUMNS = {
    "order_id": ("order_id", "order", "order_number", "id", "reference"),
    "value": ("value", "total", "amount", "revenue", "price"),
    "currency": ("currency", "currency_code"),
    "time": ("time", "date", "ordered_at", "created_at", "timestamp", "at"),
    "phone": ("phone", "mobile", "whatsapp", "telephone", "customer_phone"),
    "token": ("token", "click_token", "link_token"),
}
MAX_BYTES = 20 * 1024 * 1024  # a synchronous upload: a shop's orders of a campaign's window, not its history


@dataclass
class OrdersImport:
    created: int = 0
    duplicates: int = 0  # order ids already recorded: nothing changed
    attributed: int = 0  # created and attributed to a campaign
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reasons)


class OrdersFileError(ValueError):
    """The file as a whole cannot be read (not text, no header, no order id column); nothing was recorded."""


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def orders_import(*, data: bytes, now: dt.datetime) -> OrdersImport:
    """Record every good row of an orders CSV; report each bad row with its line and reasons."""
    if len(data) > MAX_BYTES:
        raise OrdersFileError(_("The file is larger than 20 MB: split it."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise OrdersFileError(_("The file is not text (CSV).")) from exc
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        raise OrdersFileError(_("The file is empty: it needs a header line."))
    names = [_key(name) for name in header]
    where = {}
    for target, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in names:
                where[target] = names.index(alias)
                break
    if "order_id" not in where:
        raise OrdersFileError(_("No order id column (one of: %(names)s).") % {"names": ", ".join(COLUMNS["order_id"])})
    report = OrdersImport()
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {target: row[index] if index < len(row) else "" for target, index in where.items()}
        try:
            result = conversion_record(order=conversion_input(values), now=now, source="csv")
        except ValidationError as exc:
            reasons = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
            report.rejected.append((line, reasons))
            continue
        if result.created:
            report.created += 1
            report.attributed += result.conversion.campaign_id is not None
        else:
            report.duplicates += 1
    return report
