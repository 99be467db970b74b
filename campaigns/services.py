"""Every write that matters to a campaign: activation, top-up, lifecycle, status tracking, test sends.

The send batch itself lives in campaigns/batch.py (re-exported here as
`batch_send`); the quota in campaigns/quota.py; status precedence and counters
in campaigns/lifecycle.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audiences.erasure import erased_phone, erased_phone_sql
from audiences.selectors import audience_contacts
from campaigns import costs, lifecycle, preflight, states
from campaigns.batch import BatchResult, batch_send
from campaigns.clock import as_utc
from campaigns.conversions import campaign_revenue_rebuild
from campaigns.engagement import engagement_counts, engagement_day_counts
from campaigns.frequency import frequency_capped, frequency_frees_on
from campaigns.links import link_problems
from campaigns.models import BatchContinuation, Campaign, CampaignDay, Recipient
from campaigns.planning import capped_completion, daily_share, estimated_send_day
from campaigns.quota import local_day, quota_limit, quota_usage
from campaigns.rendering import parameter_problems
from campaigns.replies import campaign_replies_rebuild
from campaigns.retry import RetryOutcome, RetryRefused, campaign_retry_failed, retry_failed_plan
from campaigns.testsends import TestSendError, campaign_send_test, testsend_apply_status

__all__ = [
    "BatchResult",
    "CampaignStateError",
    "CampaignValidationError",
    "batch_send",
    "batch_continuation_record",
    "campaign_activate",
    "campaign_cancel",
    "campaign_clone",
    "campaign_days_rebuild",
    "campaign_pause",
    "campaign_recount",
    "campaign_resend_unknown",
    "campaign_resume",
    "RetryOutcome",
    "RetryRefused",
    "campaign_retry_failed",
    "retry_failed_plan",
    "TestSendError",
    "campaign_send_test",
    "testsend_apply_status",
    "campaign_top_up",
    "recipient_apply_status",
    "recipients_apply_statuses",
]

logger = logging.getLogger(__name__)

C = Campaign.Status
R = Recipient.Status
SQLITE_BATCH = 5000
# Recipients per INSERT ... SELECT on PostgreSQL: small enough to report progress
# every second or so, large enough that the per-statement cost stays invisible.
PG_CHUNK = 50_000
NEW_RECIPIENTS = "campaigns_materialise_new"  # the temporary table of one activation or top-up
TOP_UP_FROM = frozenset({C.SCHEDULED, C.RUNNING, C.PAUSED, C.COMPLETED})  # the statuses a top-up applies to

Progress = Callable[[int, int], None]


class CampaignValidationError(ValidationError):
    """The campaign cannot be activated as it is; `messages` says why. Nothing was changed."""


class CampaignStateError(ValidationError):
    """The action does not apply to the campaign's current status. Nothing was changed."""


@dataclass(frozen=True)
class ActivationResult:
    status: str
    recipients_added: int
    estimated_completion_date: dt.date | None


# --- Activation ---------------------------------------------------------------


def campaign_problems(*, campaign: Campaign, now: dt.datetime | None = None) -> list[str]:
    """Every reason the campaign cannot be activated as it is (empty: it can). The form shows them on saving."""
    problems = []
    template = campaign.template
    if not template.is_approved:
        problems.append(
            _("Template %(template)s is %(status)s, not APPROVED: only approved templates can be sent.")
            % {"template": template, "status": template.status}
        )
    problems += _empty_values(campaign)
    problems += parameter_problems(
        template=template,
        parameters=campaign.parameters,
        header_parameters=campaign.header_parameters,
        button_parameters=campaign.button_parameters,
        link_url=campaign.link_url,
    )
    problems += link_problems(link_url=campaign.link_url)
    if template.header_format in {"IMAGE", "VIDEO", "DOCUMENT"} and not campaign.header_media_url:
        problems.append(
            _("Template %(template)s has a %(format)s header: set its media URL.")
            % {"template": template, "format": template.header_format.lower()}
        )
    if not audience_contacts(audience=campaign.audience).exists():
        problems.append(_("Audience %(audience)s has no subscribed contacts.") % {"audience": campaign.audience})
    # An empty start means "when activated", so the end is compared with now.
    start = campaign.start_at or now
    if campaign.end_at and start and campaign.end_at <= start:
        problems.append(
            _("The end date must be after the start date.")
            if campaign.start_at
            else _("The end date has passed: nothing would be sent.")
        )
    return problems


