"""The messaging limit (WHATSAPP_DAILY_LIMIT), in one place: what is used, what is left, reserving it.

WhatsApp counts business-initiated messages in a moving 24-hour window; we
also never exceed the limit in a calendar day of TIME_ZONE. The window is
24 real hours before a UTC instant, the day found by converting that instant
(campaigns/clock.py). The ledger
(QuotaReservation) has one row per message the limit counts. Reserving is
race-free: the caller holds the sender's QuotaLock row (SELECT ... FOR UPDATE)
from the count to the insert, in one transaction, so concurrent batches queue
on that row and each sees what the previous one reserved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Exists, OuterRef

from campaigns.clock import as_utc, local_day
from campaigns.models import QuotaLock, QuotaReservation
from whatsapp.tiers import messaging_limit

SENDER = "default"  # the limit is per business portfolio, shared by all its numbers
WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class QuotaUsage:
    limit: int
    used_24h: int  # reserved in (now - 24 h, ...): a send at exactly now - 24 h no longer counts
    used_today: int  # reserved on now's calendar day in TIME_ZONE
    by_campaign_today: dict[int, int] = field(default_factory=dict)

    @property
    def left_in_window(self) -> int:
        return max(0, self.limit - self.used_24h)

    @property
    def left_today(self) -> int:
        return max(0, self.limit - self.used_today)

    @property
    def left(self) -> int:
        return min(self.left_in_window, self.left_today)


def quota_lock(*, sender: str = SENDER) -> None:
    """Lock the sender's ledger until the surrounding transaction ends (call inside transaction.atomic)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota_lock() must run inside transaction.atomic()")
    QuotaLock.objects.get_or_create(name=sender)
    QuotaLock.objects.select_for_update().get(name=sender)


def quota_usage(*, now: dt.datetime, sender: str = SENDER) -> QuotaUsage:
    """What the limit has counted for `now`.

    The window has no upper bound: rows reserved after `now` (a batch run
    `--as-of` an earlier instant) still count, so replaying the past can
    never push a later window over the limit.
    """
    now = as_utc(now)
    ledger = QuotaReservation.objects.filter(sender=sender)
    used_24h = ledger.filter(reserved_at__gt=now - WINDOW).count()
    today = ledger.filter(day=local_day(now))
    by_campaign = {
        row["campaign"]: row["n"]
        for row in today.values("campaign").annotate(n=Count("id")).order_by()
        if row["campaign"] is not None
    }
    return QuotaUsage(
        limit=messaging_limit(now).value,  # Meta's tier, capped by WHATSAPP_DAILY_LIMIT (whatsapp/tiers.py)
        used_24h=used_24h,
        used_today=today.count(),
        by_campaign_today=by_campaign,
    )


def quota_reserve(*, now: dt.datetime, campaign_id: int | None, recipient_ids: list[int], sender: str = SENDER) -> None:
    """Record `len(recipient_ids)` messages against the limit (the caller holds quota_lock and checked `left`)."""
    now = as_utc(now)
    day = local_day(now)
    QuotaReservation.objects.bulk_create(
        [
            QuotaReservation(sender=sender, campaign_id=campaign_id, recipient_id=rid, reserved_at=now, day=day)
            for rid in recipient_ids
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
    `claimed_at`; those of earlier, accepted sends stay counted.
    """
    from campaigns.models import Recipient

    claim = Recipient.objects.filter(pk=OuterRef("recipient_id"), claimed_at=OuterRef("reserved_at"))
    deleted, _ = (
        QuotaReservation.objects.filter(sender=sender, recipient_id__in=recipient_ids).filter(Exists(claim)).delete()
    )
    return deleted


def quota_frees_at(*, now: dt.datetime, needed: int, sender: str = SENDER) -> dt.datetime | None:
    """When the 24-hour window will have room for `needed` more messages (None if it has room now)."""
    now = as_utc(now)
    usage_24h = QuotaReservation.objects.filter(sender=sender, reserved_at__gt=now - WINDOW)
    used = usage_24h.count()
    excess = used + needed - messaging_limit(now).value
    if excess <= 0:
        return None
    excess = min(excess, used)
    # The `excess`-th oldest row in the window leaving it frees enough room.
    row = usage_24h.order_by("reserved_at").values_list("reserved_at", flat=True)[excess - 1 : excess].first()
    return as_utc(row) + WINDOW if row else None
