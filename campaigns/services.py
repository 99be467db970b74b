"""Every write that matters to a campaign: activation, top-up, lifecycle, status tracking, test sends.

The send batch itself lives in campaigns/batch.py (re-exported here as
`batch_send`); the quota in campaigns/quota.py; status precedence and counters
in campaigns/lifecycle.py.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Q

from audiences.models import Contact
from audiences.selectors import audience_contacts
from campaigns import lifecycle, states
from campaigns.batch import BatchResult, batch_send
from campaigns.models import Campaign, CampaignDay, Recipient
from campaigns.planning import daily_share, estimated_send_day
from campaigns.quota import local_day, quota_lock, quota_reserve, quota_usage
from campaigns.rendering import build_components, parameter_problems

__all__ = [
    "BatchResult",
    "CampaignStateError",
    "CampaignValidationError",
    "batch_send",
    "campaign_activate",
    "campaign_cancel",
    "campaign_clone",
    "campaign_days_rebuild",
    "campaign_pause",
    "campaign_recount",
    "campaign_resend_unknown",
    "campaign_resume",
    "campaign_retry_failed",
    "campaign_send_test",
    "campaign_top_up",
    "recipient_apply_status",
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


def campaign_validate(*, campaign: Campaign) -> None:
    """Raise CampaignValidationError with every reason the campaign cannot be activated."""
    problems = []
    template = campaign.template
    if not template.is_approved:
        problems.append(f"Template {template} is {template.status}, not APPROVED: only approved templates can be sent.")
    problems += parameter_problems(
        template=template, parameters=campaign.parameters, header_parameters=campaign.header_parameters
    )
    if not audience_contacts(audience=campaign.audience).exists():
        problems.append(f"Audience {campaign.audience} has no subscribed contacts.")
    if campaign.start_at is None:
        problems.append("Set a start date before activating.")
    if campaign.end_at and campaign.start_at and campaign.end_at <= campaign.start_at:
        problems.append("The end date must be after the start date.")
    if problems:
        raise CampaignValidationError(problems)


def campaign_activate(*, campaign: Campaign, now: dt.datetime, progress: Progress | None = None) -> ActivationResult:
    """draft -> scheduled (start in the future) or running: validate, then materialise the audience.

    Validation failures raise CampaignValidationError and change nothing. All
    or nothing: the recipients are inserted in the transaction that moves the
    status. `progress(done, total)` is called as the audience's contacts are
    processed (see `_materialise`).
    """
    campaign_validate(campaign=campaign)
    new_status = C.SCHEDULED if campaign.start_at > now else C.RUNNING
    with transaction.atomic():
        if not states.campaign_move(campaign_id=campaign.pk, to=new_status, now=now, from_={C.DRAFT}):
            raise CampaignStateError(f"Only a draft campaign can be activated; {campaign} is {_status(campaign)}.")
        added = _materialise(campaign=campaign, now=now, progress=progress)
    campaign.refresh_from_db()
    return ActivationResult(campaign.status, added, campaign.estimated_completion_date)


def campaign_top_up(*, campaign: Campaign, now: dt.datetime, progress: Progress | None = None) -> ActivationResult:
    """Add the audience's new matches only (phones already in the campaign are skipped); progress as above."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in TOP_UP_FROM:
            raise CampaignStateError(f"Only an activated campaign can be topped up; {campaign} is {locked.status}.")
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
    recipients before it goes out on max(start day, today) + ahead // share.

    `progress(done, total)` counts the recipients inserted out of those to
    insert (the audience's contacts not yet in the campaign): first (0, total),
    then after each chunk, ending at (total, total). It runs inside the
    caller's transaction, whose rows no other connection sees until it commits:
    a listener must pass progress on through something else than the database.
    """
    running = Campaign.objects.filter(status__in=[C.SCHEDULED, C.RUNNING]).count()
    share = daily_share(
        limit=settings.WHATSAPP_DAILY_LIMIT, running_campaigns=max(1, running), daily_cap=campaign.daily_cap
    )
    base_day = max(local_day(campaign.start_at or now), local_day(now))
    mine = Recipient.objects.filter(campaign_id=campaign.pk)
    ahead = mine.filter(status__in=[R.PENDING, R.QUEUED]).count()
    next_position = (mine.aggregate(m=Max("position"))["m"] + 1) if mine.exists() else 0
    contacts = audience_contacts(audience=campaign.audience).order_by().values("id", "phone")
    report = progress or (lambda done, total: None)
    if connection.vendor == "postgresql":
        added = _materialise_sql(campaign, contacts, next_position, base_day, ahead, share, report)
    else:
        added = _materialise_orm(campaign, contacts, next_position, base_day, ahead, share, report)
    lifecycle.campaign_bump(campaign_id=campaign.pk, deltas={"total": added, "pending": added})
    _plan_days(campaign=campaign, from_position=next_position)
    last = ahead + added
    Campaign.objects.filter(pk=campaign.pk).update(
        estimated_completion_date=estimated_send_day(base_day=base_day, ahead=last - 1, share=share) if last else None,
        updated_at=now,
    )
    return added


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


def _materialise_sql(campaign, contacts, next_position, base_day, ahead, share, report: Progress) -> int:
    """PostgreSQL: set-based, nothing passes through Python, inserted in chunks of PG_CHUNK contacts.

    One anti-join picks the audience's contacts not yet in the campaign and
    numbers them in contact-id order (k = 0, 1, ...) into a temporary table;
    then each chunk inserts a range of k (a range of contact ids), so positions
    and estimated dates are exactly those of one statement over the whole
    audience. Chunking on the temporary table, not on the audience, keeps the
    anti-join to one pass: repeated per chunk, it would read the campaign's
    recipients once per chunk. The caller's transaction keeps it all-or-nothing.
    """
    audience_sql, audience_params = contacts.query.sql_with_params()
    table = Recipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {NEW_RECIPIENTS} (id bigint, phone text, k bigint) ON COMMIT DROP")
        cursor.execute(
            f"""
            INSERT INTO {NEW_RECIPIENTS} (id, phone, k)
            SELECT s.id, s.phone, row_number() OVER (ORDER BY s.id) - 1
            FROM ({audience_sql}) s
            WHERE NOT EXISTS (SELECT 1 FROM {table} r WHERE r.campaign_id = %s AND r.phone = s.phone)
            """,  # noqa: S608 (the audience's own compiled SQL and the model's table, values as parameters)
            [*audience_params, campaign.pk],
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
                SELECT %s, t.id, t.phone, %s + t.k, %s::date + ((%s + t.k) / %s)::int, %s, 0, '', '', ''
                FROM {NEW_RECIPIENTS} t
                WHERE t.k >= %s AND t.k < %s
                ON CONFLICT (campaign_id, phone) DO NOTHING
                """,  # noqa: S608 (table names from the code, values as parameters)
                [campaign.pk, next_position, base_day, ahead, share, R.PENDING, low, high],
            )
            added += cursor.rowcount
            report(high, total)
        cursor.execute(f"DROP TABLE {NEW_RECIPIENTS}")
    return added


