"""Today, for the admin index: the quota, the active campaigns, the next send batch, and what needs an operator.

One read, `today_overview(now=)`, in a handful of queries whatever the
number of recipients: everything comes from the campaign counters, the
per-day plan (CampaignDay), the quota ledger and django-celery-beat's tables,
never from recipient rows.

Alerts, each with the page where the operator acts:
- a campaign paused by a WhatsApp error (pause_error_code set; a pause by hand
  is not an alert);
- a campaign failing more than CAMPAIGN_FAILURE_ALERT_RATE of its attempts,
  once FAILURE_ALERT_MIN_ATTEMPTS were made;
- `unknown` outcomes waiting for review (an active campaign, or one completed
  in the last UNKNOWN_REVIEW_DAYS);
- the template of an active campaign is no longer APPROVED;
- what the running campaigns planned up to today does not fit in what is left
  of the day's limit;
- no enabled periodic task runs the send batch;
- webhook bodies stored minutes ago and still not processed (no worker, or
  their task was lost: statuses and opt-outs wait), and bodies whose
  processing failed in the last days.

Meta's own alerts (whatsapp.PlatformAlert: a template paused, the account
restricted, the limit changed) come first, an account block first of all:
while it holds the batch claims nothing. The messaging limit shows where it
came from (Meta's tier by sync or webhook, the setting, or the default) and
when (whatsapp/tiers.py).

While a batch runs (some campaign has claims queued), each sender number's current send
rate beside its limit (campaigns/throttle.py counts sends per second in
Redis; without Redis the rate is not shared between processes, so not shown).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_celery_beat.models import PeriodicTask

from campaigns.clock import as_utc
from campaigns.frequency import frequency_capped
from campaigns.models import BatchContinuation, Campaign, CampaignDay, Recipient
from campaigns.planning import daily_share
from campaigns.quota import QuotaUsage, local_day, quota_usage
from campaigns.tasks import SEND_BATCH_TASK
from whatsapp.models import MessageTemplate, PlatformAlert, WebhookEvent
from whatsapp.platform import open_alerts
from whatsapp.selectors import FAILED_REVIEW, webhook_backlog
from whatsapp.services import STUCK_AFTER
from whatsapp.tiers import Limit, messaging_limit

C = Campaign.Status
ACTIVE = (C.RUNNING, C.SCHEDULED, C.PAUSED)  # the order the panel lists them in

# Below this many attempts (sent + failed) a failure rate says little: 2 failures
# of the first 10 messages are 20%, and usually a bad number or two, not a
# broken campaign. From 20 on, 5% is at least one failure in twenty.
FAILURE_ALERT_MIN_ATTEMPTS = 20

# A campaign completes with its unknown outcomes still waiting: they stay on
# Today for this many days after it completed (until resent, they never clear).
UNKNOWN_REVIEW_DAYS = 7


@dataclass(frozen=True)
class Alert:
    level: str  # "error" (nothing is sent until someone acts), "warning", "info"; admin message classes
    message: str
    url: str  # where the operator acts
    link_text: str = gettext_lazy("Open")


@dataclass(frozen=True)
class CampaignToday:
    """An active campaign's progress and its share of today."""

    id: int
    name: str
    status: str
    priority: int
    total: int
    sent: int
    pending: int
    sent_today: int  # handed to WhatsApp today: quota reserved for it (the ledger), failed ones included
    planned_today: int  # its plan for today (CampaignDay.planned); without one, its daily share if it sends today
    planned_today_is_share: bool
    url: str
    held_back: int = 0  # pending recipients the frequency cap holds back today (campaigns/frequency.py)

    @property
    def progress_percent(self) -> int:
        return _percent(self.sent, self.total)


@dataclass(frozen=True)
class BatchSchedule:
    """A periodic task that runs the send batch, and when beat will run it next."""

    name: str
    schedule: str
    enabled: bool
    next_run_at: dt.datetime | None  # None: disabled, expired, or a kind of schedule we do not compute
    due: bool  # next_run_at has come: beat runs it at its next tick (a few minutes at most, if beat runs)
    url: str


