"""Conversions (docs/architecture.md, "Engagement"): orders the shop reports, once per order id, attributed.

`conversion_input` validates the plain shape the API and the CSV upload share
(field errors); `conversion_record` records an order once (the order id is
unique in the database) and attributes it to the campaign that last reached
the phone within CONVERSION_ATTRIBUTION_DAYS, a click winning over a
delivery. The recipient's first order makes it converted; the campaign's
counters, day row and revenue per currency (CampaignRevenue) move in the same
transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.utils.translation import gettext as _

from campaigns.clock import as_utc, local_day
from campaigns.lifecycle import campaign_day_add
from campaigns.links import token_recipient_id
from campaigns.models import Campaign, CampaignRevenue, Click, Conversion, Recipient

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
