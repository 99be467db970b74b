"""The send plan's arithmetic, as pure functions (no database, no clock).

- `split_quota`: what is left of the messaging limit, shared across running
  campaigns by priority weight; shares a campaign cannot use go to the others.
- `continuation_at`: when a batch that found the 24-hour window full should run
  again, kept inside the sending hours.
- `daily_share` / `estimated_send_day`: the estimate shown to operators.
- `capped_completion`: the estimated completion once the frequency cap held
  some recipients back.
- `retry_delay`: the exponential back-off of transient errors.

Everything here is deterministic so the batch is too, and each function has
its unit tests in tests/campaigns/test_planning.py. Instants come in and go
out as UTC (campaigns/clock.py): a local time in `tz` is only ever built from
a date and a clock time, never by adding hours to a local datetime.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaigns.clock import as_utc


@dataclass(frozen=True)
class Demand:
    """One running campaign's claim on this batch: its weight and what it can use."""

    campaign_id: int
    priority: int
    capacity: int  # min(due recipients, what is left of its own daily cap)


def split_quota(left: int, demands: list[Demand]) -> dict[int, int]:
    """Share `left` messages across campaigns in proportion to priority.

    Water-filling: each round gives every campaign that still wants messages
    floor(remaining * priority / total priority), capped at what it can use;
    what a campaign cannot use stays in the pot for the next round. When the
    floors give nothing (the pot is smaller than the number of campaigns), the
    remaining units go one each by largest remainder, then higher priority,
    then lower id: deterministic.

    Guarantees: sum(result) <= left; result[c] <= c.capacity; nothing is left
    over while some campaign could still use it; equal priorities get equal
    shares (125 + 125 of 250).
    """
    allocation = {demand.campaign_id: 0 for demand in demands}
    remaining = max(0, int(left))
    while remaining > 0:
        active = [d for d in demands if allocation[d.campaign_id] < d.capacity and d.priority > 0]
        if not active:
            break
        total_weight = sum(d.priority for d in active)
        given = 0
        for demand in active:
            share = remaining * demand.priority // total_weight
            grant = min(share, demand.capacity - allocation[demand.campaign_id])
            allocation[demand.campaign_id] += grant
            given += grant
        remaining -= given
        if given == 0:
            order = sorted(
                active,
                key=lambda d: (-(remaining * d.priority % total_weight), -d.priority, d.campaign_id),
            )
            for demand in order:
                if remaining == 0:
                    break
                allocation[demand.campaign_id] += 1
                remaining -= 1
    return allocation


def parse_clock(value: str) -> dt.time:
    """'09:00' -> time(9, 0)."""
    hours, _, minutes = value.partition(":")
    return dt.time(int(hours), int(minutes or 0))


def clamp_to_send_window(moment: dt.datetime, *, start: dt.time, end: dt.time, tz: dt.tzinfo) -> dt.datetime:
    """The first instant (UTC) at or after `moment` that lies within the daily sending hours [start, end) in `tz`."""
    moment = as_utc(moment)
    local = moment.astimezone(tz)
    day_start = as_utc(dt.datetime.combine(local.date(), start, tzinfo=tz))
    day_end = as_utc(dt.datetime.combine(local.date(), end, tzinfo=tz))
    if start <= end:
        if moment < day_start:
            return day_start
        if moment >= day_end:
            return as_utc(dt.datetime.combine(local.date() + dt.timedelta(days=1), start, tzinfo=tz))
        return moment
    # A window over midnight (e.g. 20:00-06:00): outside only between end and start.
    if day_end <= moment < day_start:
        return day_start
    return moment


def continuation_at(
    *,
    now: dt.datetime,
    frees_at: dt.datetime | None,
    retry_at: dt.datetime | None,
    start: dt.time,
    end: dt.time,
    tz: dt.tzinfo,
) -> dt.datetime | None:
    """When the batch should run again today, or None to wait for the schedule.

    `frees_at` is when the 24-hour window will have room for the rest of the
    day's plan (the batch found the window full, not the day); `retry_at` the
    earliest back-off of a transient retry. The earliest of the two, never in
    the past, moved into the sending hours. A moment that falls on a later
    calendar day is left to the regular schedule (the day's share resets).
    """
    now = as_utc(now)
    candidates = [as_utc(moment) for moment in (frees_at, retry_at) if moment is not None]
    if not candidates:
        return None
    moment = max(min(candidates), now + dt.timedelta(seconds=1))
    moment = clamp_to_send_window(moment, start=start, end=end, tz=tz)
    if moment.astimezone(tz).date() != now.astimezone(tz).date():
        return None
    return moment


def daily_share(*, limit: int, running_campaigns: int, daily_cap: int | None) -> int:
    """The messages a campaign can expect per day: limit / running campaigns, at most its own cap, at least 1."""
    share = max(1, limit // max(1, running_campaigns))
    if daily_cap:
        share = min(share, daily_cap)
    return max(1, share)


def estimated_send_day(*, base_day: dt.date, ahead: int, share: int, first_day: int | None = None) -> dt.date:
    """A recipient with `ahead` recipients before it in line goes out on base_day + ahead // share.

    `first_day` is what base_day itself still has room for when it is less
    than a full share (activation today, with part of the day's limit already
    used): the first `first_day` go out on base_day, the rest a share a day after.
    """
    share = max(1, share)
    first = share if first_day is None else max(0, min(first_day, share))
    if ahead < first:
        return base_day
    return base_day + dt.timedelta(days=1 + (ahead - first) // share)


def capped_completion(*, estimated: dt.date | None, held_back: int, frees_on: dt.date | None) -> dt.date | None:
    """The estimated completion with the frequency cap: not before the day the last held-back recipient may go.

    `held_back` recipients wait for their phones to leave the cap's days
    (campaigns/frequency.py); `frees_on` is that day at the latest. They are
    sent then, never dropped, so the campaign cannot finish earlier.
    """
    if not held_back or frees_on is None:
        return estimated
    return frees_on if estimated is None else max(estimated, frees_on)


def retry_delay(attempts: int, *, base_seconds: int = 60, max_seconds: int = 6 * 3600) -> dt.timedelta:
    """Exponential back-off after the n-th failed attempt: 1 min, 2, 4, 8 ... at most 6 h."""
    return dt.timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))
