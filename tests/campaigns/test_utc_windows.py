"""Time windows are computed on UTC instants; calendar days in TIME_ZONE by conversion.

`now - timedelta(hours=24)` on a datetime carrying Europe/Berlin is wall-clock
arithmetic: 23 real hours across the spring switch. These tests run the send
batch hourly across both Berlin switches of 2026 (29 March, 25 October) from
the command line, with naive (local) and aware `--as-of` values, and count the
ledger's and the recipients' UTC instants; then the helper and each piece of
time arithmetic (window, lease cutoff, retry delay, continuation) on its own.
"""

import bisect
import datetime as dt
import io
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from campaigns.batch import batch_send, recipients_expire_leases
from campaigns.clock import as_utc, local_day
from campaigns.models import Campaign, QuotaReservation, Recipient
from campaigns.planning import clamp_to_send_window, continuation_at
from campaigns.quota import quota_frees_at, quota_reserve, quota_usage
from campaigns.timeparse import aware
from tests.campaigns.helpers import running_campaign
from tests.factories.campaigns import RecipientFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import WhatsAppError

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
LIMIT = 100
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(hours=24)
R = Recipient.Status

# Local midnight two days before each switch: 72 hourly batches cover the day
# before, the switch day and the day after.
SPRING = dt.datetime(2026, 3, 28, 0, 0)  # clocks go 02:00 CET -> 03:00 CEST on Sunday 29 March
AUTUMN = dt.datetime(2026, 10, 24, 0, 0)  # clocks go 03:00 CEST -> 02:00 CET on Sunday 25 October
RUNS = 72


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    settings.WHATSAPP_DAILY_LIMIT = LIMIT
    settings.WHATSAPP_MAX_MPS = 0
    settings.WHATSAPP_SEND_THREADS = 1
    return settings


def as_of_values(first_local_midnight: dt.datetime, mode: str) -> list[str]:
    """Hourly `--as-of` values: naive local wall-clock hours, or every UTC hour written with its Berlin offset."""
    if mode == "naive":
        return [(first_local_midnight + i * HOUR).isoformat() for i in range(RUNS)]
    start = first_local_midnight.replace(tzinfo=BERLIN).astimezone(dt.UTC)
    return [(start + i * HOUR).astimezone(BERLIN).isoformat() for i in range(RUNS)]


def most_in_any_24_hours(instants: list[dt.datetime]) -> int:
    """The largest count of instants in any window (t - 24 h, t], t running over the instants (UTC arithmetic)."""
    times = sorted(moment.astimezone(dt.UTC) for moment in instants)
    return max(
        (index + 1 - bisect.bisect_right(times, moment - DAY) for index, moment in enumerate(times)),
        default=0,
    )


def per_berlin_day(instants: list[dt.datetime]) -> Counter:
    return Counter(moment.astimezone(BERLIN).date() for moment in instants)


def run_hourly(first_local_midnight: dt.datetime, mode: str) -> None:
    start = first_local_midnight.replace(tzinfo=BERLIN)
    # More recipients than three days of the limit: the limit binds at every batch.
    running_campaign(4 * LIMIT, now=start - DAY)
    for value in as_of_values(first_local_midnight, mode):
        call_command("send_batch", "--as-of", value, stdout=io.StringIO())


