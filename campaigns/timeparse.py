"""ISO-8601 instants from the command line (naive ones are read in TIME_ZONE)."""

import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def aware(value: str, option: str) -> dt.datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"{option}: {value!r} is not an ISO-8601 date and time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
