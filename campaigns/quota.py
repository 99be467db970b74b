"""The messaging limit, counted as Meta counts it, in one place: what is used, what is left, reserving it.

Meta's limit counts UNIQUE users reached with business-initiated templates
outside a customer-service window, in a moving 24 hours, per business
portfolio (shared by all its numbers). So (docs/architecture.md, Promise 2):

- the ledger (QuotaReservation) has one row per message claimed, with its
  phone; the limit counts the distinct phones of its `counted` rows in the
  window;
- a message to a phone already counted in the window costs nothing more:
  several campaigns may reach one person for one unit;
- a message to a phone inside its customer-service window (it wrote to us
  less than 24 hours ago: whatsapp.LastInbound) is not counted;
- both free cases need MARGIN of room: the earlier message (or the user's)
  must stay inside its 24 hours for MARGIN more, because the claimed message
  leaves a little later than its claim and an inbound timestamp may be up to
  an hour ahead of its receipt (whatsapp/parsing.py MAX_AHEAD);
- a calendar day of TIME_ZONE never adds more people than the limit: the day
  counts the rows that brought their phone into the window (the design's
  promise "nor in any calendar day", in Meta's unit; a phone already in the
  window costs nothing on the day either).

The window is 24 real hours before a UTC instant, the day found by converting
that instant (campaigns/clock.py). Reserving is race-free: the caller holds
the portfolio's QuotaLock row (SELECT ... FOR UPDATE) from the count to the
insert, in one transaction, so concurrent batches queue on that row and each
sees what the previous one reserved.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q

from campaigns.clock import as_utc, local_day
from campaigns.models import QuotaLock, QuotaReservation
from whatsapp.tiers import messaging_limit

SENDER = "default"  # the limit is per business portfolio, shared by all its numbers
WINDOW = dt.timedelta(hours=24)
SERVICE_WINDOW = dt.timedelta(hours=24)  # a customer-service window: 24 hours after the user's last message
# A free message needs its reason to hold this much longer (see above): the previous message to the phone, or
# the user's own, must still be inside its 24 hours at now + MARGIN.
MARGIN = dt.timedelta(hours=2)


def quota_limit(now: dt.datetime) -> int:
    """The messaging limit in force at `now`: the one place every reader of the limit asks.

    Meta's tier for the portfolio, capped by WHATSAPP_DAILY_LIMIT when set (whatsapp/tiers.py `messaging_limit`).
    """
    return messaging_limit(now).value


@dataclass(frozen=True)
class QuotaUsage:
    limit: int
    used_24h: int  # distinct counted phones reserved in (now - 24 h, ...): one at exactly now - 24 h is out
    used_today: int  # phones brought into the window by rows of now's calendar day in TIME_ZONE
    by_campaign_today: dict[int, int] = field(default_factory=dict)  # messages per campaign today (daily caps)
    messages_24h: int = 0  # messages reserved in the window, counted or not

    @property
    def left_in_window(self) -> int:
        return max(0, self.limit - self.used_24h)

    @property
    def left_today(self) -> int:
        return max(0, self.limit - self.used_today)

    @property
    def left(self) -> int:
        """New phones that may still be reached now (a phone already counted, or in its service window, is free)."""
        return min(self.left_in_window, self.left_today)


def quota_lock(*, sender: str = SENDER) -> None:
    """Lock the portfolio's ledger until the surrounding transaction ends (call inside transaction.atomic)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota_lock() must run inside transaction.atomic()")
    QuotaLock.objects.get_or_create(name=sender)
    QuotaLock.objects.select_for_update().get(name=sender)


def _counted(*, now: dt.datetime, sender: str):
    return QuotaReservation.objects.filter(sender=sender, counted=True, reserved_at__gt=as_utc(now) - WINDOW)


def quota_usage(*, now: dt.datetime, sender: str = SENDER) -> QuotaUsage:
    """What the limit has counted for `now`.

    The window has no upper bound: rows reserved after `now` (a batch run
    `--as-of` an earlier instant) still count, so replaying the past can
    never push a later window over the limit.
    """
    now = as_utc(now)
    ledger = QuotaReservation.objects.filter(sender=sender)
    today = ledger.filter(day=local_day(now))
    by_campaign = {
        row["campaign"]: row["n"]
        for row in today.values("campaign").annotate(n=Count("id")).order_by()
        if row["campaign"] is not None
    }
    window = ledger.filter(reserved_at__gt=now - WINDOW).aggregate(
        phones=Count("phone", distinct=True, filter=Q(counted=True)), messages=Count("id")
    )
    return QuotaUsage(
        limit=quota_limit(now),
        used_24h=window["phones"],
        used_today=_bring_in(today.filter(counted=True)).aggregate(n=Count("phone", distinct=True))["n"],
        by_campaign_today=by_campaign,
        messages_24h=window["messages"],
    )


