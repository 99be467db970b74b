"""Read queries: a campaign's stats, today's quota use, its recent failure reasons, its dashboard."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Max
from django.utils.translation import gettext as _

from campaigns.conversions import campaign_revenue
from campaigns.engagement import ENGAGEMENT_COUNTERS
from campaigns.models import Campaign, CampaignDay, Recipient
from campaigns.quota import local_day, quota_usage
from campaigns.replies import campaign_reply_buttons
from whatsapp.errors import ErrorHelp, error_help

CLOSED = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)
COUNTERS = (
    *("total", "pending", "queued", "sent", "delivered", "read", "failed", "skipped", "unknown", "cancelled"),
    *ENGAGEMENT_COUNTERS,  # clicked (clicks), clickers, replied, converted: campaigns/engagement.py
)


def _rate(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def campaign_stats(*, campaign: Campaign) -> dict:
    """Counters and rates (percent). Progress: sent (or beyond) of total; rates relative to sent.

    Engagement: `clicked` (clicks), `clickers`, `replied`, `converted` (recipients), their rates relative to
    delivered, and `revenue` (attributed, per currency, as decimal strings).
    """
    campaign = Campaign.objects.get(pk=campaign.pk)
    stats = {name: getattr(campaign, name) for name in COUNTERS}
    attempted = stats["sent"] + stats["failed"]
    stats.update(
        progress_percentage=_rate(stats["sent"], stats["total"]),
        delivery_rate=_rate(stats["delivered"], stats["sent"]),
        read_rate=_rate(stats["read"], stats["sent"]),
        failure_rate=_rate(stats["failed"], attempted),
        click_rate=_rate(stats["clickers"], stats["delivered"]),
        reply_rate=_rate(stats["replied"], stats["delivered"]),
        conversion_rate=_rate(stats["converted"], stats["delivered"]),
        # Revenue is attributed to converted recipients only: no query while there are none.
        revenue=campaign_revenue(campaign_id=campaign.pk) if stats["converted"] else {},
        # An estimate only while the campaign can still send: none once completed or cancelled.
        estimated_completion_date=(
            campaign.estimated_completion_date.isoformat()
            if campaign.estimated_completion_date and campaign.status not in CLOSED
            else None
        ),
        status=campaign.status,
        # What WhatsApp charges (campaigns/costs.py): the estimate written at activation / top-up, and the sum
        # of the `regular` pricing of its status webhooks; amounts as exact decimal strings.
        cost_estimated=_money(campaign.cost_estimated),
        cost_actual=_money(campaign.cost_actual),
        billable=campaign.billable,
        budget=_money(campaign.budget),
        currency=settings.COST_CURRENCY,
    )
    return stats


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.000001")))


def quota_today(*, now: dt.datetime, campaign: Campaign | None = None) -> dict:
    usage = quota_usage(now=now)
    data = {"limit": usage.limit, "used_24h": usage.used_24h, "used_today": usage.used_today, "left": usage.left}
    if campaign is not None:
        data["campaign_today"] = usage.by_campaign_today.get(campaign.pk, 0)
    return data


# --- Dashboard ------------------------------------------------------------------

PACE_DAYS = 7  # the observed pace averages the last 7 days that had sends
OPEN = {Campaign.Status.SCHEDULED, Campaign.Status.RUNNING, Campaign.Status.PAUSED}


@dataclass(frozen=True)
class DayCounts:
    """One local day of a campaign: its plan and the recipients that entered each status that day."""

    day: dt.date
    planned: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    billable: int = 0  # priced `regular` that day (campaigns/costs.py)
    cost: Decimal = Decimal(0)
    clicked: int = 0
    clickers: int = 0
    replied: int = 0
    converted: int = 0

    @property
    def active(self) -> bool:
        return bool(self.sent or self.delivered or self.read or self.failed)


@dataclass(frozen=True)
class ProgressPoint:
    day: dt.date
    planned: int  # cumulative planned up to and including the day
    sent: int | None  # cumulative sent; None after today


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int
    percent: float  # of the recipients


@dataclass(frozen=True)
class FailureGroup:
    error_code: int | None
    count: int
    last_at: dt.datetime | None
    title: str  # WhatsApp's title for it (one of the group's, they are the same per code)
    help: ErrorHelp


@dataclass(frozen=True)
class CampaignDashboard:
    stats: dict  # campaign_stats(): counters, rates, status
    today: dt.date
    activity: list[DayCounts]  # every day from the first with activity to the last (or today while open)
    progress: list[ProgressPoint]  # every day from the first planned or active day to the last planned (or today)
    funnel: list[FunnelStep]
    failures: list[FailureGroup]  # most frequent first
    reply_buttons: list[dict]  # replies per quick-reply payload ("" = a text reply), most first, with a label
    remaining: int  # pending + queued
    planned_completion: dt.date | None  # the estimate written at activation / top-up
    pace_per_day: float | None  # average sent per day over the last PACE_DAYS days with sends
    pace_days: int  # how many days that average is over (fewer than PACE_DAYS early on)
    pace_completion: dt.date | None  # when the remaining would be sent at that pace
    cost_days: list[DayCounts] = field(default_factory=list)  # the days with billable messages, their cost


def _days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def campaign_dashboard(*, campaign: Campaign, now: dt.datetime) -> CampaignDashboard:
    """Everything the campaign dashboard shows, in three queries whatever the campaign's size (and one each for
    revenue and replies per button once there are some, from their counter rows).

    The per-day figures come from CampaignDay (a few hundred rows), the
    funnel and headline numbers from the campaign's counters; only the
    failures are grouped over recipient rows, the failed ones of this campaign,
    from their own index (see _failures). Days are calendar days in TIME_ZONE.
    """
    stats = campaign_stats(campaign=campaign)
    today = local_day(now)
    rows = [
        DayCounts(
            r.day,
            r.planned,
            r.sent,
            r.delivered,
            r.read,
            r.failed,
            r.billable,
            r.cost,
            r.clicked,
            r.clickers,
            r.replied,
            r.converted,
        )  # fmt: skip
        for r in CampaignDay.objects.filter(campaign_id=campaign.pk).order_by("day")
    ]
    remaining = stats["pending"] + stats["queued"]
    still_open = stats["status"] in OPEN
    recent = [r.sent for r in rows if r.sent and r.day <= today][-PACE_DAYS:]
    pace = sum(recent) / len(recent) if recent else None
    planned = stats["estimated_completion_date"]
    return CampaignDashboard(
        stats=stats,
        today=today,
        activity=_activity(rows, today=today, still_open=still_open),
        progress=_progress(rows, today=today, still_open=still_open),
        funnel=_funnel(stats),
        failures=campaign_failures(campaign=campaign),
        reply_buttons=campaign_reply_buttons(campaign_id=campaign.pk) if stats["replied"] else [],
        remaining=remaining,
        planned_completion=dt.date.fromisoformat(planned) if planned else None,
        pace_per_day=pace,
        pace_days=len(recent),
        pace_completion=_pace_completion(pace, remaining=remaining, today=today) if still_open else None,
        cost_days=[r for r in rows if r.billable],
    )


def _activity(rows: list[DayCounts], *, today: dt.date, still_open: bool) -> list[DayCounts]:
    active = [r for r in rows if r.active]
    if not active:
        return []
    last = max(active[-1].day, today) if still_open else active[-1].day
    by_day = {r.day: r for r in active}
    return [by_day.get(day, DayCounts(day)) for day in _days_between(active[0].day, last)]


def _progress(rows: list[DayCounts], *, today: dt.date, still_open: bool) -> list[ProgressPoint]:
    planned_days = [r.day for r in rows if r.planned]
    active_days = [r.day for r in rows if r.active]
    if not planned_days and not active_days:
        return []
    first = min(planned_days[:1] + active_days[:1])
    last = max(planned_days[-1:] + active_days[-1:] + ([today] if still_open and today >= first else []))
    by_day = {r.day: r for r in rows}
    points, planned, sent = [], 0, 0
    for day in _days_between(first, last):
        row = by_day.get(day, DayCounts(day))
        planned += row.planned
        sent += row.sent
        points.append(ProgressPoint(day, planned, sent if day <= today else None))
    return points


def _funnel(stats: dict) -> list[FunnelStep]:
    total = stats["total"]
    steps = [
        ("total", _("Recipients")),
        ("sent", _("Sent")),
        ("delivered", _("Delivered")),
        ("read", _("Read")),
        ("clickers", _("Clicked")),
        ("replied", _("Replied")),
        ("converted", _("Converted")),
    ]
    return [FunnelStep(key, label, stats[key], _rate(stats[key], total)) for key, label in steps]


def campaign_failures(*, campaign: Campaign) -> list[FailureGroup]:
    """The failed recipients by error code, most first, with what each code means and what to do.

    One GROUP BY over the campaign's failed rows, read from the partial index campaigns_rcpt_failed alone.

    The index holds (campaign, error_code) of failed rows only, with failed_at
    and error_title included, so PostgreSQL answers with an index-only scan of
    the failures (a few percent of the recipients), without reading the table
    once vacuum has marked its pages all-visible.
    """
    groups = (
        Recipient.objects.filter(campaign_id=campaign.pk, status=Recipient.Status.FAILED)
        .values("error_code")
        .annotate(count=Count("*"), last_at=Max("failed_at"), title=Max("error_title"))
        .order_by("-count", "error_code")
    )
    return [
        FailureGroup(g["error_code"], g["count"], g["last_at"], g["title"] or "", error_help(g["error_code"]))
        for g in groups
    ]


def _pace_completion(pace: float | None, *, remaining: int, today: dt.date) -> dt.date | None:
    """Like the planned estimate (planning.estimated_send_day): the last one goes out today + (remaining-1) // pace."""
    if not pace or remaining <= 0:
        return None
    return today + dt.timedelta(days=math.floor((remaining - 1) / pace))