@dataclass(frozen=True)
class Continuation:
    """A send batch the last batch scheduled for itself (campaigns/tasks.py), still ahead."""

    run_at: dt.datetime
    reason: str


@dataclass(frozen=True)
class SenderToday:
    """A sender number while a batch runs: what it sends now (messages/s, None: not measured) and its limit."""

    number: str
    rate_now: float | None
    limit: float  # 0: unlimited


@dataclass(frozen=True)
class TodayOverview:
    now: dt.datetime
    quota: QuotaUsage
    campaigns: list[CampaignToday]
    schedules: list[BatchSchedule]
    alerts: list[Alert] = field(default_factory=list)
    continuation: Continuation | None = None
    senders: list[SenderToday] = field(default_factory=list)  # only while a batch runs
    limit: Limit | None = None  # the messaging limit in force: its value, tier, where it came from and when
    blocked: PlatformAlert | None = None  # Meta restricted the account: nothing is sent until it is lifted

    @property
    def quota_used_percent(self) -> int:
        return _percent(self.quota.used_24h, self.quota.limit)

    @property
    def next_batch_at(self) -> dt.datetime | None:
        """The earliest of the schedules' next runs and a pending continuation."""
        times = [s.next_run_at for s in self.schedules if s.next_run_at is not None]
        if self.continuation is not None:
            times.append(self.continuation.run_at)
        return min(times, default=None)

    @property
    def live(self) -> bool:
        """Something is moving (a campaign running or scheduled, a continuation ahead): the page refreshes itself."""
        running = any(c.status in (C.RUNNING, C.SCHEDULED) for c in self.campaigns)
        return running or self.continuation is not None


def today_overview(*, now: dt.datetime) -> TodayOverview:
    """Everything the Today panel shows at `now`, in eight queries (three of them the quota's)."""
    now = as_utc(now)
    quota = quota_usage(now=now)
    today = local_day(now)
    campaigns = list(
        Campaign.objects.filter(
            Q(status__in=ACTIVE)
            | Q(status=C.COMPLETED, unknown__gt=0, updated_at__gte=now - dt.timedelta(days=UNKNOWN_REVIEW_DAYS))
        ).select_related("template")
    )
    active = sorted((c for c in campaigns if c.status in ACTIVE), key=lambda c: (ACTIVE.index(c.status), c.pk))
    plans = _plans_to_date(active, today=today)
    sharing = sum(1 for c in active if c.status in (C.RUNNING, C.SCHEDULED))
    rows = [
        _campaign_today(c, quota=quota, plan=plans.get(c.pk, {}), sharing=sharing, today=today, now=now) for c in active
    ]
    schedules = _batch_schedules(now=now)
    continuation = (
        BatchContinuation.objects.filter(run_at__gt=now).order_by("run_at").values_list("run_at", "reason").first()
    )
    platform = open_alerts(now=now)
    blocked = next((a for a in platform if a.blocks_sending), None)
    alerts = [
        *_alerts_platform([a for a in platform if a is not blocked]),  # the block has its own banner
        *_alerts_paused_by_error(active),
        *_alerts_template_not_approved(active),
        *_alerts_no_batch(schedules, continuation=continuation is not None),
        *_alerts_failure_rate(active),
        *_alerts_quota_short(active, plans=plans, quota=quota),
        *_alerts_unknown(campaigns),
        *_alerts_webhooks(now=now),
    ]
    return TodayOverview(
        now=now,
        quota=quota,
        campaigns=rows,
        schedules=schedules,
        alerts=alerts,
        continuation=Continuation(*continuation) if continuation else None,
        # Claims queued: a batch is sending (or about to); read from the counters already loaded.
        senders=_senders_sending() if any(c.queued for c in active) else [],
        limit=messaging_limit(now),
        blocked=blocked,
    )