def _bring_in(rows):
    """The counted rows that brought their phone into the window: no counted row of it in the 24 hours before.

    "Before" with the free rule's MARGIN, and an earlier row at the same
    instant counts as before: a row the claim took as free never brings its
    phone in. Computed from the rows present, so a row given back hands its
    place to the next one.
    """
    earlier = QuotaReservation.objects.filter(sender=OuterRef("sender"), counted=True, phone=OuterRef("phone")).filter(
        Q(reserved_at__lt=OuterRef("reserved_at"), reserved_at__gt=OuterRef("reserved_at") - (WINDOW - MARGIN))
        | Q(reserved_at=OuterRef("reserved_at"), id__lt=OuterRef("id"))
    )
    return rows.exclude(Exists(earlier))


def in_service_window(*, now: dt.datetime):
    """The phones whose customer-service window is open at `now` and stays open for MARGIN (a subquery).

    A time after `now` is not trusted (a future timestamp, or a batch run
    `--as-of` the past): the phone is counted.
    """
    from whatsapp.models import LastInbound

    now = as_utc(now)
    return LastInbound.objects.filter(at__gt=now - SERVICE_WINDOW + MARGIN, at__lte=now).values("phone")


def _already_counted(*, now: dt.datetime, sender: str):
    """The phones counted in the window that stay in it for MARGIN (a subquery)."""
    now = as_utc(now)
    return QuotaReservation.objects.filter(
        sender=sender, counted=True, reserved_at__gt=now - WINDOW + MARGIN, reserved_at__lte=now
    ).values("phone")


def quota_free(*, now: dt.datetime, sender: str = SENDER) -> Q:
    """A condition on Recipient rows: a message to the row's phone costs the limit nothing at `now`.

    In its customer-service window, or already counted in the window. Both
    hold for MARGIN more. Evaluated by the database when the query runs:
    inside the claim's transaction it sees the reservations the round made
    so far.
    """
    return Q(phone__in=in_service_window(now=now)) | Q(phone__in=_already_counted(now=now, sender=sender))


def quota_phone_free(*, now: dt.datetime, phone: str, sender: str = SENDER) -> bool:
    """Whether one more message to `phone` at `now` costs the limit nothing (the test of `quota_free`)."""
    return (
        in_service_window(now=now).filter(phone=phone).exists()
        or _already_counted(now=now, sender=sender).filter(phone=phone).exists()
    )


def quota_reserve(
    *,
    now: dt.datetime,
    campaign_id: int | None,
    recipient_ids: list[int | None],
    phones: list[str] | None = None,
    sender: str = SENDER,
) -> None:
    """Record one message per recipient against the limit (the caller holds quota_lock and checked `left`).

    `phones`: each message's phone, in the order of `recipient_ids`; read from
    the recipients when omitted. A message without a known phone (a test
    send made before phones were recorded) counts as a phone of its own. A
    phone in its customer-service window is recorded as not counted.
    """
    now = as_utc(now)
    day = local_day(now)
    if phones is None:
        from campaigns.models import Recipient

        known = dict(Recipient.objects.filter(id__in=[r for r in recipient_ids if r]).values_list("id", "phone"))
        phones = [known.get(rid) or f"#{secrets.token_hex(8)}" for rid in recipient_ids]
    free = set(in_service_window(now=now).filter(phone__in=phones).values_list("phone", flat=True))
    QuotaReservation.objects.bulk_create(
        [
            QuotaReservation(
                sender=sender,
                campaign_id=campaign_id,
                recipient_id=rid,
                phone=phone,
                counted=phone not in free,
                reserved_at=now,
                day=day,
            )
            for rid, phone in zip(recipient_ids, phones, strict=True)
        ]
    )


def quota_release(*, recipient_id: int, reserved_at: dt.datetime, sender: str = SENDER) -> int:
    """Give back the quota of a message the API refused before accepting it."""
    deleted, _ = QuotaReservation.objects.filter(
        sender=sender, recipient_id=recipient_id, reserved_at=reserved_at
    ).delete()
    return deleted


def quota_release_claims(*, recipient_ids: list[int], sender: str = SENDER) -> int:
    """Give back the quota of claims that never reached the network (the reservation made with each claim).

    A recipient's reservation for its current claim is the one reserved at its
    `claimed_at`; those of earlier, accepted sends stay counted. Deleting a
    row gives back exactly what it reserved: its phone stops counting unless
    another row still counts it.
    """
    from campaigns.models import Recipient

    claim = Recipient.objects.filter(pk=OuterRef("recipient_id"), claimed_at=OuterRef("reserved_at"))
    deleted, _ = (
        QuotaReservation.objects.filter(sender=sender, recipient_id__in=recipient_ids).filter(Exists(claim)).delete()
    )
    return deleted


def quota_frees_at(*, now: dt.datetime, needed: int, sender: str = SENDER) -> dt.datetime | None:
    """When the 24-hour window will have room for `needed` more phones (None if it has room now).

    A phone leaves the window when its last counted reservation does.
    """
    now = as_utc(now)
    phones = _counted(now=now, sender=sender).values("phone").annotate(last=Max("reserved_at")).order_by("last")
    used = phones.count()
    excess = used + needed - quota_limit(now)
    if excess <= 0:
        return None
    excess = min(excess, used)
    # The `excess`-th phone to leave the window frees enough room.
    row = phones.values_list("last", flat=True)[excess - 1 : excess].first()
    return as_utc(row) + WINDOW if row else None
