"""Campaign exports as CSV, streamed: 1,000,000 recipients leave with flat memory.

Rows come from one query (the recipient joined to its contact's name) read
in chunks through a server-side cursor on PostgreSQL, and are written as
they are read; nothing holds the whole export. Phones are personal data:
the admin serves these only to users with `campaigns.export_recipients`, and
records each export in the campaign's history.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from campaigns.models import Campaign, Recipient

CHUNK = 2000
# A cell an office suite would run as a formula starts with one of these (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ...but a plain number is harmless and stays as it is, so E.164 phones ("+14155550123") keep their "+".
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


@dataclass(frozen=True)
class Export:
    slug: str
    description: str
    columns: tuple[tuple[str, str], ...]  # (CSV header, Recipient lookup)
    counter: str  # the campaign counter that says how many rows there are (no COUNT(*) over 1M rows)
    statuses: tuple[str, ...] = ()  # empty: every recipient

    def rows(self, *, campaign: Campaign) -> Iterator[tuple]:
        """The export's rows in send order: one query, the contact's name joined in, read in chunks."""
        recipients = Recipient.objects.filter(campaign_id=campaign.pk)
        if self.statuses:
            recipients = recipients.filter(status__in=self.statuses)
        lookups = [lookup for _, lookup in self.columns]
        return recipients.order_by("position", "id").values_list(*lookups).iterator(chunk_size=CHUNK)


FAILURES = Export(
    slug="failures",
    description="failures",
    columns=(
        ("phone", "phone"),
        ("name", "contact__name"),
        ("error_code", "error_code"),
        ("reason", "error_reason"),
        ("attempts", "attempts"),
        ("last_attempt_at", "failed_at"),
    ),
    counter="failed",
    statuses=(Recipient.Status.FAILED,),
)

RECIPIENTS = Export(
    slug="recipients",
    description="all recipients",
    columns=(
        ("phone", "phone"),
        ("name", "contact__name"),
        ("status", "status"),
        ("position", "position"),
        ("estimated_send_date", "estimated_send_date"),
        ("attempts", "attempts"),
        ("message_id", "message_id"),
        ("sent_at", "sent_at"),
        ("delivered_at", "delivered_at"),
        ("read_at", "read_at"),
        ("failed_at", "failed_at"),
        ("error_code", "error_code"),
        ("reason", "error_reason"),
    ),
    counter="total",
)


def csv_cell(value) -> str:
    """One value as CSV text: times in TIME_ZONE with their offset, empty for None, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer formats without buffering."""

    def write(self, value: str) -> str:
        return value


def csv_lines(*, header: Iterable[str], rows: Iterable[tuple], chunk: int = CHUNK) -> Iterator[str]:
    """The CSV text, a chunk of rows at a time (one small string per row would slow the server's writes)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow([csv_cell(value) for value in row]))
        if len(lines) >= chunk:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def filename(*, campaign: Campaign, export: Export, now: dt.datetime) -> str:
    return f"campaign-{campaign.pk}-{export.slug}-{timezone.localdate(now).isoformat()}.csv"


def export_view(modeladmin, request, object_id: int, *, export: Export) -> StreamingHttpResponse:
    """The admin view behind both exports: export permission (403 without it), history entry, streamed CSV."""
    if not modeladmin.has_export_permission(request):
        raise PermissionDenied
    campaign = modeladmin.get_object(request, str(object_id))
    if campaign is None:
        raise Http404(f"No campaign {object_id}.")
    if not modeladmin.has_view_permission(request, campaign):
        raise PermissionDenied
    name = filename(campaign=campaign, export=export, now=timezone.now())
    rows = getattr(campaign, export.counter)
    modeladmin.log_change(request, campaign, f"Exported {export.description} as CSV: {rows:,} rows ({name})")
    response = StreamingHttpResponse(
        csv_lines(header=[header for header, _ in export.columns], rows=export.rows(campaign=campaign)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
