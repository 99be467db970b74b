"""Campaign exports as CSV, streamed: 1,000,000 recipients leave with flat memory.

Rows come from one query (the recipient joined to its contact's name) read
in chunks through a server-side cursor on PostgreSQL, and are written as
they are read; nothing holds the whole export. Phones are personal data:
the admin serves these only to users with `campaigns.export_recipients`, and
records each export in the campaign's history.

Files open cleanly in Excel: UTF-8 with a byte order mark (without it Excel
reads the text as the machine's ANSI code page and mangles accents), and
the separator Excel expects, which is its regional "list separator": ";"
where "," is the decimal separator (most of Europe and Latin America). The
default follows the browser's language; `?sep=comma|semicolon|tab` chooses.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import BadRequest, PermissionDenied
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, gettext_lazy

from campaigns.models import Campaign, Recipient

CHUNK = 2000
BOM = "\ufeff"
SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t"}
# A cell an office suite would run as a formula starts with one of these (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ...but a plain number is harmless and stays as it is, so E.164 phones ("+14155550123") keep their "+".
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")

# How a column's values become CSV cells. csv.writer already writes None as
# an empty cell and numbers and dates (ISO) as text; only these need work.
TEXT = "text"  # free text from contacts, templates or the API: formulas defused
TIME = "time"  # a moment: read as text (see Export.rows), written in TIME_ZONE, to the second, with its offset
PLAIN = "plain"  # numbers, dates, our own codes: as they are


@dataclass(frozen=True)
class Export:
    slug: str
    description: str
    columns: tuple[tuple[str, str, str], ...]  # (CSV header, Recipient lookup, TEXT/TIME/PLAIN)
    counter: str  # the campaign counter that says how many rows there are (no COUNT(*) over 1M rows)
    statuses: tuple[str, ...] = ()  # empty: every recipient

    @property
    def header(self) -> list[str]:
        return [header for header, _, _ in self.columns]

    def rows(self, *, campaign: Campaign) -> Iterator[tuple]:
        """The export's rows in send order: one query, the contact's name joined in, read in chunks."""
        recipients = Recipient.objects.filter(campaign_id=campaign.pk)
        if self.statuses:
            recipients = recipients.filter(status__in=self.statuses)
        # Times are read as the database's ISO text: Django's PostgreSQL timestamptz loader is pure Python
        # (~17 µs a value, most of a 1M-row export); datetime.fromisoformat parses the text in well under 1 µs.
        as_text = {f"{header}_text": Cast(lookup, TextField()) for header, lookup, kind in self.columns if kind == TIME}
        names = [f"{header}_text" if kind == TIME else lookup for header, lookup, kind in self.columns]
        return recipients.annotate(**as_text).order_by("position", "id").values_list(*names).iterator(chunk_size=CHUNK)

    def lines(self, *, campaign: Campaign, delimiter: str = ",") -> Iterator[str]:
        """The whole CSV, header first, as it is read."""
        format_row = row_formatter(kinds=[kind for _, _, kind in self.columns], tz=timezone.get_current_timezone())
        return csv_lines(header=self.header, rows=map(format_row, self.rows(campaign=campaign)), delimiter=delimiter)


FAILURES = Export(
    slug="failures",
    description=gettext_lazy("failures"),
    columns=(
        ("phone", "phone", TEXT),
        ("name", "contact__name", TEXT),
        ("error_code", "error_code", PLAIN),
        ("reason", "error_reason", TEXT),
        ("attempts", "attempts", PLAIN),
        ("last_attempt_at", "failed_at", TIME),
    ),
    counter="failed",
    statuses=(Recipient.Status.FAILED,),
)

RECIPIENTS = Export(
    slug="recipients",
    description=gettext_lazy("all recipients"),
    columns=(
        ("phone", "phone", TEXT),
        ("name", "contact__name", TEXT),
        ("status", "status", PLAIN),
        ("position", "position", PLAIN),
        ("estimated_send_date", "estimated_send_date", PLAIN),
        ("attempts", "attempts", PLAIN),
        ("message_id", "message_id", TEXT),
        ("sent_at", "sent_at", TIME),
        ("delivered_at", "delivered_at", TIME),
        ("read_at", "read_at", TIME),
        ("failed_at", "failed_at", TIME),
        ("error_code", "error_code", PLAIN),
        ("reason", "error_reason", TEXT),
        ("clicks", "clicks", PLAIN),
        ("first_clicked_at", "clicked_at", TIME),
        ("replied_at", "replied_at", TIME),
        ("reply_button", "reply_payload", TEXT),
        ("reply_text", "reply_text", TEXT),
        ("converted_at", "converted_at", TIME),
    ),
    counter="total",
)


def defuse(text: str) -> str:
    """A text cell a spreadsheet would run as a formula gets a leading ' (shown as text, never run)."""
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def row_formatter(*, kinds: list[str], tz: dt.tzinfo) -> Callable[[tuple], list]:
    """A function making one row's cells; the columns needing work are found once, not per cell.

    A TIME cell arrives as ISO text: with an offset from PostgreSQL, without
    one (UTC, as Django stores it) from SQLite.
    """
    texts = [i for i, kind in enumerate(kinds) if kind == TEXT]
    times = [i for i, kind in enumerate(kinds) if kind == TIME]
    parse = dt.datetime.fromisoformat

    def format_row(row: tuple) -> list:
        cells = list(row)
        for i in times:
            if cells[i] is not None:
                moment = parse(cells[i])
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=dt.UTC)
                cells[i] = moment.astimezone(tz).isoformat(sep=" ", timespec="seconds")
        for i in texts:
            if cells[i]:
                cells[i] = defuse(cells[i])
        return cells

    return format_row


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer formats without buffering."""

    def write(self, value: str) -> str:
        return value


def csv_lines(
    *, header: Iterable[str], rows: Iterable[Iterable], chunk: int = CHUNK, delimiter: str = ","
) -> Iterator[str]:
    """The CSV text, a chunk of rows at a time (one small string per row would slow the server's writes)."""
    writer = csv.writer(_Echo(), delimiter=delimiter)
    yield writer.writerow(header)
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow(row))
        if len(lines) >= chunk:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def filename(*, campaign: Campaign, export: Export, now: dt.datetime, separator: str = "comma") -> str:
    extension = "tsv" if separator == "tab" else "csv"
    return f"campaign-{campaign.pk}-{export.slug}-{timezone.localdate(now).isoformat()}.{extension}"


