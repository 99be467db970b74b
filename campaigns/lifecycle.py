"""A recipient's status precedence and the campaign counters that follow it (Promises 4 and 5).

Every recipient status change goes through this module, so the counters move
exactly when a row really changed, by F() expressions in the same transaction.

Precedence (a status never moves backwards):
    pending, skipped, cancelled < queued < unknown < sent < failed < delivered < read
`failed` ranks above `sent` so that a failure can land after sent/unknown/queued,
and a (rare) delivered or read for the same message still wins: applying a set
of events in any order ends in the same state. Each event's timestamp is kept
as the earliest seen for its column, for the same reason; and a row that ends
delivered or read carries no failure (a `failed` that lost to a delivery is
reported back to the caller, not written on the row).

Webhook statuses arrive by the thousand: `recipients_advance_statuses` applies
a whole batch of them with one statement on PostgreSQL (docs/architecture.md,
Promises 4 and 5).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db import connection, transaction
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
    # refused: retry later or paused campaign / refused for good / no answer; never handed to the network;
    # its contact erased (a batch dispatches only queued rows, so it is never sent from then on)
    S.QUEUED: frozenset({S.PENDING, S.FAILED, S.UNKNOWN, S.CANCELLED}),
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
    stamps = status != S.FAILED or moves or old == S.FAILED  # failed_at belongs to failed rows only
    for column in TIMESTAMPS.get(status, ()) if stamps else ():
        if row[column] is None or at < row[column]:
            changes[column] = at
    if message_id and not row["message_id"]:
        changes["message_id"] = message_id
    if error and moves:
        # Only the move records an error: a duplicate or a failure that lost to a delivery leaves the row's alone.
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


# --- Webhook statuses, a batch at a time ------------------------------------------


@dataclass(frozen=True)
class StatusUpdate:
    """One webhook status: its recipient is the row with `message_id`, else row `tracker` while it has none."""

    message_id: str | None
    tracker: int | None
    status: str  # sent, delivered, read or failed
    at: dt.datetime
    error: dict | None = None  # error_code, error_title, error_details, error_reason of a failure


@dataclass(frozen=True)
class StatusOutcome:
    """What a batch of updates did to one recipient row."""

    recipient_id: int
    campaign_id: int
    old: str
    new: str
    updates: tuple[int, ...]  # positions in the batch of the updates that found this row
    changed: bool  # the row was written (a move, an earlier time, a message id)
    clamped: bool  # a time before the row was queued: the queued time was used
    late_failure: bool  # a `failed` that lost to delivered/read: not written on the row


_STAMPED = ("sent_at", "delivered_at", "read_at", "failed_at")
_ERROR_COLUMNS = ("error_code", "error_title", "error_details", "error_reason")


def recipients_advance_statuses(*, updates: list[StatusUpdate]) -> list[StatusOutcome]:
    """Apply a batch of webhook statuses by the precedence rule; counters and day rows move for rows that moved.

    One transaction. On PostgreSQL one statement finds, locks (in id order),
    decides and updates every row (`_STATUSES_SQL`), whatever the batch's
    size; elsewhere a loop over the batch's rows applies the same rules. Per
    row, the batch's updates act as one: the highest-ranked status, the
    earliest time per column, the earliest failure's error. A time before the
    row was queued (impossible for a real status) becomes the queued time.
    Counters then move by one UPDATE per campaign and one per campaign day.
    Replaying a batch changes nothing (Promise 5).
    """
    if not updates:
        return []
    with transaction.atomic():
        apply = _advance_statuses_sql if connection.vendor == "postgresql" else _advance_statuses_rows
        rows = apply(updates)
        _count_moves(rows)
    return [
        StatusOutcome(
            recipient_id=row["id"],
            campaign_id=row["campaign_id"],
            old=row["status"],
            new=row["new_status"],
            updates=tuple(row["ords"]),
            changed=row["changed"],
            clamped=bool(row["clamped"]),
            late_failure=row["late_failure"],
        )
        for row in rows
    ]


def _count_moves(rows: list[dict]) -> None:
    """Counter deltas per campaign for rows whose status moved; day rows for rows whose times changed.

    A day row counts the recipients whose sent/delivered/read/failed time
    falls on that day (what campaign_days_rebuild recounts), so it follows the
    columns, not the moves: a batch folds a row's statuses into one move (sent
    then failed is one move to failed, yet the row was sent that day), an
    earlier time moves the row to an earlier day, and a row that leaves failed
    for delivered no longer counts as failed.
    """
    deltas: dict[int, Counter] = defaultdict(Counter)
    days: dict[tuple[int, dt.date], Counter] = defaultdict(Counter)
    for row in rows:
        campaign_id = row["campaign_id"]
        if row["status"] != row["new_status"]:
            deltas[campaign_id].update(counter_deltas(row["status"], row["new_status"]))
        for name in DAY_COUNTERS:
            old_day, new_day = row[f"{name}_day"], row[f"new_{name}_day"]
            if old_day != new_day:
                if old_day:
                    days[campaign_id, old_day][name] -= 1
                if new_day:
                    days[campaign_id, new_day][name] += 1
    for campaign_id in sorted(deltas):
        campaign_bump(campaign_id=campaign_id, deltas={k: v for k, v in deltas[campaign_id].items() if v})
    for (campaign_id, day), counts in sorted(days.items()):
        campaign_day_add(campaign_id=campaign_id, day=day, counts={k: v for k, v in counts.items() if v})


def _sets(column: str) -> list[str]:
    """The statuses whose event sets `column` (TIMESTAMPS)."""
    return [status for status, columns in TIMESTAMPS.items() if column in columns]


# Per batch: `ev` unnests the updates; `matched` finds each one's row (message id, else tracker while the row has
# no message id); `agg` folds a row's updates into one; `locked` locks the rows in id order (the order every
# recipient writer uses); `plan` decides against the locked values; `upd` writes only rows that change; the final
# SELECT returns old and new values, so the caller moves counters for exactly the rows that moved.
_STATUSES_SQL = """
WITH ev AS (
    SELECT * FROM unnest(%(ord)s::int[], %(message_id)s::text[], %(tracker)s::bigint[], %(status)s::text[],
                         %(rank)s::int[], %(at)s::timestamptz[], %(has_error)s::bool[], %(error_code)s::int[],
                         %(error_title)s::text[], %(error_details)s::text[], %(error_reason)s::text[])
        AS e(ord, message_id, tracker, status, rank, at, has_error, error_code, error_title, error_details,
             error_reason)
),
ranks AS (SELECT * FROM unnest(%(rank_names)s::text[], %(rank_values)s::int[]) AS k(status, rank)),
matched AS MATERIALIZED (
    -- Scalar subqueries: one index probe per status, whatever the table's size (a join would hash the table);
    -- the tracker's probe (by primary key only) runs when the message id found nothing.
    SELECT COALESCE(
               (SELECT r.id FROM {table} r WHERE r.message_id = ev.message_id),
               (SELECT CASE WHEN r.message_id IS NULL THEN r.id END FROM {table} r WHERE r.id = ev.tracker)
           ) AS id,
           ev.*
    FROM ev
),
agg AS (
    SELECT id,
           max(rank) AS rank,
           (array_agg(status ORDER BY rank DESC))[1] AS status,
           min(at) AS earliest,
           min(at) FILTER (WHERE status = ANY(%(sets_sent_at)s::text[])) AS sent_at,
           min(at) FILTER (WHERE status = ANY(%(sets_delivered_at)s::text[])) AS delivered_at,
           min(at) FILTER (WHERE status = ANY(%(sets_read_at)s::text[])) AS read_at,
           min(at) FILTER (WHERE status = ANY(%(sets_failed_at)s::text[])) AS failed_at,
           bool_or(has_error) AS has_error,
           (array_agg(error_code ORDER BY at, ord) FILTER (WHERE has_error))[1] AS error_code,
           (array_agg(error_title ORDER BY at, ord) FILTER (WHERE has_error))[1] AS error_title,
           (array_agg(error_details ORDER BY at, ord) FILTER (WHERE has_error))[1] AS error_details,
           (array_agg(error_reason ORDER BY at, ord) FILTER (WHERE has_error))[1] AS error_reason,
           min(message_id) AS message_id,
           array_agg(ord ORDER BY ord) AS ords
    FROM matched WHERE id IS NOT NULL GROUP BY id
),
locked AS MATERIALIZED (
    SELECT r.id, r.campaign_id, r.status, r.message_id, r.sent_at, r.delivered_at, r.read_at, r.failed_at,
           COALESCE(r.queued_at, r.claimed_at) AS floor
    FROM {table} r WHERE r.id IN (SELECT id FROM agg) ORDER BY r.id FOR UPDATE OF r
),
moves AS (
    SELECT l.*, a.ords, a.has_error, a.error_code, a.error_title, a.error_details, a.error_reason,
           a.rank > o.rank AS moves,
           CASE WHEN a.rank > o.rank THEN a.status ELSE l.status END AS new_status,
           a.earliest < l.floor AS clamped,
           CASE WHEN a.sent_at IS NOT NULL THEN GREATEST(a.sent_at, l.floor) END AS seen_sent_at,
           CASE WHEN a.delivered_at IS NOT NULL THEN GREATEST(a.delivered_at, l.floor) END AS seen_delivered_at,
           CASE WHEN a.read_at IS NOT NULL THEN GREATEST(a.read_at, l.floor) END AS seen_read_at,
           CASE WHEN a.failed_at IS NOT NULL THEN GREATEST(a.failed_at, l.floor) END AS seen_failed_at,
           COALESCE(l.message_id, a.message_id) AS new_message_id
    FROM locked l JOIN agg a USING (id) JOIN ranks o ON o.status = l.status
),
plan AS (
    SELECT m.*,
           LEAST(m.sent_at, m.seen_sent_at) AS new_sent_at,
           LEAST(m.delivered_at, m.seen_delivered_at) AS new_delivered_at,
           LEAST(m.read_at, m.seen_read_at) AS new_read_at,
           CASE WHEN m.new_status = %(failed)s THEN LEAST(m.failed_at, m.seen_failed_at)
                WHEN m.status = %(failed)s THEN NULL
                ELSE m.failed_at END AS new_failed_at,
           m.new_status = %(failed)s AND m.has_error AND m.seen_failed_at IS NOT NULL
               AND (m.moves OR m.failed_at IS NULL OR m.seen_failed_at < m.failed_at) AS write_error,
           m.status = %(failed)s AND m.new_status <> %(failed)s AS clear_error,
           m.seen_failed_at IS NOT NULL AND m.new_status <> %(failed)s AS late_failure
    FROM moves m
),
decided AS (
    SELECT p.*,
           p.moves OR p.write_error OR p.clear_error
               OR p.new_sent_at IS DISTINCT FROM p.sent_at OR p.new_delivered_at IS DISTINCT FROM p.delivered_at
               OR p.new_read_at IS DISTINCT FROM p.read_at OR p.new_failed_at IS DISTINCT FROM p.failed_at
               OR p.new_message_id IS DISTINCT FROM p.message_id AS changed
    FROM plan p
),
upd AS (
    UPDATE {table} r SET
        status = d.new_status,
        sent_at = d.new_sent_at,
        delivered_at = d.new_delivered_at,
        read_at = d.new_read_at,
        failed_at = d.new_failed_at,
        message_id = d.new_message_id,
        attempts = r.attempts + CASE WHEN d.moves AND d.status = %(queued)s THEN 1 ELSE 0 END,
        error_code = CASE WHEN d.write_error THEN d.error_code WHEN d.clear_error THEN NULL ELSE r.error_code END,
        error_title = CASE WHEN d.write_error THEN d.error_title WHEN d.clear_error THEN '' ELSE r.error_title END,
        error_details = CASE WHEN d.write_error THEN d.error_details WHEN d.clear_error THEN ''
                             ELSE r.error_details END,
        error_reason = CASE WHEN d.write_error THEN d.error_reason WHEN d.clear_error THEN ''
                            ELSE r.error_reason END
    FROM decided d WHERE r.id = d.id AND d.changed
    RETURNING r.id
)
SELECT id, campaign_id, status, new_status, clamped, late_failure, changed, ords,
       (sent_at AT TIME ZONE %(tz)s)::date AS sent_day, (new_sent_at AT TIME ZONE %(tz)s)::date AS new_sent_day,
       (delivered_at AT TIME ZONE %(tz)s)::date AS delivered_day,
       (new_delivered_at AT TIME ZONE %(tz)s)::date AS new_delivered_day,
       (read_at AT TIME ZONE %(tz)s)::date AS read_day, (new_read_at AT TIME ZONE %(tz)s)::date AS new_read_day,
       (failed_at AT TIME ZONE %(tz)s)::date AS failed_day, (new_failed_at AT TIME ZONE %(tz)s)::date AS new_failed_day