def _empty_values(campaign: Campaign) -> list[str]:
    """A placeholder left empty (no contact field, no text): WhatsApp refuses empty parameters."""
    parts = (
        (_("Header"), campaign.header_parameters),
        (_("Body"), campaign.parameters),
        (_("URL button"), campaign.button_parameters),
    )
    return [
        _("%(part)s placeholder {{%(number)s}} is empty: choose a contact field or type its text.")
        % {"part": part, "number": n}
        for part, values in parts
        for n, value in enumerate(values or [], start=1)
        if not str(value).strip()
    ]


def campaign_validate(*, campaign: Campaign, now: dt.datetime | None = None) -> None:
    """Raise CampaignValidationError with every reason the campaign cannot be activated."""
    problems = campaign_problems(campaign=campaign, now=now)
    if problems:
        raise CampaignValidationError(problems)


def campaign_activate(*, campaign: Campaign, now: dt.datetime, progress: Progress | None = None) -> ActivationResult:
    """draft -> scheduled (start in the future) or running: validate, then materialise the audience.

    An empty start means "as soon as activated": it becomes `now`. Validation
    failures raise CampaignValidationError and change nothing. All or nothing:
    the recipients are inserted in the transaction that moves the status.
    `progress(done, total)` is called as the audience's contacts are processed
    (see `_materialise`).
    """
    now = as_utc(now)
    campaign_validate(campaign=campaign, now=now)
    start_now = campaign.start_at is None
    new_status = C.SCHEDULED if not start_now and campaign.start_at > now else C.RUNNING
    with transaction.atomic():
        changes = {"start_at": now} if start_now else {}
        if not states.campaign_move(campaign_id=campaign.pk, to=new_status, now=now, from_={C.DRAFT}, **changes):
            raise CampaignStateError(
                _("Only a draft campaign can be activated; %(campaign)s is %(status)s.")
                % {"campaign": campaign, "status": _status(campaign)}
            )
        if start_now:
            campaign.start_at = now
        added = _materialise(campaign=campaign, now=now, progress=progress)
    campaign.refresh_from_db()
    return ActivationResult(campaign.status, added, campaign.estimated_completion_date)


def campaign_top_up(*, campaign: Campaign, now: dt.datetime, progress: Progress | None = None) -> ActivationResult:
    """Add the audience's new matches only (phones already in the campaign are skipped); progress as above."""
    now = as_utc(now)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in TOP_UP_FROM:
            raise CampaignStateError(
                _("Only an activated campaign can be topped up; %(campaign)s is %(status)s.")
                % {"campaign": campaign, "status": locked.status}
            )
        added = _materialise(campaign=locked, now=now, progress=progress)
        if added:
            _reopen(campaign, now=now)
    campaign.refresh_from_db()
    return ActivationResult(campaign.status, added, campaign.estimated_completion_date)


