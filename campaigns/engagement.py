"""What people did with a campaign's message: clicks on its tracked link, replies, orders (docs/architecture.md,
"Engagement").

Each outcome is written on its recipient row by a conditional UPDATE, and the
campaign's counters and its day rows move in the same transaction by what
really changed, exactly like the delivery counters (Promise 4): a replayed
webhook, a repeated order id or a duplicate CSV row changes nothing.

- Tracked links: the token is the recipient's id signed with an HMAC of
  SECRET_KEY (`recipient_token`). Nothing is stored, so activation stays one
  INSERT ... SELECT; a guessed or altered token fails the HMAC check before
  any query (constant work, nothing recorded: no enumeration).
- Clicks (`click_record`): one statement on PostgreSQL adds the Click row,
  the recipient's clicks, the campaign's and the day's counters, and reads
  the destination. Link previews and bots are redirected, never counted.
- Replies (`reply_record`): an inbound message quoting a campaign message
  (context.id) is that recipient's reply; one without context is the reply of
  the campaign message last delivered to that phone within
  REPLY_ATTRIBUTION_HOURS. The earliest reply per recipient is kept.
- Orders (`conversion_record`): once per order id (unique constraint),
  attributed to the campaign that last reached the phone within
  CONVERSION_ATTRIBUTION_DAYS: its last click wins over its last delivery.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import re
import string
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from campaigns.clock import as_utc, local_day
from campaigns.lifecycle import campaign_day_add
from campaigns.models import (
    Campaign,
    CampaignDay,
    CampaignReply,
    CampaignRevenue,
    Click,
    Conversion,
    Recipient,
)
from campaigns.rendering import PLACEHOLDER, _lookup

ENGAGEMENT_COUNTERS = ("clicked", "clickers", "replied", "converted")

# --- Tokens ---------------------------------------------------------------------

_DIGITS = string.digits + string.ascii_letters  # base 62: the id part
TAG_LENGTH = 11  # 66 bits of HMAC-SHA256, URL-safe base64
_TOKEN = re.compile(rf"^([0-9A-Za-z]{{1,11}})([A-Za-z0-9_-]{{{TAG_LENGTH}}})$")
_SALT = "campaigns.engagement.link"
# What previews show in place of a recipient's token (never valid: its tag is not an HMAC).
SAMPLE_TOKEN = "PREVIEWtoken0000"  # noqa: S105 (not a secret)


def _b62(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 62)
        out = _DIGITS[r] + out
        if not n:
            return out


def _tag(recipient_id: int, secret) -> str:
    digest = salted_hmac(_SALT, str(recipient_id), secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode()[:TAG_LENGTH]


def recipient_token(recipient_id: int) -> str:
    """The recipient's link token: its id in base 62 and an HMAC tag (16 characters up to 916 million rows)."""
    return _b62(recipient_id) + _tag(recipient_id, settings.SECRET_KEY)


def token_recipient_id(token: str) -> int | None:
    """The recipient id a token was made for, or None when it is not one of ours. No query.

    The tag is compared in constant time against SECRET_KEY and its fallbacks
    (links sent before a key rotation keep working while the old key is a fallback).
    """
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    recipient_id = 0
    for char in match.group(1):
        recipient_id = recipient_id * 62 + _DIGITS.index(char)
    if _b62(recipient_id) != match.group(1):  # leading zeros: another spelling of the same id
        return None
    tag = match.group(2)
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        if hmac.compare_digest(_tag(recipient_id, secret), tag):
            return recipient_id
    return None


def tracked_link(token: str) -> str:
    """The public tracked link of a token: LINK_BASE_URL/r/<token>."""
    return f"{settings.LINK_BASE_URL}/r/{token}"


