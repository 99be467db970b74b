"""Read queries: a campaign's stats, today's quota use, its recent failure reasons."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Max

from campaigns.models import Campaign, Recipient
from campaigns.quota import quota_usage

COUNTERS = ("total", "pending", "queued", "sent", "delivered", "read", "failed", "skipped", "unknown", "cancelled")


def _rate(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def campaign_stats(*, campaign: Campaign) -> dict:
    """Counters and rates (percent). Progress: sent (or beyond) of total; rates relative to sent."""
    campaign = Campaign.objects.get(pk=campaign.pk)
    stats = {name: getattr(campaign, name) for name in COUNTERS}
    attempted = stats["sent"] + stats["failed"]
    stats.update(
        progress_percentage=_rate(stats["sent"], stats["total"]),
        delivery_rate=_rate(stats["delivered"], stats["sent"]),
        read_rate=_rate(stats["read"], stats["sent"]),
        failure_rate=_rate(stats["failed"], attempted),
        estimated_completion_date=(
            campaign.estimated_completion_date.isoformat() if campaign.estimated_completion_date else None
        ),
        status=campaign.status,
    )
    return stats


def campaign_failure_reasons(*, campaign: Campaign, limit: int = 10) -> list[dict]:
    """The failure reasons of the campaign grouped by error code, most recent first."""
    return list(
        Recipient.objects.filter(campaign_id=campaign.pk, error_code__isnull=False)
        .values("error_code")
        .annotate(count=Count("id"), last_at=Max("failed_at"), reason=Max("error_reason"))
        .order_by("-last_at", "-count")[:limit]
    )


def quota_today(*, now: dt.datetime, campaign: Campaign | None = None) -> dict:
    usage = quota_usage(now=now)
    data = {"limit": usage.limit, "used_24h": usage.used_24h, "used_today": usage.used_today, "left": usage.left}
    if campaign is not None:
        data["campaign_today"] = usage.by_campaign_today.get(campaign.pk, 0)
    return data