def _materialise(*, campaign: Campaign, now: dt.datetime, progress: Progress | None = None) -> int:
    """Insert the audience's contacts not yet in the campaign, in contact-id order, after the last position.

    Estimated send date (an estimate, never a condition for sending): the
    campaign's expected daily share is min(daily cap, limit / number of
    scheduled or running campaigns); a recipient with `ahead` pending
    recipients before it goes out on max(start day, today) + ahead // share,
    except that today holds only its part of what is really left of today's
    limit (quota_usage), so a day already used up plans nothing for today.

    A clone with `skip_reached_by_source` leaves out the phones its source
    campaign already reached (see `reached_by_source`).

    `progress(done, total)` counts the recipients inserted out of those to
    insert (the audience's contacts not yet in the campaign): first (0, total),
    then after each chunk, ending at (total, total). It runs inside the
    caller's transaction, whose rows no other connection sees until it commits:
    a listener must pass progress on through something else than the database.
    """
    running = Campaign.objects.filter(status__in=[C.SCHEDULED, C.RUNNING]).count()
    share = daily_share(limit=quota_limit(now), running_campaigns=max(1, running), daily_cap=campaign.daily_cap)
    base_day = max(local_day(campaign.start_at or now), local_day(now))
    first_day = first_day_capacity(campaign=campaign, now=now, base_day=base_day, share=share, running=running)
    mine = Recipient.objects.filter(campaign_id=campaign.pk)
    ahead = mine.filter(status__in=[R.PENDING, R.QUEUED]).count()
    next_position = (mine.aggregate(m=Max("position"))["m"] + 1) if mine.exists() else 0
    contacts = audience_contacts(audience=campaign.audience).order_by()
    reached = reached_by_source(campaign=campaign)
    if reached is not None:
        contacts = contacts.exclude(phone__in=reached.values("phone"))
    us_marketing = preflight.us_marketing_filter(campaign=campaign, contacts=contacts)
    if us_marketing is not None:
        held, contacts = contacts.filter(us_marketing), contacts.exclude(us_marketing)
    contacts = contacts.values("id", "phone")
    report = progress or (lambda done, total: None)
    plan = (base_day, ahead, share, first_day)
    if connection.vendor == "postgresql":
        added = _materialise_sql(campaign, contacts, next_position, plan, report)
    else:
        added = _materialise_orm(campaign, contacts, next_position, plan, report)
    lifecycle.campaign_bump(campaign_id=campaign.pk, deltas={"total": added, "pending": added})
    skipped = _insert_skipped(campaign, held, reason=preflight.US_MARKETING_REASON) if us_marketing is not None else 0
    _plan_days(campaign=campaign, from_position=next_position)
    costs.campaign_cost_estimate_update(campaign=campaign, now=now)
    last = ahead + added
    completion = (
        estimated_send_day(base_day=base_day, ahead=last - 1, share=share, first_day=first_day) if last else None
    )
    # Recipients the frequency cap holds back go out on a later day (campaigns/frequency.py), never dropped.
    if settings.CAMPAIGN_FREQUENCY_CAP > 0:
        current = Campaign.objects.select_related("template").get(pk=campaign.pk)  # its new status, not the draft's
        completion = capped_completion(
            estimated=completion,
            held_back=frequency_capped(campaign=current, now=now),
            frees_on=frequency_frees_on(campaign=current, now=now),
        )
    Campaign.objects.filter(pk=campaign.pk).update(estimated_completion_date=completion, updated_at=now)
    return added + skipped


# A source campaign "reached" a phone when a message went out to it, or may have (in flight, no answer).
REACHED = (R.QUEUED, R.SENT, R.DELIVERED, R.READ, R.UNKNOWN)


def reached_by_source(*, campaign: Campaign):
    """The source campaign's recipients a clone leaves out (None: not a clone, or the operator chose to keep them)."""
    if not campaign.cloned_from_id or not campaign.skip_reached_by_source:
        return None
    return Recipient.objects.filter(campaign_id=campaign.cloned_from_id, status__in=REACHED)


