"""Instants are UTC: one helper that every service taking `now` applies first (docs/architecture.md, promise 10).

Python adds and subtracts a timedelta on an aware datetime in its *wall
clock* when the datetime carries a zone such as Europe/Berlin:
`berlin_noon - timedelta(hours=24)` is 23 or 25 real hours earlier across a
daylight-saving switch. On UTC datetimes the arithmetic is exact. So windows,
lease cutoffs, retry delays and continuations are computed on `as_utc(now)`,
and a calendar day in TIME_ZONE is found by converting an instant
(`local_day`), never by subtracting hours from a local time.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def as_utc(moment: dt.datetime) -> dt.datetime:
    """The same instant in UTC; a naive `moment` is first read as local time in TIME_ZONE.

    A naive local time that a switch skips or repeats (02:30 on the spring
    day, 02:30 twice in autumn) is read with the offset in force before the
    switch (Python's fold=0), as django.utils.timezone.make_aware does.
    """
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment.astimezone(dt.UTC)


def local_day(moment: dt.datetime) -> dt.date:
    """The calendar day of the instant `moment` in TIME_ZONE (whatever time zone is activated)."""
    return as_utc(moment).astimezone(timezone.get_default_timezone()).date()