@pytest.mark.parametrize("mode", ["naive", "aware"])
@pytest.mark.parametrize("switch", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_hourly_batches_across_a_switch_never_exceed_the_limit_in_24_hours_or_a_day(berlin, switch, mode):
    run_hourly(switch, mode)

    reserved = list(QuotaReservation.objects.values_list("reserved_at", flat=True))
    sent = list(Recipient.objects.filter(sent_at__isnull=False).values_list("sent_at", flat=True))
    assert len(sent) == len(reserved) >= 3 * LIMIT  # the test sent: the limit was what held it back
    assert most_in_any_24_hours(reserved) == LIMIT
    assert most_in_any_24_hours(sent) == LIMIT
    assert max(per_berlin_day(reserved).values()) == LIMIT
    assert max(per_berlin_day(sent).values()) == LIMIT
    # The ledger's day column is the Berlin date of the instant, found by conversion.
    for reserved_at, day in QuotaReservation.objects.values_list("reserved_at", "day"):
        assert reserved_at.astimezone(BERLIN).date() == day


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["naive", "aware"])
@pytest.mark.parametrize("switch", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_postgres_itself_counts_no_24_hours_and_no_berlin_day_over_the_limit(berlin, switch, mode):
    """The same run, counted by PostgreSQL: timestamptz arithmetic and AT TIME ZONE, independent of Python."""
    run_hourly(switch, mode)
    table = QuotaReservation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT max(n) FROM (
                SELECT count(b.id) AS n FROM {table} a
                JOIN {table} b ON b.reserved_at > a.reserved_at - interval '24 hours' AND b.reserved_at <= a.reserved_at
                GROUP BY a.id
            ) windows
            """  # noqa: S608 (the model's own table name)
        )
        (most_in_a_window,) = cursor.fetchone()
        cursor.execute(
            f"""
            SELECT max(n), count(*) FILTER (WHERE NOT same_day) FROM (
                SELECT count(*) AS n, bool_and(day = (reserved_at AT TIME ZONE 'Europe/Berlin')::date) AS same_day
                FROM {table} GROUP BY (reserved_at AT TIME ZONE 'Europe/Berlin')::date
            ) days
            """  # noqa: S608
        )
        most_in_a_day, days_off = cursor.fetchone()
    assert (most_in_a_window, most_in_a_day, days_off) == (LIMIT, LIMIT, 0)


# --- the helper ---------------------------------------------------------------


def test_as_utc_keeps_the_instant_of_an_aware_datetime(berlin):
    berlin_noon = dt.datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN)  # CEST, UTC+2
    assert as_utc(berlin_noon) == dt.datetime(2026, 3, 29, 10, 0, tzinfo=dt.UTC)
    assert as_utc(berlin_noon).tzinfo is dt.UTC
    assert as_utc(as_utc(berlin_noon)) == as_utc(berlin_noon)
    # Wall clock vs real hours: the same "minus 24 hours" done both ways.
    assert berlin_noon - DAY == dt.datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)  # only 23 real hours earlier
    assert as_utc(berlin_noon) - (as_utc(berlin_noon) - DAY) == DAY
    assert (berlin_noon - as_utc(berlin_noon - DAY)) == dt.timedelta(hours=23)


def test_as_utc_reads_a_naive_datetime_in_time_zone_even_when_another_zone_is_active(berlin):
    with timezone.override(ZoneInfo("America/New_York")):
        assert as_utc(dt.datetime(2026, 1, 15, 9, 0)) == dt.datetime(2026, 1, 15, 8, 0, tzinfo=dt.UTC)
        assert as_utc(dt.datetime(2026, 7, 15, 9, 0)) == dt.datetime(2026, 7, 15, 7, 0, tzinfo=dt.UTC)
        # A skipped (spring) and a repeated (autumn) local time use the offset in force before the switch.
        assert as_utc(dt.datetime(2026, 3, 29, 2, 30)) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
        assert as_utc(dt.datetime(2026, 10, 25, 2, 30)) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


def test_local_day_is_the_time_zone_date_of_the_instant(berlin):
    late_saturday_utc = dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC)  # 00:30 CET on Sunday in Berlin
    with timezone.override(ZoneInfo("America/New_York")):
        assert local_day(late_saturday_utc) == dt.date(2026, 3, 29)
    assert local_day(dt.datetime(2026, 10, 25, 22, 59, tzinfo=dt.UTC)) == dt.date(2026, 10, 25)
    assert local_day(dt.datetime(2026, 10, 25, 23, 0, tzinfo=dt.UTC)) == dt.date(2026, 10, 26)


def test_send_batch_as_of_naive_is_berlin_local_time_and_aware_keeps_its_offset(berlin):
    assert aware("2026-03-29T03:00:00", "--as-of") == dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)
    assert aware("2026-03-29T03:00:00+02:00", "--as-of") == dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)
    assert aware("2026-03-29T01:00:00Z", "--as-of").tzinfo is dt.UTC


# --- each piece of time arithmetic across the spring switch -------------------


def test_the_24_hour_window_is_24_real_hours_across_the_switch(berlin):
    saturday_noon = dt.datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)  # 11:00 UTC
    quota_reserve(now=saturday_noon, campaign_id=None, recipient_ids=[None])
    sunday_noon = dt.datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN)  # 10:00 UTC: 23 real hours later
    assert quota_usage(now=sunday_noon).used_24h == 1
    assert quota_usage(now=sunday_noon.replace(hour=13)).used_24h == 0  # 24 real hours later
    # The row frees the window 24 real hours after it was reserved, whatever zone `now` carries.
    berlin.WHATSAPP_DAILY_LIMIT = 1
    assert quota_frees_at(now=sunday_noon, needed=1) == dt.datetime(2026, 3, 29, 11, 0, tzinfo=dt.UTC)


def test_a_claim_younger_than_the_lease_across_the_switch_stays_queued(berlin):
    berlin.SEND_CLAIM_LEASE_MINUTES = 10
    campaign = running_campaign(1)
    claimed = dt.datetime(2026, 3, 29, 1, 55, tzinfo=BERLIN)  # 00:55 UTC, five minutes before the switch
    live = RecipientFactory(campaign=campaign, status=R.QUEUED, claimed_at=claimed, position=99)
    Campaign.objects.filter(pk=campaign.pk).update(total=2, queued=1)
    # 03:04 CEST is 9 real minutes later; on the wall clock, 69 minutes.
    nothing = {"pending": 0, "unknown": 0}
    assert recipients_expire_leases(now=dt.datetime(2026, 3, 29, 3, 4, tzinfo=BERLIN)) == nothing
    live.refresh_from_db()
    assert live.status == R.QUEUED
    # 11 real minutes: taken back (never dispatched, so pending again)
    assert recipients_expire_leases(now=dt.datetime(2026, 3, 29, 3, 6, tzinfo=BERLIN)) == {"pending": 1, "unknown": 0}


def error(code, http_status=400):
    return WhatsAppError("boom", code=code, title="Title", details="details", http_status=http_status)


def test_131049_waits_24_real_hours_across_the_switch(berlin):
    campaign = running_campaign(1, now=dt.datetime(2026, 3, 28, 0, 0, tzinfo=dt.UTC))
    row = Recipient.objects.get(campaign=campaign)
    LocmemBackend.script_errors({row.phone: error(131049)})
    saturday_noon = dt.datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    batch_send(now=saturday_noon)
    row.refresh_from_db()
    assert row.status == R.PENDING
    assert row.next_attempt_at == as_utc(saturday_noon) + DAY  # 13:00 CEST, not the wall clock's 12:00


def test_a_transient_retry_delay_is_real_time_across_the_switch(berlin):
    berlin.SEND_MAX_ATTEMPTS = 10
    campaign = running_campaign(1, now=dt.datetime(2026, 3, 28, 0, 0, tzinfo=dt.UTC))
    Recipient.objects.filter(campaign=campaign).update(attempts=7)  # the 8th failure backs off 2 h 8 min
    row = Recipient.objects.get(campaign=campaign)
    LocmemBackend.script_errors({row.phone: error(130429, 429)})
    before_the_switch = dt.datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)  # 00:30 UTC
    batch_send(now=before_the_switch)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (R.PENDING, 8)
    assert row.next_attempt_at == dt.datetime(2026, 3, 29, 2, 38, tzinfo=dt.UTC)  # 04:38 CEST, not 03:38


def test_continuation_compares_instants_inside_the_repeated_autumn_hour(berlin):
    now = dt.datetime(2026, 10, 25, 2, 50, tzinfo=BERLIN)  # first 02:50 (CEST): 00:50 UTC
    retry_at = dt.datetime(2026, 10, 25, 2, 10, tzinfo=BERLIN, fold=1)  # second 02:10 (CET): 01:10 UTC, later
    moment = continuation_at(
        now=now, frees_at=None, retry_at=retry_at, start=dt.time(0, 0), end=dt.time(23, 59), tz=BERLIN
    )
    assert moment == dt.datetime(2026, 10, 25, 1, 10, tzinfo=dt.UTC)
    assert moment.tzinfo is dt.UTC


def test_the_sending_hours_open_at_local_nine_after_the_switch(berlin):
    night = dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC)  # 00:30 CET, Sunday
    opens = clamp_to_send_window(night, start=dt.time(9, 0), end=dt.time(20, 0), tz=BERLIN)
    assert opens == dt.datetime(2026, 3, 29, 7, 0, tzinfo=dt.UTC)  # 09:00 CEST
    assert opens.tzinfo is dt.UTC
