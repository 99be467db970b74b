"""What people did with a campaign's message: the engagement counters and their recounts (docs/architecture.md,
"Engagement").

Clicks (campaigns/links.py), replies (campaigns/replies.py) and orders
(campaigns/conversions.py) are each written on their recipient row by a
conditional UPDATE, and the campaign's counters and its day rows move in the
same transaction by what really changed, exactly like the delivery counters
(Promise 4): a replayed webhook, a repeated order id or a duplicate CSV row
changes nothing. This module recounts them from the rows (campaign_recount,
campaign_days_rebuild and the tests compare).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import CampaignDay, Click, Recipient

ENGAGEMENT_COUNTERS = ("clicked", "clickers", "replied", "converted")

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
