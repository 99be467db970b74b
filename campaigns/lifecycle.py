"""A recipient's status precedence and the campaign counters that follow it (Promises 4 and 5).

Every recipient status change goes through this module, so the counters move
exactly when a row really changed, by F() expressions in the same transaction.

Precedence (a status never moves backwards):
    pending, skipped, cancelled < queued < unknown < sent < failed < delivered < read
`failed` ranks above `sent` so that a failure can land after sent/unknown/queued,
and a (rare) delivered or read for the same message still wins: applying a set
of events in any order ends in the same state. Each event's timestamp is kept
as the earliest seen for its column, for the same reason.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import Campaign, CampaignDay, Recipient
from campaigns.quota import local_day

S = Recipient.Status

RANK = {
    S.PENDING: 0,
    S.SKIPPED: 0,
    S.CANCELLED: 0,
    S.QUEUED: 1,
    S.UNKNOWN: 2,
    S.SENT: 3,
    S.FAILED: 4,
    S.DELIVERED: 5,
    S.READ: 6,
}

# The moves recipients_move may make (set-based, decided by a service): claims, their outcomes when the
# API refused or never answered, and the operator's and housekeeping's moves. Forward moves caused by an
# answer or a webhook (queued/unknown -> sent -> delivered -> read, -> failed) go through
# recipients_advance and the precedence above instead.
MOVES: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.QUEUED, S.SKIPPED, S.CANCELLED}),  # claim; unsubscribed; ended, cancelled, erased
    # refused: retry later or paused campaign / refused for good / no answer; never handed to the network
    S.QUEUED: frozenset({S.PENDING, S.FAILED, S.UNKNOWN}),
    S.FAILED: frozenset({S.PENDING}),  # "retry failed", when a resend can fix it
    S.UNKNOWN: frozenset({S.PENDING}),  # "resend unknown", the operator's explicit choice
    S.SKIPPED: frozenset(),
    S.CANCELLED: frozenset(),
    S.SENT: frozenset(),
    S.DELIVERED: frozenset(),
    S.READ: frozenset(),
}


class IllegalMove(ValueError):
    """A service asked for a recipient move MOVES does not allow: a programming error."""


# Which recipient statuses each campaign counter counts.
COUNTED = {
    "pending": {S.PENDING},
    "queued": {S.QUEUED},
    "sent": {S.SENT, S.DELIVERED, S.READ},
    "delivered": {S.DELIVERED, S.READ},
    "read": {S.READ},
    "failed": {S.FAILED},
    "skipped": {S.SKIPPED},
    "unknown": {S.UNKNOWN},
    "cancelled": {S.CANCELLED},
}

# Timestamps an event sets (the earliest wins): a read with no delivered also sets delivered_at.
TIMESTAMPS = {
    S.SENT: ("sent_at",),
    S.DELIVERED: ("delivered_at", "sent_at"),
    S.READ: ("read_at", "delivered_at", "sent_at"),
    S.FAILED: ("failed_at",),
    S.UNKNOWN: (),
}


def counter_deltas(old: str, new: str, n: int = 1) -> dict[str, int]:
    """How the campaign counters change when `n` recipients move from `old` to `new`."""
    deltas = {}
    for counter, statuses in COUNTED.items():
        delta = (new in statuses) - (old in statuses)
        if delta:
            deltas[counter] = delta * n
    return deltas


# The status changes the dashboard counts per day (CampaignDay): entries into these counters.
DAY_COUNTERS = ("sent", "delivered", "read", "failed")


def campaign_bump(*, campaign_id: int, deltas: dict[str, int], at: dt.datetime | None = None) -> None:
    """Apply counter deltas with F() (never read-modify-write); call in the transaction that moved the rows.

    With `at` (when the change happened), recipients entering sent, delivered,
    read or failed are also counted on that day's CampaignDay row.
    """
    if deltas:
        Campaign.objects.filter(pk=campaign_id).update(**{name: F(name) + delta for name, delta in deltas.items()})
    if at is not None:
        entries = {name: deltas[name] for name in DAY_COUNTERS if deltas.get(name, 0) > 0}
        campaign_day_add(campaign_id=campaign_id, day=local_day(at), counts=entries)


def campaign_day_add(*, campaign_id: int, day: dt.date, counts: dict[str, int]) -> None:
    """Add to a campaign's day row with F() (created on first use; a concurrent creator is not an error)."""
    if not counts:
        return
    changes = {name: F(name) + n for name, n in counts.items()}
    rows = CampaignDay.objects.filter(campaign_id=campaign_id, day=day)
    if not rows.update(**changes):
        CampaignDay.objects.get_or_create(campaign_id=campaign_id, day=day)
        rows.update(**changes)


def recipients_move(
    *,
    campaign_id: int,
    ids: list[int] | None,
    old: str,
    new: str,
    at: dt.datetime | None = None,
    where: Q | None = None,
    **changes,
) -> int:
    """Set-based move of a campaign's recipients from `old` to `new` (only rows still in `old`); returns how many.

    The move must be one of MOVES. `where` narrows the rows further in the same
    conditional UPDATE. Pass `at` when the move is an event the dashboard
    counts per day (a send that failed).
    """
    if new not in MOVES[old]:
        raise IllegalMove(f"a recipient cannot move from {old} to {new} this way")
    with transaction.atomic():
        rows = Recipient.objects.filter(campaign_id=campaign_id, status=old)
        if ids is not None:
            rows = rows.filter(id__in=ids)
        if where is not None:
            rows = rows.filter(where)
        moved = rows.update(status=new, **changes)
        campaign_bump(campaign_id=campaign_id, deltas=counter_deltas(old, new, moved), at=at if moved else None)
    return moved