@lru_cache(maxsize=1)
def _bots(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def is_bot(*, method: str, user_agent: str) -> bool:
    """A link preview (WhatsApp's own fetch, HEAD) or a known bot: redirected, never counted as a person."""
    if method.upper() != "GET" or not user_agent.strip():
        return True
    return bool(_bots(settings.LINK_BOT_USER_AGENTS).search(user_agent))


def fill_destination(url: str, contact) -> str:
    """The campaign's destination with {{contact.*}} placeholders filled, each value URL-encoded."""

    def substitute(match: re.Match) -> str:
        value = _lookup(contact, match.group(1)) or (match.group(2) or "").strip()
        return quote(value, safe="")

    return PLACEHOLDER.sub(substitute, url)


def link_problems(*, link_url: str) -> list[str]:
    """What is wrong with a campaign's link destination: it must be an http(s) URL once its placeholders are filled."""
    from django.core.validators import URLValidator

    if not link_url:
        return []
    sample = fill_destination(link_url, _Contact("Alex", "Alex Sample", "+14155550100", "en_US", {}))
    try:
        URLValidator(schemes=["http", "https"])(sample)
    except ValidationError:
        return [_("The link destination must be an http:// or https:// address, not %(url)s.") % {"url": link_url}]
    return []


# --- Clicks -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClickResult:
    destination: str  # where to send the browser ("" when the campaign has no destination)
    counted: bool  # a person's click was recorded


class _Contact:
    """The columns the destination's placeholders read, from the click statement's row."""

    def __init__(self, first_name, name, phone, language, attributes):
        self.first_name, self.name, self.phone, self.language = first_name, name, phone, language
        self.attributes = attributes if isinstance(attributes, dict) else {}


# Everything a click does, in one round trip: the recipient's clicks (its first one makes a clicker), the Click row,
# the campaign's counters and the day's (created on first use). The final SELECT reads the destination and the
# contact's values for its placeholders. A bot's fetch reads the destination only (_DESTINATION_SQL).
# Every tap of a campaign updates its one counter row: its commit does not wait for the WAL flush
# (synchronous_commit off for this transaction only), so the row lock is held for microseconds, not a disk
# flush. A database crash may lose the last moments' clicks, each with its counters: never one without the other.
_CLICK_SQL = """
WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
r AS (
    UPDATE campaigns_recipient SET clicks = clicks + 1, clicked_at = COALESCE(clicked_at, %(at)s),
                                   last_clicked_at = GREATEST(last_clicked_at, %(at)s)
    WHERE id = %(id)s
      AND EXISTS (SELECT 1 FROM campaigns_campaign k WHERE k.id = campaign_id AND k.link_url <> '')
    RETURNING id, campaign_id, (clicks = 1)::int AS first
),
c AS (INSERT INTO campaigns_click (recipient_id, campaign_id, at) SELECT id, campaign_id, %(at)s FROM r),
k AS (
    UPDATE campaigns_campaign SET clicked = clicked + 1, clickers = clickers + r.first FROM r
    WHERE campaigns_campaign.id = r.campaign_id
),
d AS (
    INSERT INTO campaigns_campaignday
        (campaign_id, day, planned, sent, delivered, "read", failed, clicked, clickers, replied, converted)
    SELECT campaign_id, %(day)s, 0, 0, 0, 0, 0, 1, first, 0, 0 FROM r
    ON CONFLICT (campaign_id, day) DO UPDATE SET clicked = campaigns_campaignday.clicked + 1,
                                                 clickers = campaigns_campaignday.clickers + EXCLUDED.clickers
)
SELECT cp.link_url, ct.first_name, ct.name, ct.phone, ct.language, ct.attributes
FROM cfg, campaigns_recipient rc JOIN campaigns_campaign cp ON cp.id = rc.campaign_id
LEFT JOIN audiences_contact ct ON ct.id = rc.contact_id
WHERE rc.id = %(id)s
"""


_DESTINATION_SQL = """
SELECT cp.link_url, ct.first_name, ct.name, ct.phone, ct.language, ct.attributes
FROM campaigns_recipient rc JOIN campaigns_campaign cp ON cp.id = rc.campaign_id
LEFT JOIN audiences_contact ct ON ct.id = rc.contact_id
WHERE rc.id = %(id)s
"""


def _fetch_one(sql: str, params: dict):
    """One row of `sql`, as a server-side prepared statement (psycopg prepares it once per connection): the
    redirect runs the same two statements thousands of times a second, and planning them is most of their cost."""
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()


def click_record(*, token: str, at: dt.datetime, counted: bool) -> ClickResult | None:
    """A tap on a tracked link: the destination, and the click recorded when `counted` (a person).

    None when the token is not one of ours or its recipient is gone, and no
    destination when its campaign has none: nothing is recorded. Two taps are
    two clicks and one clicker (the recipient's first click moves `clickers`).
    """
    recipient_id = token_recipient_id(token)
    if recipient_id is None:
        return None
    at = as_utc(at)
    if connection.vendor == "postgresql":
        if counted:
            row = _fetch_one(_CLICK_SQL, {"id": recipient_id, "at": at, "day": local_day(at)})
        else:
            row = _fetch_one(_DESTINATION_SQL, {"id": recipient_id})
        if row is None:
            return None
        link_url, *contact = row
        if isinstance(contact[-1], str):  # psycopg returns jsonb parsed; a raw text column on other setups
            import json

            contact[-1] = json.loads(contact[-1])
        return ClickResult(fill_destination(link_url or "", _Contact(*contact)), counted)
    return _click_record_orm(recipient_id, at=at, counted=counted)


def _click_record_orm(recipient_id: int, *, at: dt.datetime, counted: bool) -> ClickResult | None:
    """The same as _CLICK_SQL with the ORM (SQLite)."""
    with transaction.atomic():
        recipient = Recipient.objects.select_related("campaign", "contact").filter(pk=recipient_id).first()
        if recipient is None:
            return None
        if counted and recipient.campaign.link_url:  # no destination: a 404 that records nothing
            first = Recipient.objects.filter(pk=recipient_id, clicks=0).update(
                clicks=1, clicked_at=at, last_clicked_at=at
            )
            if not first:
                Recipient.objects.filter(pk=recipient_id).update(clicks=F("clicks") + 1)
                Recipient.objects.filter(pk=recipient_id).filter(
                    Q(last_clicked_at__isnull=True) | Q(last_clicked_at__lt=at)
                ).update(last_clicked_at=at)
            Click.objects.create(recipient_id=recipient_id, campaign_id=recipient.campaign_id, at=at)
            Campaign.objects.filter(pk=recipient.campaign_id).update(
                clicked=F("clicked") + 1, clickers=F("clickers") + first
            )
            campaign_day_add(
                campaign_id=recipient.campaign_id,
                day=local_day(at),
                counts={"clicked": 1, **({"clickers": 1} if first else {})},
            )
    return ClickResult(fill_destination(recipient.campaign.link_url, recipient.contact), counted)


# --- Replies ------------------------------------------------------------------------


def reply_record(*, context_message_id: str, phone: str | None, payload: str, text: str, at: dt.datetime) -> bool:
    """Record an inbound message as its recipient's reply; True when the recipient's reply changed.

    With `context_message_id` (the message it quotes): the recipient whose
    WhatsApp message id it is. Without: the recipient delivered last to
    `phone` within REPLY_ATTRIBUTION_HOURS before `at` (the customer-service
    window: who writes back the same day is answering what they just got).
    The earliest reply is kept (its button payload and text), so a replay
    or a later message changes nothing and events in any order end the same.
    """
    at = as_utc(at)
    if context_message_id:
        rows = Recipient.objects.filter(message_id=context_message_id)
    elif phone and settings.REPLY_ATTRIBUTION_HOURS > 0:
        since = at - dt.timedelta(hours=settings.REPLY_ATTRIBUTION_HOURS)
        rows = Recipient.objects.filter(phone=phone, delivered_at__gt=since, delivered_at__lte=at).order_by(
            "-delivered_at", "-pk"
        )[:1]
    else:
        return False
    recipient_id = rows.values_list("pk", flat=True).first()
    if recipient_id is None:
        return False
    payload, text = payload[:256], text[:256]
    with transaction.atomic():
        row = (
            Recipient.objects.select_for_update()
            .filter(pk=recipient_id)
            .values("campaign_id", "replied_at", "reply_payload")
            .first()
        )
        old = row["replied_at"]
        if old is not None and old <= at:
            return False
        campaign_id = row["campaign_id"]
        Recipient.objects.filter(pk=recipient_id).update(replied_at=at, reply_payload=payload, reply_text=text)
        if old is None:
            Campaign.objects.filter(pk=campaign_id).update(replied=F("replied") + 1)
        else:
            campaign_day_add(campaign_id=campaign_id, day=local_day(old), counts={"replied": -1})
            _reply_add(campaign_id, row["reply_payload"], -1)
        campaign_day_add(campaign_id=campaign_id, day=local_day(at), counts={"replied": 1})
        _reply_add(campaign_id, payload, 1, label=text if payload else "")
    return True


def _reply_add(campaign_id: int, payload: str, n: int, *, label: str = "") -> None:
    """Add `n` to the campaign's replies with `payload` (the row made on first use), in the caller's transaction."""
    changes = {"count": F("count") + n, **({"label": label} if label else {})}
    rows = CampaignReply.objects.filter(campaign_id=campaign_id, payload=payload)
    if not rows.update(**changes):
        CampaignReply.objects.get_or_create(campaign_id=campaign_id, payload=payload)
        rows.update(**changes)


def reply_received(sender, event, **kwargs) -> None:
    """The message_received receiver: an inbound message may be a campaign recipient's reply (idempotent)."""
    from audiences.phones import InvalidPhoneNumber, normalize_phone

    phone = None
    if event.sender:
        try:
            phone = normalize_phone(event.sender if event.sender.startswith("+") else f"+{event.sender}")
        except InvalidPhoneNumber:
            phone = None
    reply_record(
        context_message_id=event.context_message_id,
        phone=phone,
        payload=event.payload if event.type in ("button", "interactive") else "",
        text=event.text,
        at=event.timestamp,
    )


# --- Conversions --------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionInput:
    """An order as the shop reports it (the API's and the CSV upload's shape, validated)."""

    order_id: str
    value: Decimal
    currency: str
    at: dt.datetime
    phone: str = ""
    token: str = ""


def conversion_input(data: dict) -> ConversionInput:
    """Validate a plain mapping (order_id, value, currency, time, phone or token) into a ConversionInput.

    Raises ValidationError with one list of messages per field, so an API
    serializer or a CSV row can report them as they are.
    """
    from audiences.phones import InvalidPhoneNumber, normalize_phone

    errors: dict[str, list[str]] = {}
    order_id = str(data.get("order_id") or "").strip()
    if not order_id:
        errors["order_id"] = [_("An order id is required.")]
    elif len(order_id) > 200:
        errors["order_id"] = [_("An order id has at most 200 characters.")]
    value = None
    try:
        value = Decimal(str(data.get("value") if data.get("value") is not None else "").strip().replace(",", "."))
        if not value.is_finite() or value < 0 or value.as_tuple().exponent < -4 or abs(value) >= Decimal(10) ** 14:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["value"] = [_("A value is a non-negative amount such as 19.90.")]
    currency = str(data.get("currency") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = [_("A currency is a three-letter ISO 4217 code such as EUR.")]
    at = _parse_time(data.get("time") if data.get("time") not in (None, "") else data.get("at"))
    if at is None:
        errors["time"] = [_("A time is an ISO 8601 date and time such as 2026-05-01T10:30:00+02:00.")]
    phone, token = str(data.get("phone") or "").strip(), str(data.get("token") or "").strip()
    if token and token_recipient_id(token) is None:
        errors["token"] = [_("This is not a click token of ours.")]
    if phone:
        try:
            phone = normalize_phone(phone)
        except InvalidPhoneNumber as exc:
            errors["phone"] = [str(exc)]
    if not phone and not token and "phone" not in errors:
        errors["phone"] = [_("Give the customer's phone or the click token.")]
    if errors:
        raise ValidationError(errors)
    return ConversionInput(order_id=order_id, value=value, currency=currency, at=at, phone=phone, token=token)


def _parse_time(raw) -> dt.datetime | None:
    if isinstance(raw, dt.datetime):
        return as_utc(raw)
    from django.utils.dateparse import parse_datetime

    try:
        moment = parse_datetime(str(raw or "").strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return as_utc(moment) if moment is not None else None


@dataclass(frozen=True)
class ConversionResult:
    conversion: Conversion
    created: bool  # False: the order id was already recorded (nothing changed)


def conversion_attribution(*, phone: str, at: dt.datetime) -> tuple[int | None, int | None, str]:
    """(recipient id, campaign id, via) of the campaign that last reached `phone` in the window before `at`.

    A click in the window wins over any delivery (the person came through the
    link); without one, the last delivery (or read) in the window.
    """
    since = at - dt.timedelta(days=settings.CONVERSION_ATTRIBUTION_DAYS)
    click = (
        Click.objects.filter(recipient__phone=phone, at__gt=since, at__lte=at)
        .order_by("-at", "-pk")
        .values_list("recipient_id", "campaign_id")
        .first()
    )
    if click is not None:
        return click[0], click[1], Conversion.Via.CLICK
    delivery = (
        Recipient.objects.filter(phone=phone, delivered_at__gt=since, delivered_at__lte=at)
        .order_by("-delivered_at", "-pk")
        .values_list("pk", "campaign_id")
        .first()
    )
    if delivery is not None:
        return delivery[0], delivery[1], Conversion.Via.DELIVERY
    return None, None, Conversion.Via.NONE


def conversion_record(*, order: ConversionInput, now: dt.datetime, source: str = "") -> ConversionResult:
    """Record an order once per order id and attribute it; the recipient's first order makes it converted.

    Idempotent: the order id is unique in the database, so a second post of
    the same order, concurrent or not, finds the first and changes nothing
    (on PostgreSQL the second INSERT waits for the first's commit, then fails
    and reads it). Counters and day rows move in the same transaction.
    """
    phone = order.phone
    if order.token:
        phone = Recipient.objects.filter(pk=token_recipient_id(order.token)).values_list("phone", flat=True).first()
        if phone is None:
            raise ValidationError({"token": [_("This click token's recipient no longer exists.")]})
    recipient_id, campaign_id, via = conversion_attribution(phone=phone, at=order.at)
    try:
        with transaction.atomic():
            conversion = Conversion.objects.create(
                order_id=order.order_id,
                phone=phone,
                value=order.value,
                currency=order.currency,
                at=order.at,
                campaign_id=campaign_id,
                recipient_id=recipient_id,
                via=via,
                source=source,
                created_at=as_utc(now),
            )
            if recipient_id is not None:
                _recipient_converted(recipient_id, at=order.at)
                _revenue_add(campaign_id, order.currency, order.value)
    except IntegrityError:
        existing = Conversion.objects.filter(order_id=order.order_id).first()
        if existing is None:
            raise
        return ConversionResult(existing, False)
    return ConversionResult(conversion, True)


def _revenue_add(campaign_id: int, currency: str, value: Decimal) -> None:
    """One more attributed order of `value` in `currency` for the campaign (the caller's transaction)."""
    changes = {"amount": F("amount") + value, "orders": F("orders") + 1}
    rows = CampaignRevenue.objects.filter(campaign_id=campaign_id, currency=currency)
    if not rows.update(**changes):
        CampaignRevenue.objects.get_or_create(campaign_id=campaign_id, currency=currency)
        rows.update(**changes)


def _recipient_converted(recipient_id: int, *, at: dt.datetime) -> None:
    """converted_at becomes the recipient's earliest attributed order; counters follow, in the caller's transaction."""
    row = Recipient.objects.select_for_update().filter(pk=recipient_id).values("campaign_id", "converted_at").first()
    old = row["converted_at"]
    if old is not None and old <= at:
        return
    Recipient.objects.filter(pk=recipient_id).update(converted_at=at)
    if old is None:
        Campaign.objects.filter(pk=row["campaign_id"]).update(converted=F("converted") + 1)
    else:
        campaign_day_add(campaign_id=row["campaign_id"], day=local_day(old), counts={"converted": -1})
    campaign_day_add(campaign_id=row["campaign_id"], day=local_day(at), counts={"converted": 1})


# --- Recounts and reads ----------------------------------------------------------------


def engagement_counts(*, campaign_id: int) -> dict[str, int]:
    """The engagement counters recounted from the rows (what the campaign's counters must equal)."""
    recipients = Recipient.objects.filter(campaign_id=campaign_id)
    counts = recipients.aggregate(
        clickers=Count("pk", filter=Q(clicked_at__isnull=False)),
        replied=Count("pk", filter=Q(replied_at__isnull=False)),
        converted=Count("pk", filter=Q(converted_at__isnull=False)),
    )
    return {"clicked": Click.objects.filter(campaign_id=campaign_id).count(), **counts}


def engagement_day_counts(*, campaign_id: int) -> dict[dt.date, dict[str, int]]:
    """The engagement columns of CampaignDay recounted: clicks by their day, the others by the recipient's first."""
    tz = timezone.get_default_timezone()
    days: dict[dt.date, dict[str, int]] = {}

    def add(rows, name):
        for day, n in rows:
            days.setdefault(day, dict.fromkeys(ENGAGEMENT_COUNTERS, 0))[name] = n

    clicks = Click.objects.filter(campaign_id=campaign_id).annotate(d=TruncDate("at", tzinfo=tz))
    add(clicks.values("d").annotate(n=Count("pk")).order_by().values_list("d", "n"), "clicked")
    for name, column in (("clickers", "clicked_at"), ("replied", "replied_at"), ("converted", "converted_at")):
        rows = (
            Recipient.objects.filter(campaign_id=campaign_id, **{f"{column}__isnull": False})
            .annotate(d=TruncDate(column, tzinfo=tz))
            .values("d")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("d", "n")
        )
        add(rows, name)
    return days


def campaign_day_engagement(*, campaign_id: int) -> dict[dt.date, dict[str, int]]:
    """The engagement columns of the campaign's stored day rows (compared with engagement_day_counts by tests)."""
    rows = CampaignDay.objects.filter(campaign_id=campaign_id).values_list("day", *ENGAGEMENT_COUNTERS)
    return {day: dict(zip(ENGAGEMENT_COUNTERS, values, strict=True)) for day, *values in rows if any(values)}


def campaign_revenue(*, campaign_id: int) -> dict[str, str]:
    """Attributed revenue per currency: the campaign's CampaignRevenue rows (a few, whatever its size)."""
    rows = CampaignRevenue.objects.filter(campaign_id=campaign_id, orders__gt=0).order_by("currency")
    return {row.currency: str(row.amount.quantize(Decimal("0.01"))) for row in rows}


def revenue_counts(*, campaign_id: int) -> dict[str, tuple[Decimal, int]]:
    """(sum, orders) per currency recounted from the campaign's Conversion rows (what CampaignRevenue must hold)."""
    rows = (
        Conversion.objects.filter(campaign_id=campaign_id)
        .values("currency")
        .annotate(total=Sum("value"), n=Count("pk"))
        .order_by()
        .values_list("currency", "total", "n")
    )
    return {currency: (total, n) for currency, total, n in rows}


def campaign_revenue_rebuild(*, campaign_id: int) -> None:
    """Replace the campaign's CampaignRevenue rows by a recount (repair; campaign_recount calls it)."""
    CampaignRevenue.objects.filter(campaign_id=campaign_id).delete()
    CampaignRevenue.objects.bulk_create(
        CampaignRevenue(campaign_id=campaign_id, currency=currency, amount=total, orders=n)
        for currency, (total, n) in revenue_counts(campaign_id=campaign_id).items()
    )


def campaign_reply_buttons(*, campaign_id: int) -> list[dict]:
    """Replies per button payload (text replies under ""), most first: the campaign's CampaignReply rows."""
    rows = (
        CampaignReply.objects.filter(campaign_id=campaign_id, count__gt=0)
        .order_by("-count", "payload")
        .values("payload", "label", "count")
    )
    return [{"payload": r["payload"], "label": r["label"] if r["payload"] else "", "count": r["count"]} for r in rows]


def reply_counts(*, campaign_id: int) -> dict[str, int]:
    """Replies per payload recounted from the recipient rows (what CampaignReply must hold)."""
    rows = (
        Recipient.objects.filter(campaign_id=campaign_id, replied_at__isnull=False)
        .values("reply_payload")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("reply_payload", "n")
    )
    return dict(rows)


def campaign_replies_rebuild(*, campaign_id: int) -> None:
    """Replace the campaign's CampaignReply rows by a recount (repair; campaign_recount calls it)."""
    labels = dict(
        Recipient.objects.filter(campaign_id=campaign_id, replied_at__isnull=False)
        .exclude(reply_payload="")
        .values("reply_payload")
        .annotate(label=Max("reply_text"))
        .order_by()
        .values_list("reply_payload", "label")
    )
    CampaignReply.objects.filter(campaign_id=campaign_id).delete()
    CampaignReply.objects.bulk_create(
        CampaignReply(campaign_id=campaign_id, payload=payload, label=labels.get(payload, ""), count=n)
        for payload, n in reply_counts(campaign_id=campaign_id).items()
    )


def demo_orders(*, campaign_id: int, count: int, now: dt.datetime) -> int:
    """The demo's shop (demo_data, DEBUG only): up to `count` clickers of the campaign order; returns how many.

    Through conversion_record, so attribution, idempotence and counters are the real ones.
    """
    import random

    rng = random.Random(campaign_id)  # noqa: S311 (demo figures)
    clickers = Recipient.objects.filter(campaign_id=campaign_id, clicks__gt=0).order_by("pk")[: count * 3]
    recorded = 0
    for recipient in list(clickers)[::3][:count] if len(clickers) >= count * 3 else list(clickers)[:count]:
        order = ConversionInput(
            order_id=f"DEMO-{campaign_id}-{recipient.pk}",
            value=Decimal(rng.randrange(1990, 18990)) / 100,
            currency="EUR",
            at=max(now, recipient.last_clicked_at or now),
            phone=recipient.phone,
        )
        recorded += conversion_record(order=order, now=now, source="demo").created
    return recorded
