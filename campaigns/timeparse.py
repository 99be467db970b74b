"""ISO-8601 instants from the command line (naive ones are read in TIME_ZONE)."""

import datetime as dt

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from campaigns.clock import as_utc


def aware(value: str, option: str) -> dt.datetime:
    """The instant `value` names, in UTC; without an offset it is local time in TIME_ZONE.

    UTC, not the local zone: a datetime carrying Europe/Berlin would make
    `now - 24 h` wall-clock arithmetic downstream (campaigns/clock.py).
    """
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"{option}: {value!r} is not an ISO-8601 date and time")
    return as_utc(parsed)