def default_separator(request: HttpRequest) -> str:
    """The separator Excel expects for the user's language: ";" where "," is the decimal separator, else ","."""
    # The browser's first language, not the admin's (LANGUAGES ships only en and es):
    # a French Excel wants ";" although the admin answers in English.
    accepted = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    language = accepted if accepted and accepted != "*" else translation.get_language_from_request(request)
    decimal = formats.get_format("DECIMAL_SEPARATOR", lang=language, use_l10n=True)
    return "semicolon" if decimal == "," else "comma"


def separator_of(request: HttpRequest) -> str:
    """`?sep=` (comma, semicolon or tab), else the user's language's default."""
    name = request.GET.get("sep") or default_separator(request)
    if name not in SEPARATORS:
        raise BadRequest(gettext("Unknown separator %(sep)r: use comma, semicolon or tab.") % {"sep": name})
    return name


def export_view(modeladmin, request, object_id: int, *, export: Export) -> StreamingHttpResponse:
    """The admin view behind both exports: export permission (403 without it), history entry, streamed CSV."""
    if not modeladmin.has_export_permission(request):
        raise PermissionDenied
    campaign = modeladmin.get_object(request, str(object_id))
    if campaign is None:
        raise Http404(f"No campaign {object_id}.")
    if not modeladmin.has_view_permission(request, campaign):
        raise PermissionDenied
    separator = separator_of(request)
    name = filename(campaign=campaign, export=export, now=timezone.now(), separator=separator)
    rows = getattr(campaign, export.counter)
    modeladmin.log_change(request, campaign, f"Exported {export.description} as CSV: {rows:,} rows ({name})")
    # The BOM first: it tells Excel the file is UTF-8.
    lines = itertools.chain((BOM,), export.lines(campaign=campaign, delimiter=SEPARATORS[separator]))
    content_type = "text/tab-separated-values" if separator == "tab" else "text/csv"
    response = StreamingHttpResponse(lines, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


EXPORTS = {export.slug: export for export in (FAILURES, RECIPIENTS)}


def export_options_view(modeladmin, request, object_id: int) -> TemplateResponse | HttpResponseRedirect:
    """A small form: which export and which separator (the user's language's preselected), then the file."""
    if not modeladmin.has_export_permission(request):
        raise PermissionDenied
    campaign = modeladmin.get_object(request, str(object_id))
    if campaign is None:
        raise Http404(f"No campaign {object_id}.")
    if request.GET.get("export") in EXPORTS:
        url = reverse(f"admin:campaigns_campaign_export_{request.GET['export']}", args=[campaign.pk])
        return HttpResponseRedirect(f"{url}?{urlencode({'sep': separator_of(request)})}")
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Export %(campaign)s") % {"campaign": campaign},
        "opts": modeladmin.model._meta,
        "original": campaign,
        "exports": [(slug, export.description, getattr(campaign, export.counter)) for slug, export in EXPORTS.items()],
        "separators": [
            ("semicolon", gettext("Semicolon (;)")),
            ("comma", gettext("Comma (,)")),
            ("tab", gettext("Tab")),
        ],  # fmt: skip
        "default_separator": default_separator(request),
    }
    return TemplateResponse(request, "admin/campaigns/campaign/export_options.html", context)
