"""The frequency cap across campaigns: at most N marketing messages per phone in D calendar days (docs/architecture.md).

CAMPAIGN_FREQUENCY_CAP = N (0: off, the default) and
CAMPAIGN_FREQUENCY_CAP_DAYS = D. Only campaigns whose template is in the
MARKETING category are held back, and only marketing messages count: the
recipients of every campaign (queued, sent, delivered, read, or unknown: it
may have gone out) claimed since the start of the day D - 1 days before
today, in TIME_ZONE. A failed or refused message does not count.

A recipient whose phone is at the cap is not claimed (campaigns/batch.py
`_due`): it stays pending and is claimed on a later day, once its phone's
older messages left the D days. Nothing is dropped. The claim runs under the
quota lock, so two batches, or two campaigns in one round, cannot both take
a phone's last free slot: each campaign's claim sees the rows the round
already queued.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from campaigns.clock import as_utc, local_day
from campaigns.models import Campaign, Recipient

R = Recipient.Status
MARKETING = "marketing"
# Reached, or may have been (in flight, no answer): what a frequency cap counts.
COUNTED = (R.QUEUED, R.SENT, R.DELIVERED, R.READ, R.UNKNOWN)


def frequency_cap_applies(template) -> bool:
    """Whether the cap is on and `template` is a marketing template (the only ones it counts and holds back)."""
    return settings.CAMPAIGN_FREQUENCY_CAP > 0 and (template.category or "").lower() == MARKETING


def frequency_window_start(*, now: dt.datetime) -> dt.datetime:
    """The first instant (UTC) of the cap's D calendar days: midnight in TIME_ZONE, D - 1 days before today."""
    days = max(1, settings.CAMPAIGN_FREQUENCY_CAP_DAYS)
    first_day = local_day(now) - dt.timedelta(days=days - 1)
    return as_utc(dt.datetime.combine(first_day, dt.time(0), tzinfo=timezone.get_default_timezone()))


def _marketing_sent(*, now: dt.datetime):
    return Recipient.objects.filter(
        status__in=COUNTED,
        claimed_at__gte=frequency_window_start(now=now),
        campaign__template__category__iexact=MARKETING,
    )


def capped_phones(*, now: dt.datetime):
    """The phones that already had CAMPAIGN_FREQUENCY_CAP marketing messages in the cap's days (a subquery)."""
    return (
        _marketing_sent(now=now)
        .values("phone")
        .annotate(n=Count("id"))
        .filter(n__gte=settings.CAMPAIGN_FREQUENCY_CAP)
        .values("phone")
        .order_by()
    )


def _held_phones(*, campaign: Campaign, now: dt.datetime):
    """The phones of the campaign the cap holds back now: its pending recipients', or for a draft its audience's."""
    if campaign.status == Campaign.Status.DRAFT:
        from audiences.selectors import audience_contacts

        phones = audience_contacts(audience=campaign.audience).values("phone")
    else:
        phones = Recipient.objects.filter(campaign_id=campaign.pk, status=R.PENDING).values("phone")
    return phones.filter(phone__in=capped_phones(now=now))


def frequency_capped(*, campaign: Campaign, now: dt.datetime) -> int:
    """How many of the campaign's pending recipients the cap holds back today (0 when it does not apply).

    For a draft: how many of the recipients activation would add now. For
    the activation pre-flight and the plan: they are not dropped, they go
    out on a later day.
    """
    if settings.CAMPAIGN_FREQUENCY_CAP <= 0 or not frequency_cap_applies(campaign.template):
        return 0
    return _held_phones(campaign=campaign, now=now).count()


def frequency_frees_on(*, campaign: Campaign, now: dt.datetime) -> dt.date | None:
    """The last day a recipient held back today waits for, at the latest (None: nobody is held back).

    Every message that counts today leaves the cap's days D days after its
    own day, so the newest one among the held-back phones bounds the wait
    (other campaigns reaching them meanwhile can push it further).
    """
    if settings.CAMPAIGN_FREQUENCY_CAP <= 0 or not frequency_cap_applies(campaign.template):
        return None
    held = _held_phones(campaign=campaign, now=now)
    newest = _marketing_sent(now=now).filter(phone__in=held).aggregate(m=Max("claimed_at"))["m"]
    if newest is None:
        return None
    return local_day(newest) + dt.timedelta(days=max(1, settings.CAMPAIGN_FREQUENCY_CAP_DAYS))