def first_day_capacity(*, campaign: Campaign, now: dt.datetime, base_day: dt.date, share: int, running: int) -> int:
    """What `base_day` can still take of this campaign: a full share on a later day; today, its part of what is left.

    Today's part is what is left of today's limit (used by every campaign and
    test) divided among the running campaigns, at most what is left of the
    campaign's own cap today.
    """
    if base_day > local_day(now):
        return share
    usage = quota_usage(now=now)
    capacity = min(share, usage.left_today // max(1, running))
    if campaign.daily_cap:
        capacity = min(capacity, campaign.daily_cap - usage.by_campaign_today.get(campaign.pk, 0))
    return max(0, capacity)


def _plan_days(*, campaign: Campaign, from_position: int) -> None:
    """Add the recipients just inserted to their estimated days' `planned` (the dashboard's planned line).

    Only activation and top-up write `planned`, under the campaign's row lock,
    so reading then upserting the column loses nothing; the upsert touches no
    other column, so a status event counting on the same day row is kept.
    """
    planned = dict(
        Recipient.objects.filter(campaign_id=campaign.pk, position__gte=from_position)
        .values_list("estimated_send_date")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("estimated_send_date", "n")
    )
    existing = dict(
        CampaignDay.objects.filter(campaign_id=campaign.pk, day__in=list(planned)).values_list("day", "planned")
    )
    CampaignDay.objects.bulk_create(
        [
            CampaignDay(campaign_id=campaign.pk, day=day, planned=existing.get(day, 0) + n)
            for day, n in planned.items()
            if day
        ],
        update_conflicts=True,
        unique_fields=["campaign", "day"],
        update_fields=["planned"],
        batch_size=1000,
    )


def _materialise_sql(campaign, contacts, next_position, plan, report: Progress) -> int:
    """PostgreSQL: set-based, nothing passes through Python, inserted in chunks of PG_CHUNK contacts.

    One anti-join picks the audience's contacts not yet in the campaign and
    numbers them in contact-id order (k = 0, 1, ...) into a temporary table;
    then each chunk inserts a range of k (a range of contact ids), so positions
    and estimated dates are exactly those of one statement over the whole
    audience. Chunking on the temporary table, not on the audience, keeps the
    anti-join to one pass: repeated per chunk, it would read the campaign's
    recipients once per chunk. The caller's transaction keeps it all-or-nothing.
    """
    base_day, ahead, share, first_day = plan
    first = max(0, min(first_day, share))
    audience_sql, audience_params = contacts.query.sql_with_params()
    table = Recipient._meta.db_table
    erased_sql, erased_params = "", []
    if _has_erased(campaign):
        # An erased contact's row keeps a keyed hash of its number (Promise 11,
        # docs/architecture.md): that number, imported again, is still in the
        # campaign. Hashing every audience phone costs about a second per
        # million, so only for a campaign that has such rows.
        hashed, key = erased_phone_sql("s.phone")
        erased_sql = f"AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.campaign_id = %s AND e.phone = {hashed})"  # noqa: S608
        erased_params = [campaign.pk, *key]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {NEW_RECIPIENTS} (id bigint, phone text, k bigint) ON COMMIT DROP")
        cursor.execute(
            f"""
            INSERT INTO {NEW_RECIPIENTS} (id, phone, k)
            SELECT s.id, s.phone, row_number() OVER (ORDER BY s.id) - 1
            FROM ({audience_sql}) s
            WHERE NOT EXISTS (SELECT 1 FROM {table} r WHERE r.campaign_id = %s AND r.phone = s.phone)
            {erased_sql}
            """,  # noqa: S608 (the audience's own compiled SQL and the model's table, values as parameters)
            [*audience_params, campaign.pk, *erased_params],
        )
        total = cursor.rowcount
        cursor.execute(f"CREATE INDEX ON {NEW_RECIPIENTS} (k)")
        cursor.execute(f"ANALYZE {NEW_RECIPIENTS}")
        report(0, total)
        added = 0
        for low in range(0, total, PG_CHUNK):
            high = min(low + PG_CHUNK, total)
            cursor.execute(
                f"""
                INSERT INTO {table} (campaign_id, contact_id, phone, position, estimated_send_date, status,
                                     attempts, error_title, error_details, error_reason)
                SELECT %s, t.id, t.phone, %s + t.k,
                       CASE WHEN %s + t.k < %s THEN %s::date
                            ELSE %s::date + 1 + ((%s + t.k - %s) / %s)::int END,
                       %s, 0, '', '', ''
                FROM {NEW_RECIPIENTS} t
                WHERE t.k >= %s AND t.k < %s
                ON CONFLICT (campaign_id, phone) DO NOTHING
                """,  # noqa: S608 (table names from the code, values as parameters)
                [
                    campaign.pk,
                    next_position,
                    ahead,
                    first,
                    base_day,
                    base_day,
                    ahead,
                    first,
                    share,
                    R.PENDING,
                    low,
                    high,
                ],  # fmt: skip
            )
            added += cursor.rowcount
            report(high, total)
        cursor.execute(f"DROP TABLE {NEW_RECIPIENTS}")
    return added


def _materialise_orm(campaign, contacts, next_position, plan, report: Progress) -> int:
    """Other databases (SQLite): bulk_create in batches, phones already present skipped; progress per batch.

    A phone whose erased hash is in the campaign counts as present, as in `_materialise_sql`.
    """
    base_day, ahead, share, first_day = plan
    present = Recipient.objects.filter(campaign_id=campaign.pk).values("phone")
    existing = set(present.values_list("phone", flat=True))
    erased = _has_erased(campaign)

    def known(phone: str) -> bool:
        return phone in existing or (erased and erased_phone(phone) in existing)

    if erased:
        total = sum(1 for phone in contacts.values_list("phone", flat=True).iterator() if not known(phone))
    else:
        total = contacts.exclude(phone__in=present).count()
    before = len(existing)
    report(0, total)
    batch: list[Recipient] = []
    k = 0
    for row in contacts.order_by("id").iterator(chunk_size=SQLITE_BATCH):
        if known(row["phone"]):
            continue
        existing.add(row["phone"])
        batch.append(
            Recipient(
                campaign_id=campaign.pk,
                contact_id=row["id"],
                phone=row["phone"],
                position=next_position + k,
                estimated_send_date=estimated_send_day(
                    base_day=base_day, ahead=ahead + k, share=share, first_day=first_day
                ),
            )
        )
        k += 1
        if len(batch) >= SQLITE_BATCH:
            Recipient.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
            report(min(k, total), total)
    if batch:
        Recipient.objects.bulk_create(batch, ignore_conflicts=True)
        report(min(k, total), total)
    return Recipient.objects.filter(campaign_id=campaign.pk).count() - before


def _insert_skipped(campaign: Campaign, contacts, *, reason: str) -> int:
    """Add `contacts` not yet in the campaign as `skipped` rows with the reason (the pre-flight's skipping).

    They are recipients the operator can see and count, never claimed. A
    few per campaign at most (one country), so bulk_create in batches.
    """
    present = Recipient.objects.filter(campaign_id=campaign.pk)
    before = present.count()
    last = present.aggregate(m=Max("position"))["m"]
    position = 0 if last is None else last + 1
    batch: list[Recipient] = []
    rows = contacts.exclude(phone__in=present.values("phone")).order_by("id").values_list("id", "phone")
    for k, (contact_id, phone) in enumerate(rows.iterator(chunk_size=SQLITE_BATCH)):
        batch.append(
            Recipient(
                campaign_id=campaign.pk, contact_id=contact_id, phone=phone, position=position + k, status=R.SKIPPED,
                error_title=reason[:255], error_reason=reason,
            )
        )  # fmt: skip
        if len(batch) >= SQLITE_BATCH:
            Recipient.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        Recipient.objects.bulk_create(batch, ignore_conflicts=True)
    skipped = present.count() - before
    lifecycle.campaign_bump(campaign_id=campaign.pk, deltas={"total": skipped, "skipped": skipped})
    return skipped


def _has_erased(campaign: Campaign) -> bool:
    """Whether the campaign has rows of erased contacts (their contact link is gone; the FK's index finds them)."""
    return Recipient.objects.filter(campaign_id=campaign.pk, contact__isnull=True).exists()


# --- Lifecycle ----------------------------------------------------------------


def _status(campaign: Campaign) -> str:
    return Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first() or "gone"


def _transition(campaign: Campaign, *, from_: set[str], to: str, now: dt.datetime, **changes) -> None:
    if not states.campaign_move(campaign_id=campaign.pk, to=to, now=now, from_=from_, **changes):
        raise CampaignStateError(
            _("%(campaign)s is %(status)s: it cannot become %(target)s.")
            % {"campaign": campaign, "status": _status(campaign), "target": to}
        )
    campaign.refresh_from_db()


def _reopen(campaign: Campaign, *, now: dt.datetime) -> None:
    """completed -> running: it has recipients to send again (top-up, retry failed, resend unknown)."""
    states.campaign_move(campaign_id=campaign.pk, to=C.RUNNING, now=now, from_={C.COMPLETED})


def campaign_pause(*, campaign: Campaign, reason: str, now: dt.datetime) -> None:
    """scheduled/running -> paused, with the reason shown to the operator."""
    _transition(campaign, from_={C.SCHEDULED, C.RUNNING}, to=C.PAUSED, now=now, pause_reason=reason)


def campaign_resume(*, campaign: Campaign, now: dt.datetime) -> None:
    """paused -> running (or scheduled when its start is still ahead)."""
    to = C.SCHEDULED if campaign.start_at and campaign.start_at > now else C.RUNNING
    _transition(
        campaign, from_={C.PAUSED}, to=to, now=now, pause_reason="", pause_error_code=None, paused_for_template=False
    )


def campaign_cancel(*, campaign: Campaign, now: dt.datetime) -> int:
    """draft/scheduled/running/paused -> cancelled; every pending recipient becomes cancelled. Returns how many."""
    with transaction.atomic():
        _transition(campaign, from_={C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED}, to=C.CANCELLED, now=now)
        return lifecycle.recipients_move(campaign_id=campaign.pk, ids=None, old=R.PENDING, new=R.CANCELLED)


def campaign_resend_unknown(*, campaign: Campaign, now: dt.datetime) -> int:
    """unknown -> pending, on purpose: these may already have reached the user (never done automatically).

    Refused on a draft or cancelled campaign: a cancelled campaign never sends,
    so its requeued rows would stay pending for ever.
    """
    with transaction.atomic():
        status = Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("status", flat=True).first()
        if status in (C.DRAFT, C.CANCELLED):
            raise CampaignStateError(
                _("%(campaign)s is %(status)s: its unknown recipients cannot be resent.")
                % {"campaign": campaign, "status": status}
            )
        moved = lifecycle.recipients_move(
            campaign_id=campaign.pk, ids=None, old=R.UNKNOWN, new=R.PENDING, next_attempt_at=None
        )
        if moved:
            _reopen(campaign, now=now)
    campaign.refresh_from_db()
    return moved


def campaign_recount(*, campaign: Campaign) -> dict[str, int]:
    """Set the counters from a recount of the recipient rows (a repair tool; they should already match)."""
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        counts = dict(
            Recipient.objects.filter(campaign_id=campaign.pk)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("status", "n")
        )
        values = {"total": sum(counts.values())}
        for counter, statuses in lifecycle.COUNTED.items():
            values[counter] = sum(counts.get(status, 0) for status in statuses)
        values.update(engagement_counts(campaign_id=campaign.pk))
        Campaign.objects.filter(pk=campaign.pk).update(**values)
        campaign_replies_rebuild(campaign_id=campaign.pk)
        campaign_revenue_rebuild(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return values


def campaign_days_rebuild(*, campaign: Campaign) -> int:
    """Replace the campaign's CampaignDay rows by a recount of its recipients (repair); returns the day count."""
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        rows = Recipient.objects.filter(campaign_id=campaign.pk)
        days = lifecycle.day_counts(rows)
        for day, billed in costs.day_costs(rows).items():
            days.setdefault(day, {}).update(billed)
        for day, counts in engagement_day_counts(campaign_id=campaign.pk).items():
            days.setdefault(day, {}).update(counts)
        CampaignDay.objects.filter(campaign_id=campaign.pk).delete()
        CampaignDay.objects.bulk_create(
            [CampaignDay(campaign_id=campaign.pk, day=day, **counts) for day, counts in days.items()], batch_size=1000
        )
    return len(days)


def campaign_clone(*, campaign: Campaign, name: str | None = None, now: dt.datetime) -> Campaign:
    """A new draft with the same message and targeting: template, parameters, header, audience, priority, cap, number.

    Nothing of the original's run is copied: no recipients, counters at zero,
    no start or end date (empty start: it starts when activated), no pause
    reason. The name defaults to "Copy of <name>". The clone records its
    source, so that its activation leaves out (by default) whoever the source
    already reached.
    """
    max_length = Campaign._meta.get_field("name").max_length
    copy = Campaign.objects.create(
        name=(name or _("Copy of %(name)s") % {"name": campaign.name})[:max_length],
        template_id=campaign.template_id,
        parameters=list(campaign.parameters or []),
        header_parameters=list(campaign.header_parameters or []),
        button_parameters=list(campaign.button_parameters or []),
        header_media_url=campaign.header_media_url,
        cloned_from=campaign,
        audience_id=campaign.audience_id,
        priority=campaign.priority,
        daily_cap=campaign.daily_cap,
        sender_id=campaign.sender_id,
    )
    # auto_now_add stamps the clock; the clone was made at `now`.
    Campaign.objects.filter(pk=copy.pk).update(created_at=now, updated_at=now)
    copy.created_at = copy.updated_at = now
    return copy


# --- The send batch's own continuations -------------------------------------------


def batch_continuation_record(*, run_at: dt.datetime | None, now: dt.datetime, window_full: bool) -> None:
    """Remember a continuation the send task scheduled for itself (None: none); forget those already due.

    Only for the operator's eyes (Today's "Next send batch"): the continuation
    itself is a Celery task with an ETA, which this row does not control.
    """
    BatchContinuation.objects.filter(run_at__lte=now).delete()
    if run_at is not None:
        reason = "the 24-hour window was full" if window_full else "a retry comes due"
        BatchContinuation.objects.get_or_create(run_at=run_at, defaults={"reason": reason, "created_at": now})


# --- Status tracking ----------------------------------------------------------

WEBHOOK_STATUSES = {"sent": R.SENT, "delivered": R.DELIVERED, "read": R.READ, "failed": R.FAILED}


def recipient_apply_status(*, event, **kwargs) -> bool:
    """Apply one webhook status to its recipient; True when its status moved (see recipients_apply_statuses)."""
    update = _status_update(event)
    if update is None:
        return False
    (update,) = _route_trackers([(event, update)], [update])
    return any(o.old != o.new for o in lifecycle.recipients_advance_statuses(updates=[update]))


def recipients_apply_statuses(*, events, **kwargs) -> list[str]:
    """Apply a webhook body's statuses to their recipients at once; returns notes for the stored WebhookEvent.

    The receiver of `whatsapp.signals.statuses_received`. A status finds its
    recipient by message id, else by tracker (our recipient id, sent as
    biz_opaque_callback_data) while that row has no message id yet. Moves only
    forward (campaigns/lifecycle.py), so duplicates, replays and out-of-order
    events change nothing; counters move in the same transaction only for rows
    that changed. Unknown message ids are counted in a note, never an error.
    The notes say what was not taken as sent: a time before the send, a
    failure that arrived after the delivery.
    """
    events = list(events)
    updates = [_status_update(event) for event in events]
    known = [(event, update) for event, update in zip(events, updates, strict=True) if update is not None]
    batch = _route_trackers(known, _drop_ambiguous_trackers([update for _, update in known]))
    # Statuses and their pricing in one transaction: a failure leaves the body to be processed again, whole.
    priced = any(event.pricing is not None for event, _update in known)
    with transaction.atomic() if priced else contextlib.nullcontext():
        outcomes = lifecycle.recipients_advance_statuses(updates=batch)
        notes = costs.recipients_record_pricing(priced=_priced(known, outcomes), now=timezone.now()) if priced else []
    found = set()
    for outcome in outcomes:
        found.update(outcome.updates)
        first = known[outcome.updates[0]][0]
        name = f"status for {first.message_id[:80]} (recipient {outcome.recipient_id})"
        if outcome.clamped:
            notes.append(f"{name}: a time before the message was queued; the queued time is used")
        if outcome.late_failure:
            failure = next((e for e, _ in (known[n] for n in outcome.updates) if e.status == "failed"), first)
            reason = failure.errors[0].reason if failure.errors else "no error given"
            notes.append(f"{name}: failed after it was {outcome.new} ({reason}); kept here, not on the recipient")
    missing = len(known) - len(found)
    if missing:
        logger.info("%s webhook status(es) for messages that are not ours ignored", missing)
        notes.append(f"{missing} status(es) for message ids that match no recipient: ignored")
    return notes


# Per-message pricing comes on one of delivered/read (docs/architecture.md, "Cost and pre-flight"); a `sent`
# status's pricing (conversation-based pricing, before July 2025) is not a charge for a delivered message.
PRICED_STATUSES = {"delivered", "read"}


def _priced(known: list, outcomes: list[lifecycle.StatusOutcome]) -> list[costs.Priced]:
    """The pricing of each status that found its recipient row (recorded once per row by costs)."""
    priced = []
    for outcome in outcomes:
        for n in outcome.updates:
            event = known[n][0]
            if event.pricing is not None and str(event.status).lower() in PRICED_STATUSES:
                priced.append(costs.Priced(outcome.recipient_id, event.pricing.category, event.pricing.type,
                                           known[n][1].at))  # fmt: skip
    return priced


# A tracker is our recipient id: more digits than a bigint holds match no row (and would fail the statement).
TRACKER_DIGITS = 18


def _status_update(event) -> lifecycle.StatusUpdate | None:
    """The lifecycle's view of a StatusEvent (None: not a status we track). Text is bounded and NUL-free for SQL."""
    status = WEBHOOK_STATUSES.get(str(event.status).lower())
    if status is None:
        return None
    message_id = _text(event.message_id) or None
    if message_id and len(message_id) > Recipient._meta.get_field("message_id").max_length:
        message_id = None
    tracker = str(event.tracker or "")
    error = None
    if status == R.FAILED and event.errors:
        first = event.errors[0]
        error = {
            "error_code": first.code,
            "error_title": _text(first.title)[:255],
            "error_details": _text(first.details),
            "error_reason": _text(first.reason),
        }
    return lifecycle.StatusUpdate(
        message_id=message_id,
        tracker=int(tracker) if tracker.isascii() and tracker.isdigit() and len(tracker) <= TRACKER_DIGITS else None,
        status=status,
        at=event.timestamp,
        error=error,
    )


def _text(value) -> str:
    """PostgreSQL text cannot hold NUL, which JSON can carry ("\\u0000"): dropped rather than fail the batch."""
    return str(value or "").replace("\x00", "")


def _route_trackers(known: list, updates: list[lifecycle.StatusUpdate]) -> list[lifecycle.StatusUpdate]:
    """A status found by tracker only lands on a row of a campaign sending from the number that reports it.

    One query per number named in the body (usually one). Statuses found by
    message id need no routing: ids are WhatsApp's own and unique.
    """
    by_number: dict[str, set[int]] = {}
    for (event, _unused), update in zip(known, updates, strict=True):
        number = getattr(event, "phone_number_id", "")
        if update.tracker is not None and number:
            by_number.setdefault(number, set()).add(update.tracker)
    allowed = {
        (number, pk)
        for number, trackers in by_number.items()
        for pk in Recipient.objects.filter(pk__in=trackers).filter(_sent_from(number)).values_list("pk", flat=True)
    }
    routed = []
    for (event, _unused), update in zip(known, updates, strict=True):
        number = getattr(event, "phone_number_id", "")
        if update.tracker is not None and number and (number, update.tracker) not in allowed:
            update = dataclasses.replace(update, tracker=None)
        routed.append(update)
    return routed


def _sent_from(phone_number_id: str) -> Q:
    """Recipients of campaigns sending from the number a webhook names (`metadata.phone_number_id`).

    A tracker is only our recipient id: routed by the number, a status of
    another number on the same webhook never lands on one of our rows.
    """
    if not phone_number_id:
        return Q()
    from whatsapp.services import sender_default

    by_default = Q(campaign__sender__isnull=True) if sender_default().phone_number_id == phone_number_id else Q(pk=None)
    return Q(campaign__sender__phone_number_id=phone_number_id) | by_default


def _drop_ambiguous_trackers(updates: list[lifecycle.StatusUpdate]) -> list[lifecycle.StatusUpdate]:
    """One message id reported with two trackers cannot name both rows (ids are unique): neither is found by tracker."""
    trackers: dict[str, set] = {}
    for update in updates:
        if update.message_id and update.tracker is not None:
            trackers.setdefault(update.message_id, set()).add(update.tracker)
    return [
        dataclasses.replace(u, tracker=None) if u.message_id and len(trackers.get(u.message_id, ())) > 1 else u
        for u in updates
    ]