def _senders_sending() -> list[SenderToday]:
    """Each sender number's current rate and limit (one query, and Redis for the rates)."""
    from campaigns.throttle import sender_limiter
    from whatsapp.models import Sender

    shared = bool(settings.SEND_RATE_LIMIT_URL)
    return [
        SenderToday(
            number=str(sender),
            rate_now=sender_limiter(sender.phone_number_id, sender.rate).current_rate() if shared else None,
            limit=sender.rate,
        )
        for sender in Sender.objects.order_by("id")
    ]


# --- campaigns ----------------------------------------------------------------


def _plans_to_date(campaigns: list[Campaign], *, today: dt.date) -> dict[int, dict[str, int]]:
    """Per campaign: planned up to and including today, and planned for today (one grouped query)."""
    if not campaigns:
        return {}
    rows = (
        CampaignDay.objects.filter(campaign_id__in=[c.pk for c in campaigns], day__lte=today)
        .values("campaign_id")
        .annotate(to_date=Sum("planned"), today=Sum("planned", filter=Q(day=today)))
        .order_by()
    )
    return {row["campaign_id"]: {"to_date": row["to_date"] or 0, "today": row["today"]} for row in rows}


def _campaign_today(
    campaign: Campaign, *, quota: QuotaUsage, plan: dict, sharing: int, today: dt.date, now: dt.datetime
) -> CampaignToday:
    planned_today, is_share = plan.get("today"), False
    if planned_today is None:
        # No plan row for today (ahead of or behind its plan): what it can expect today, if it sends today at all.
        starts_later = campaign.start_at is not None and local_day(campaign.start_at) > today
        if campaign.status == C.PAUSED or starts_later:
            planned_today = 0
        else:
            is_share = True
            planned_today = daily_share(limit=quota.limit, running_campaigns=sharing, daily_cap=campaign.daily_cap)
    return CampaignToday(
        id=campaign.pk,
        name=campaign.name,
        status=campaign.status,
        priority=campaign.priority,
        total=campaign.total,
        sent=campaign.sent,
        pending=campaign.pending,
        sent_today=quota.by_campaign_today.get(campaign.pk, 0),
        planned_today=planned_today,
        planned_today_is_share=is_share,
        url=_change_url(campaign),
        # Only with the cap on, one query per marketing campaign: they wait for a later day, never dropped.
        held_back=frequency_capped(campaign=campaign, now=now) if campaign.status == C.RUNNING else 0,
    )


def _alerts_platform(platform: list[PlatformAlert]) -> list[Alert]:
    """Meta's alerts, blocking ones first, each linking to its page in the admin (where it is resolved)."""
    ordered = sorted(platform, key=lambda a: (not a.blocks_sending, a.severity != "error"))
    return [
        Alert(
            a.severity,
            (_("SENDING IS STOPPED. ") if a.blocks_sending else "") + a.message,
            reverse("admin:whatsapp_platformalert_change", args=[a.pk]),
            _("Open the alert"),
        )
        for a in ordered
    ]


def _alerts_paused_by_error(campaigns: list[Campaign]) -> list[Alert]:
    return [
        Alert(
            "error",
            _("%(campaign)s was paused by a WhatsApp error: %(reason)s. Fix the cause, then resume it.")
            % {"campaign": c, "reason": c.pause_reason or _("Error %(code)s") % {"code": c.pause_error_code}},
            _change_url(c),
            _("Open the campaign"),
        )
        for c in campaigns
        if c.status == C.PAUSED and c.pause_error_code is not None
    ]


def _alerts_template_not_approved(campaigns: list[Campaign]) -> list[Alert]:
    return [
        Alert(
            "error",
            _(
                "%(campaign)s (%(status)s) uses template %(template)s, which is %(template_status)s, not APPROVED: "
                "WhatsApp refuses its messages. Choose an approved template or wait for this one to be approved."
            )
            % {"campaign": c, "status": c.status, "template": c.template, "template_status": c.template.status},
            _change_url(c),
            _("Open the campaign"),
        )
        for c in campaigns
        if c.template.status != MessageTemplate.Status.APPROVED
    ]