def _materialise_orm(campaign, contacts, next_position, base_day, ahead, share, report: Progress) -> int:
    """Other databases (SQLite): bulk_create in batches, phones already present skipped; progress per batch."""
    present = Recipient.objects.filter(campaign_id=campaign.pk).values("phone")
    total = contacts.exclude(phone__in=present).count()
    existing = set(present.values_list("phone", flat=True))
    before = len(existing)
    report(0, total)
    batch: list[Recipient] = []
    k = 0
    for row in contacts.order_by("id").iterator(chunk_size=SQLITE_BATCH):
        if row["phone"] in existing:
            continue
        existing.add(row["phone"])
        batch.append(
            Recipient(
                campaign_id=campaign.pk,
                contact_id=row["id"],
                phone=row["phone"],
                position=next_position + k,
                estimated_send_date=estimated_send_day(base_day=base_day, ahead=ahead + k, share=share),
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


# --- Lifecycle ----------------------------------------------------------------


def _status(campaign: Campaign) -> str:
    return Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first() or "gone"


def _transition(campaign: Campaign, *, from_: set[str], to: str, now: dt.datetime, **changes) -> None:
    if not states.campaign_move(campaign_id=campaign.pk, to=to, now=now, from_=from_, **changes):
        raise CampaignStateError(f"{campaign} is {_status(campaign)}: it cannot become {to}.")
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
    _transition(campaign, from_={C.PAUSED}, to=to, now=now, pause_reason="", pause_error_code=None)


def campaign_cancel(*, campaign: Campaign, now: dt.datetime) -> int:
    """draft/scheduled/running/paused -> cancelled; every pending recipient becomes cancelled. Returns how many."""
    with transaction.atomic():
        _transition(campaign, from_={C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED}, to=C.CANCELLED, now=now)
        return lifecycle.recipients_move(campaign_id=campaign.pk, ids=None, old=R.PENDING, new=R.CANCELLED)


def campaign_retry_failed(*, campaign: Campaign, now: dt.datetime) -> int:
    """failed -> pending for every failed recipient (the operator decided); a completed campaign runs again."""
    with transaction.atomic():
        moved = lifecycle.recipients_move(
            campaign_id=campaign.pk, ids=None, old=R.FAILED, new=R.PENDING, attempts=0, next_attempt_at=None
        )
        if moved:
            _reopen(campaign, now=now)
    campaign.refresh_from_db()
    return moved


def campaign_resend_unknown(*, campaign: Campaign, now: dt.datetime) -> int:
    """unknown -> pending, on purpose: these may already have reached the user (never done automatically)."""
    with transaction.atomic():
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
        Campaign.objects.filter(pk=campaign.pk).update(**values)
    campaign.refresh_from_db()
    return values


def campaign_days_rebuild(*, campaign: Campaign) -> int:
    """Replace the campaign's CampaignDay rows by a recount of its recipients (repair); returns the day count."""
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        days = lifecycle.day_counts(Recipient.objects.filter(campaign_id=campaign.pk))
        CampaignDay.objects.filter(campaign_id=campaign.pk).delete()
        CampaignDay.objects.bulk_create(
            [CampaignDay(campaign_id=campaign.pk, day=day, **counts) for day, counts in days.items()], batch_size=1000
        )
    return len(days)


def campaign_clone(*, campaign: Campaign, name: str | None = None, now: dt.datetime) -> Campaign:
    """A new draft with the same message and targeting: template, parameters, header, audience, priority, cap, number.

    Nothing of the original's run is copied: no recipients, counters at zero,
    no start or end date (the operator sets them before activating), no pause
    reason. The name defaults to "Copy of <name>".
    """
    max_length = Campaign._meta.get_field("name").max_length
    copy = Campaign.objects.create(
        name=(name or f"Copy of {campaign.name}")[:max_length],
        template_id=campaign.template_id,
        parameters=list(campaign.parameters or []),
        header_parameters=list(campaign.header_parameters or []),
        header_media_url=campaign.header_media_url,
        audience_id=campaign.audience_id,
        priority=campaign.priority,
        daily_cap=campaign.daily_cap,
        sender_id=campaign.sender_id,
    )
    # auto_now_add stamps the clock; the clone was made at `now`.
    Campaign.objects.filter(pk=copy.pk).update(created_at=now, updated_at=now)
    copy.created_at = copy.updated_at = now
    return copy


# --- Status tracking ----------------------------------------------------------

WEBHOOK_STATUSES = {"sent": R.SENT, "delivered": R.DELIVERED, "read": R.READ, "failed": R.FAILED}


def recipient_apply_status(*, event, **kwargs) -> bool:
    """Apply a webhook status to its recipient (by message id, else by tracker = recipient id).

    Moves only forward (see campaigns/lifecycle.py), so duplicates and
    out-of-order events change nothing; counters move in the same transaction
    only when the row changed. Unknown message ids are logged and ignored.
    """
    status = WEBHOOK_STATUSES.get(str(event.status).lower())
    if status is None:
        return False
    recipient_id = (
        Recipient.objects.filter(message_id=event.message_id).values_list("id", flat=True).first()
        if event.message_id
        else None
    )
    if recipient_id is None and event.tracker and str(event.tracker).isdigit():
        # A send whose answer we never got (unknown) has no message id yet: the tracker is our recipient id.
        recipient_id = (
            Recipient.objects.filter(pk=int(event.tracker), message_id__isnull=True)
            .filter(_sent_from(getattr(event, "phone_number_id", "")))
            .values_list("id", flat=True)
            .first()
        )
    if recipient_id is None:
        logger.info("status %s for unknown message %s ignored", event.status, event.message_id)
        return False
    error = None
    if status == R.FAILED and event.errors:
        first = event.errors[0]
        error = {
            "error_code": first.code,
            "error_title": (first.title or "")[:255],
            "error_details": first.details or "",
            "error_reason": first.reason,
        }
    return lifecycle.recipient_advance(
        recipient_id=recipient_id, status=status, at=event.timestamp, message_id=event.message_id or None, error=error
    )


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


# --- Test send ----------------------------------------------------------------


class TestSendError(ValidationError):
    """The test message could not be sent; the message says why."""


def campaign_send_test(*, campaign: Campaign, phone: str, now: dt.datetime) -> str:
    """Send the campaign's message to one phone now (it counts against the limit). Returns the message id."""
    from audiences.phones import InvalidPhoneNumber, normalize_phone
    from whatsapp.backends import get_backend
    from whatsapp.errors import WhatsAppError

    try:
        phone = normalize_phone(phone)
    except InvalidPhoneNumber as exc:
        raise TestSendError(str(exc)) from exc
    contact = Contact.objects.filter(phone=phone).first()
    if contact is not None and not contact.is_subscribed:
        raise TestSendError(f"{phone} has unsubscribed: no message is sent to it.")
    with transaction.atomic():
        quota_lock()
        if quota_usage(now=now).left < 1:
            raise TestSendError("The messaging limit is used up for now; try later.")
        quota_reserve(now=now, campaign_id=None, recipient_ids=[None])
    template = campaign.template
    components = build_components(
        template=template,
        parameters=campaign.parameters,
        header_parameters=campaign.header_parameters,
        header_media_url=campaign.header_media_url,
        contact=contact or Contact(phone=phone),
    )
    try:
        result = get_backend().send_template(phone, template.name, template.language, components)
    except WhatsAppError as exc:
        raise TestSendError(exc.reason) from exc
    return result.message_id
