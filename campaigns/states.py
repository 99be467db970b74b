"""The campaign state machine: one table of allowed moves, one function that applies them.

Nothing else writes Campaign.status (see docs/architecture.md, "State
machines"). A move is a conditional UPDATE that names the states it moves
from, so two callers racing for the same move cannot both win, and the
return value says whether this call moved anything.

    draft ──activate──▶ scheduled ──start──▶ running ──nothing left──▶ completed
      │                     │  ▲               │  ▲                      │
      │                     ▼  │               ▼  │                      │ top-up, retry failed,
      │                    paused ◀────────────┘  └──────────────────────┘ resend unknown
      └──────────────▶ cancelled ◀── (scheduled, running, paused)
                           └──reopen (retry failed)──▶ running

Moves that other systems hear of (EVENTS) become outbound events in the
move's own transaction: when an endpoint subscribed, the move runs as one
UPDATE ... RETURNING per source status, so the events name exactly the
campaigns this call moved (docs/architecture.md, "Outbound events").
"""

from __future__ import annotations

import datetime as dt

from django.db import connections
from django.db.models import QuerySet
from django.db.models.sql import UpdateQuery

from campaigns.models import Campaign
from outbound.models import EventType
from outbound.payloads import campaign_data
from outbound.services import event_types_wanted, events_emit

C = Campaign.Status

# status -> the statuses it may move to.
MOVES: dict[str, frozenset[str]] = {
    C.DRAFT: frozenset({C.SCHEDULED, C.RUNNING, C.CANCELLED}),
    C.SCHEDULED: frozenset({C.RUNNING, C.PAUSED, C.CANCELLED, C.COMPLETED}),
    C.RUNNING: frozenset({C.PAUSED, C.COMPLETED, C.CANCELLED}),
    C.PAUSED: frozenset({C.RUNNING, C.SCHEDULED, C.CANCELLED}),
    C.COMPLETED: frozenset({C.RUNNING}),  # new recipients (top-up) or recipients sent again (retry, resend)
    C.CANCELLED: frozenset({C.RUNNING}),  # only "retry failed" with reopen, the operator's explicit choice
}


# (from, to) -> the outbound event it raises. scheduled -> running (the start the activation announced) raises none.
EVENTS: dict[tuple[str, str], str] = {
    (C.DRAFT, C.SCHEDULED): EventType.CAMPAIGN_ACTIVATED,
    (C.DRAFT, C.RUNNING): EventType.CAMPAIGN_ACTIVATED,
    **{(source, C.PAUSED): EventType.CAMPAIGN_PAUSED for source in (C.SCHEDULED, C.RUNNING)},
    (C.PAUSED, C.RUNNING): EventType.CAMPAIGN_RESUMED,
    (C.PAUSED, C.SCHEDULED): EventType.CAMPAIGN_RESUMED,
    (C.COMPLETED, C.RUNNING): EventType.CAMPAIGN_RESUMED,  # it has rows to send again
    (C.CANCELLED, C.RUNNING): EventType.CAMPAIGN_RESUMED,  # reopened by "retry failed"
    **{(source, C.COMPLETED): EventType.CAMPAIGN_COMPLETED for source in (C.SCHEDULED, C.RUNNING)},
    **{(source, C.CANCELLED): EventType.CAMPAIGN_CANCELLED for source in (C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED)},
}


class IllegalMove(ValueError):
    """A caller asked for a move the table does not allow: a programming error, never an operator's."""


def sources(to: str, from_: set[str] | frozenset[str] | None = None) -> set[str]:
    """The statuses that may move to `to` (restricted to `from_` when given)."""
    allowed = {status for status, targets in MOVES.items() if to in targets}
    if from_ is not None:
        unknown = set(from_) - allowed
        if unknown:
            raise IllegalMove(f"a campaign cannot move from {sorted(unknown)} to {to}")
        allowed &= set(from_)
    return allowed


def campaigns_move(
    campaigns: QuerySet[Campaign], *, to: str, now: dt.datetime, from_: set[str] | None = None, **changes
) -> int:
    """Move every campaign of `campaigns` that is in an allowed source status to `to`; returns how many moved.

    `from_` narrows the sources (it must be allowed by MOVES); `changes` are
    other columns written by the same UPDATE (pause reason, ...). Set-based
    whatever the number of rows: one UPDATE, or one per source status whose
    move an endpoint listens to (then its events: two INSERTs).
    """
    allowed = sources(to, from_)
    events = {source: EVENTS[source, to] for source in allowed if (source, to) in EVENTS}
    wanted = event_types_wanted() if events else set()
    announced = {source: event_type for source, event_type in events.items() if event_type in wanted}
    values = {"status": to, "updated_at": now, **changes}
    quiet = allowed - announced.keys()
    moved = campaigns.filter(status__in=quiet).update(**values) if quiet else 0
    for source, event_type in sorted(announced.items()):
        rows = _update_returning(campaigns.filter(status=source), values, returning=("id", "name"))
        moved += len(rows)
        items = [
            campaign_data(
                campaign_id=pk,
                name=name,
                status=to,
                previous_status=source,
                at=now,
                reason=changes.get("pause_reason", ""),
                error_code=changes.get("pause_error_code"),
            )  # fmt: skip
            for pk, name in rows
        ]
        events_emit(event_type=event_type, items=items, at=now)
    return moved


def _update_returning(queryset: QuerySet[Campaign], values: dict, *, returning: tuple[str, ...]) -> list[tuple]:
    """queryset.update(**values) as one UPDATE ... RETURNING (PostgreSQL, SQLite 3.35+): the changed rows' columns."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    connection = connections[queryset.db]
    columns = ", ".join(connection.ops.quote_name(Campaign._meta.get_field(name).column) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {columns}", params)
        return cursor.fetchall()


def campaign_move(*, campaign_id: int, to: str, now: dt.datetime, from_: set[str] | None = None, **changes) -> bool:
    """campaigns_move for one campaign: True when this call moved it."""
    return bool(campaigns_move(Campaign.objects.filter(pk=campaign_id), to=to, now=now, from_=from_, **changes))