FROM decided ORDER BY id
"""


def _advance_statuses_sql(updates: list[StatusUpdate]) -> list[dict]:
    errors = [update.error or {} for update in updates]
    params = {
        "ord": list(range(len(updates))),
        "message_id": [update.message_id for update in updates],
        "tracker": [update.tracker for update in updates],
        "status": [update.status for update in updates],
        "rank": [RANK[update.status] for update in updates],
        "at": [update.at for update in updates],
        "has_error": [bool(error) for error in errors],
        **{column: [error.get(column) for error in errors] for column in _ERROR_COLUMNS},
        "rank_names": list(RANK),
        "rank_values": list(RANK.values()),
        **{f"sets_{column}": _sets(column) for column in _STAMPED},
        "failed": S.FAILED,
        "queued": S.QUEUED,
        "tz": timezone.get_current_timezone_name(),  # calendar days in TIME_ZONE, by conversion
    }
    with connection.cursor() as cursor:
        cursor.execute(_STATUSES_SQL.format(table=Recipient._meta.db_table), params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _advance_statuses_rows(updates: list[StatusUpdate]) -> list[dict]:
    """The same decisions as _STATUSES_SQL, row by row (SQLite: one writer at a time, batches are small)."""
    message_ids = {u.message_id for u in updates if u.message_id}
    by_message = dict(Recipient.objects.filter(message_id__in=message_ids).values_list("message_id", "id"))
    trackers = {u.tracker for u in updates if u.tracker is not None and u.message_id not in by_message}
    untracked = set(Recipient.objects.filter(pk__in=trackers, message_id__isnull=True).values_list("id", flat=True))
    ords: dict[int, list[int]] = defaultdict(list)
    for n, update in enumerate(updates):
        recipient_id = by_message.get(update.message_id)
        if recipient_id is None and update.tracker in untracked:
            recipient_id = update.tracker
        if recipient_id is not None:
            ords[recipient_id].append(n)
    columns = ("id", "campaign_id", "status", "message_id", "queued_at", "claimed_at", *_STAMPED)
    locked = Recipient.objects.select_for_update().filter(pk__in=list(ords)).order_by("pk").values(*columns)
    rows = []
    for row in locked:
        row_updates = [updates[n] for n in ords[row["id"]]]
        plan = _plan_row(row, row_updates)
        changes = plan.pop("changes")
        if changes:
            Recipient.objects.filter(pk=row["id"], status=row["status"]).update(**changes)
        rows.append({**row, **plan, "ords": ords[row["id"]]})
    return rows


def _plan_row(row: dict, updates: list[StatusUpdate]) -> dict:
    old = row["status"]
    floor = row["queued_at"] or row["claimed_at"]
    top = max(updates, key=lambda u: RANK[u.status])
    moves = RANK[top.status] > RANK[old]
    new = top.status if moves else old

    def seen(column: str) -> dt.datetime | None:
        times = [u.at for u in updates if column in TIMESTAMPS[u.status]]
        return max(min(times), floor) if times and floor else min(times, default=None)

    def earliest(column: str) -> dt.datetime | None:
        return min((t for t in (row[column], seen(column)) if t is not None), default=None)

    new_at = {column: earliest(column) for column in ("sent_at", "delivered_at", "read_at")}
    seen_failed = seen("failed_at")
    if new == S.FAILED:
        new_at["failed_at"] = earliest("failed_at")
    else:
        new_at["failed_at"] = None if old == S.FAILED else row["failed_at"]
    failures = sorted((u for u in updates if u.status == S.FAILED and u.error), key=lambda u: u.at)
    write_error = bool(
        new == S.FAILED and failures and (moves or not row["failed_at"] or seen_failed < row["failed_at"])
    )
    clear_error = old == S.FAILED and new != S.FAILED
    changes: dict = {column: value for column, value in new_at.items() if value != row[column]}
    if moves:
        changes["status"] = new
        if old == S.QUEUED:
            changes["attempts"] = F("attempts") + 1
    message_ids = [u.message_id for u in updates if u.message_id]
    if not row["message_id"] and message_ids:
        changes["message_id"] = min(message_ids)
    if write_error:
        changes.update(failures[0].error)
    elif clear_error:
        changes.update(error_code=None, error_title="", error_details="", error_reason="")
    return {
        "new_status": new,
        **{f"{column.removesuffix('_at')}_day": _day(row[column]) for column in _STAMPED},
        **{f"new_{column.removesuffix('_at')}_day": _day(value) for column, value in new_at.items()},
        "clamped": bool(floor and min(u.at for u in updates) < floor),
        "late_failure": seen_failed is not None and new != S.FAILED,
        "changed": bool(changes),
        "changes": changes,
    }


def _day(moment: dt.datetime | None) -> dt.date | None:
    return local_day(moment) if moment is not None else None


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
