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
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from campaigns.models import Campaign

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
    other columns written by the same UPDATE (pause reason, ...).
    """
    return campaigns.filter(status__in=sources(to, from_)).update(status=to, updated_at=now, **changes)


def campaign_move(*, campaign_id: int, to: str, now: dt.datetime, from_: set[str] | None = None, **changes) -> bool:
    """campaigns_move for one campaign: True when this call moved it."""
    return bool(campaigns_move(Campaign.objects.filter(pk=campaign_id), to=to, now=now, from_=from_, **changes))