def _alerts_failure_rate(campaigns: list[Campaign]) -> list[Alert]:
    threshold = settings.CAMPAIGN_FAILURE_ALERT_RATE
    alerts = []
    for c in campaigns:
        attempted = c.sent + c.failed
        if attempted < FAILURE_ALERT_MIN_ATTEMPTS or c.failed / attempted <= threshold:
            continue
        alerts.append(
            Alert(
                "warning",
                _(
                    "%(campaign)s: %(failed)s of %(attempted)s messages failed (%(rate)s, "
                    "above the %(threshold)s alert rate). See the failure reasons."
                )
                % {
                    "campaign": c,
                    "failed": c.failed,
                    "attempted": attempted,
                    "rate": f"{c.failed / attempted:.1%}",
                    "threshold": f"{threshold * 100:g}%",
                },
                _recipients_url(c, Recipient.Status.FAILED),
                _("See the failed recipients"),
            )
        )
    return alerts


def _alerts_unknown(campaigns: list[Campaign]) -> list[Alert]:
    return [
        Alert(
            "info",
            _(
                "%(campaign)s: %(unknown)s message(s) with an unknown outcome wait for review "
                "(they may have reached the contact; resend only on purpose)."
            )
            % {"campaign": c, "unknown": c.unknown},
            _recipients_url(c, Recipient.Status.UNKNOWN),
            _("Review them"),
        )
        for c in campaigns
        if c.unknown > 0
    ]


def _alerts_quota_short(campaigns: list[Campaign], *, plans: dict, quota: QuotaUsage) -> list[Alert]:
    """What running campaigns planned up to today and have not processed, against what the day has left.

    Processed = total - pending (queued, sent, failed, skipped, cancelled,
    unknown: none of them will be sent again by the batch). The day's limit
    (`left_today`), not the 24-hour window, bounds what the rest of today can
    send: the window frees during the day as yesterday's sends age out.
    """
    due = sum(
        max(0, plans.get(c.pk, {}).get("to_date", 0) - (c.total - c.pending))
        for c in campaigns
        if c.status == C.RUNNING
    )
    if due <= quota.left_today:
        return []
    slipping = due - quota.left_today
    return [
        Alert(
            "warning",
            _(
                "Quota exhausted before today's plan: running campaigns still have %(due)s message(s) planned up to "
                "today, but only %(left)s of the daily limit of %(limit)s are left; %(slipping)s will "
                "slip to a later day."
            )
            % {"due": due, "left": quota.left_today, "limit": quota.limit, "slipping": slipping},
            reverse("admin:campaigns_campaign_changelist") + "?" + urlencode({"status__exact": C.RUNNING}),
            _("See the running campaigns"),
        )
    ]