# What recipient_advance reads of a row, locked, before deciding.
_ADVANCE_COLUMNS = ("status", "campaign_id", "message_id", *{c for cols in TIMESTAMPS.values() for c in cols})


def _advance_changes(row: dict, *, status: str, at: dt.datetime, message_id, error, only_from) -> tuple[dict, bool]:
    """The column changes that move `row` forward to `status`, and whether its status moves (the precedence rule)."""
    old = row["status"]
    moves = RANK[status] > RANK[old] and (only_from is None or old in only_from)
    changes: dict = {}
    if moves:
        changes["status"] = status
        if old == S.QUEUED:
            # The outcome of one send (accepted, failed by webhook first, or
            # unanswered): the batch's refusals count theirs as they move.
            changes["attempts"] = F("attempts") + 1
    for column in TIMESTAMPS.get(status, ()):
        if row[column] is None or at < row[column]:
            changes[column] = at
    if message_id and not row["message_id"]:
        changes["message_id"] = message_id
    if error and (moves or status == S.FAILED):
        changes.update(error)
    return changes, moves


def recipient_advance(
    *,
    recipient_id: int,
    status: str,
    at: dt.datetime,
    message_id: str | None = None,
    error: dict | None = None,
    only_from: set[str] | None = None,
) -> bool:
    """Move one recipient forward to `status` if it ranks higher; record `at` and the error either way.

    Returns True when the status changed (and the counters moved). Duplicates
    and stale events change nothing but may fill an earlier timestamp.
    """
    moved = recipients_advance(
        message_ids={recipient_id: message_id}, status=status, at=at, error=error, only_from=only_from
    )
    return moved == 1


def recipients_advance(
    *,
    message_ids: dict[int, str | None],
    status: str,
    at: dt.datetime,
    error: dict | None = None,
    only_from: set[str] | None = None,
) -> int:
    """recipient_advance for many recipients (id -> WhatsApp message id) in one transaction; returns how many moved.

    The send batch records its accepted sends this way: one transaction and
    one counter update per campaign for every outcome that arrived meanwhile,
    instead of one each, which 32 send threads would otherwise queue up for
    on the campaign's row. Rows are locked in id order, then the campaign,
    whether one or many, so it cannot deadlock with itself.
    """
    if not message_ids:
        return 0
    deltas: dict[int, dict[str, int]] = {}
    moved = 0
    with transaction.atomic():
        rows = Recipient.objects.select_for_update().filter(pk__in=list(message_ids)).order_by("pk")
        for row in rows.values("id", *_ADVANCE_COLUMNS):
            changes, moves = _advance_changes(
                row, status=status, at=at, message_id=message_ids[row["id"]], error=error, only_from=only_from
            )
            if not changes:
                continue
            if Recipient.objects.filter(pk=row["id"], status=row["status"]).update(**changes) and moves:
                moved += 1
                campaign = deltas.setdefault(row["campaign_id"], {})
                for name, delta in counter_deltas(row["status"], status).items():
                    campaign[name] = campaign.get(name, 0) + delta
        for campaign_id, campaign_deltas in sorted(deltas.items()):
            campaign_bump(campaign_id=campaign_id, deltas=campaign_deltas, at=at)
    return moved


def recipients_record_accepted(*, campaign_id: int, message_ids: dict[int, str], at: dt.datetime) -> set[int]:
    """queued -> sent with each row's message id, in one UPDATE: the usual outcome of a send; returns the ids moved.

    Only rows still `queued` with no message id move here (the counters by the
    number moved, as recipients_advance would). The rest (a webhook or the
    sweep got there first) are the caller's to pass to recipients_advance,
    which applies the precedence row by row.
    """
    with transaction.atomic():
        ids = list(
            Recipient.objects.select_for_update()
            .filter(campaign_id=campaign_id, pk__in=list(message_ids), status=S.QUEUED, message_id__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if ids:
            Recipient.objects.filter(pk__in=ids).update(
                status=S.SENT,
                message_id=Case(*[When(pk=pk, then=Value(message_ids[pk])) for pk in ids]),
                sent_at=Case(When(sent_at__lt=at, then=F("sent_at")), default=Value(at)),
                attempts=F("attempts") + 1,
            )
            campaign_bump(campaign_id=campaign_id, deltas=counter_deltas(S.QUEUED, S.SENT, len(ids)), at=at)
    return set(ids)


def day_counts(recipients) -> dict[dt.date, dict[str, int]]:
    """Recount CampaignDay's columns from a campaign's recipient rows (a repair and backfill tool).

    `planned` by estimated send date; the others by the local day of the
    recipient's first sent / delivered / read / failed timestamp. Takes a
    queryset so a migration can pass its historical model's rows.
    """
    tz = timezone.get_current_timezone()
    sources = {"planned": "estimated_send_date", **{name: f"{name}_at" for name in DAY_COUNTERS}}
    days: dict[dt.date, dict[str, int]] = {}
    for name, column in sources.items():
        key = F(column) if name == "planned" else TruncDate(column, tzinfo=tz)
        rows = (
            recipients.filter(**{f"{column}__isnull": False})
            .annotate(d=key)
            .values("d")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("d", "n")
        )
        for day, n in rows:
            days.setdefault(day, dict.fromkeys(sources, 0))[name] = n
    return days