def _alerts_webhooks(*, now: dt.datetime) -> list[Alert]:
    backlog = webhook_backlog(now=now)
    url = reverse("admin:whatsapp_webhookevent_changelist") + "?"
    alerts = []
    if backlog.stuck:
        minutes = int(STUCK_AFTER.total_seconds() // 60)
        alerts.append(
            Alert(
                "error",
                _(
                    "%(count)s webhook body(ies) received more than %(minutes)s minutes ago are not processed yet: "
                    "their statuses and opt-outs wait. Check that a Celery worker and beat run; the periodic task "
                    '"Process stuck webhooks" processes them.'
                )
                % {"count": backlog.stuck, "minutes": minutes},
                url + urlencode({"status__exact": WebhookEvent.Status.RECEIVED}),
                _("See the waiting webhooks"),
            )
        )
    if backlog.failed:
        alerts.append(
            Alert(
                "warning",
                _(
                    "%(count)s webhook body(ies) failed processing in the last %(days)s days. "
                    "Read their error, fix the cause, then replay them."
                )
                % {"count": backlog.failed, "days": FAILED_REVIEW.days},
                url + urlencode({"status__exact": WebhookEvent.Status.FAILED}),
                _("See the failed webhooks"),
            )
        )
    return alerts


# --- the send batch's schedule -----------------------------------------------


def _batch_schedules(*, now: dt.datetime) -> list[BatchSchedule]:
    """Every periodic task that runs the send batch, enabled first (one query)."""
    tasks = PeriodicTask.objects.filter(task=SEND_BATCH_TASK).select_related("crontab", "interval", "clocked", "solar")
    rows = []
    for task in tasks.order_by("-enabled", "name"):
        moment = next_run_at(task, now=now) if task.enabled else None
        rows.append(
            BatchSchedule(
                name=task.name,
                schedule=_describe(task),
                enabled=task.enabled,
                next_run_at=moment,
                due=moment is not None and moment <= now,
                url=reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]),
            )
        )
    return rows


def _describe(task: PeriodicTask) -> str:
    if task.crontab is not None:
        return task.crontab.human_readable
    return str(task.scheduler or _("no schedule"))


def next_run_at(task: PeriodicTask, *, now: dt.datetime) -> dt.datetime | None:
    """When celery beat (DatabaseScheduler) will next run `task`, as seen at `now`.

    The arithmetic is Celery's own schedule's, in the task's timezone (a
    crontab's `timezone`), fed the reference beat uses: the last run or,
    never run, when the task was last changed (30 years earlier with a
    start_time, so it runs at once). A result at or before `now` means due:
    beat starts it at its next tick. None when beat will not run it: expired,
    a one-off already run, or a solar schedule (not computed here).
    """
    if task.solar_id is not None or task.scheduler is None:
        return None
    if (task.expires is not None and task.expires <= now) or (task.one_off and task.total_run_count > 0):
        return None
    if task.start_time is not None and task.start_time > now:
        # Beat holds the task until start_time: then the first crontab occurrence, or at once.
        moment = task.due_start_time(now.tzinfo)
    else:
        reference = task.last_run_at
        if reference is None:
            reference = min(task.date_changed or now, now)
            if task.start_time is not None:
                reference -= dt.timedelta(days=365 * 30)
        schedule = task.schedule
        schedule.nowfun = lambda: now
        moment = now + schedule.remaining_estimate(min(reference, now))
    if task.expires is not None and moment > task.expires:
        return None
    return moment


def _alerts_no_batch(schedules: list[BatchSchedule], *, continuation: bool = False) -> list[Alert]:
    if any(s.next_run_at is not None for s in schedules):
        return []
    disabled = [s for s in schedules if not s.enabled]
    if len(disabled) == 1:
        message = _('No send batch is scheduled: the periodic task "%(name)s" is disabled.') % {
            "name": disabled[0].name
        }
        url = disabled[0].url
    else:
        message = _("No send batch is scheduled: no enabled periodic task runs %(task)s.") % {"task": SEND_BATCH_TASK}
        url = reverse("admin:django_celery_beat_periodictask_changelist") + "?" + urlencode({"task": SEND_BATCH_TASK})
    if continuation:
        message += " " + _("The continuation below runs once; after it, campaigns send only when someone runs a batch.")
    else:
        message += " " + _("Campaigns send only when someone runs a batch.")
    return [Alert("error", message, url, _("Open the schedule"))]


# --- helpers -------------------------------------------------------------------


def _percent(part: int, whole: int) -> int:
    return min(100, round(100 * part / whole)) if whole else 0


def _change_url(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def _recipients_url(campaign: Campaign, status: str) -> str:
    query = urlencode({"campaign__id__exact": campaign.pk, "status__exact": status})
    return reverse("admin:campaigns_recipient_changelist") + "?" + query
