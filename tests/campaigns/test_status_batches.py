"""A webhook body's statuses applied at once (lifecycle.recipients_advance_statuses), Promises 4 and 5 at scale:
a fixed number of statements per batch, the same decisions as row by row, no deadlock between concurrent batches,
counters and day rows equal to a recount."""

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import lifecycle
from campaigns.batch import batch_send
from campaigns.models import CampaignDay, Recipient
from campaigns.services import _status_update, campaign_days_rebuild, campaign_recount, recipients_apply_statuses
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from whatsapp.events import ErrorInfo, StatusEvent

R = Recipient.Status
FIELDS = ("status", "message_id", "attempts", "sent_at", "delivered_at", "read_at", "failed_at", "error_code",
          "error_title", "error_reason")  # fmt: skip


def event(row, status, *, minutes=1, code=None, by_tracker=False, message_id=None):
    return StatusEvent(
        message_id=message_id or row.message_id or f"wamid.late.{row.pk}",
        status=status,
        timestamp=START + dt.timedelta(minutes=minutes),
        recipient=row.phone.removeprefix("+"),
        tracker=str(row.pk) if by_tracker else None,
        errors=[ErrorInfo(code=code, title=f"T{code}", message="m", details="d")] if code else [],
    )


@pytest.fixture(autouse=True)
def _room_to_send(settings):
    settings.WHATSAPP_DAILY_LIMIT = 1000
    settings.WHATSAPP_MAX_MPS = 0  # no throttle: the sends only set the scene


def day_rows(campaign):
    return {
        d.day: (d.sent, d.delivered, d.read, d.failed)
        for d in CampaignDay.objects.filter(campaign=campaign)
        if (d.sent, d.delivered, d.read, d.failed) != (0, 0, 0, 0)
    }


def assert_days_match_rebuild(campaign):
    kept = day_rows(campaign)
    campaign_days_rebuild(campaign=campaign)
    assert day_rows(campaign) == kept


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_batch_is_one_statement_on_the_recipients_whatever_its_size():
    campaign = running_campaign(300)
    batch_send(now=START)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    counts = []
    for batch in (rows[:10], rows[10:]):
        with CaptureQueriesContext(connection) as queries:
            recipients_apply_statuses(events=[event(row, "delivered") for row in batch])
        counts.append(len(queries))
        assert sum("campaigns_recipient" in q["sql"] for q in queries) == 1
    assert counts[0] == counts[1] <= 6  # the statement, one counter update, one day row, savepoint and release
    assert set(Recipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == {R.DELIVERED}
    assert_counters_match_recount(campaign)
    assert_days_match_rebuild(campaign)


@pytest.mark.django_db
def test_a_replayed_batch_changes_nothing_and_counts_nothing():
    campaign = running_campaign(5)
    batch_send(now=START)
    rows = list(Recipient.objects.filter(campaign=campaign))
    batch = [event(row, status, minutes=n) for n, row in enumerate(rows) for status in ("read", "delivered", "sent")]
    recipients_apply_statuses(events=batch)
    before = [tuple(getattr(r, f) for f in FIELDS) for r in Recipient.objects.filter(campaign=campaign).order_by("id")]
    days_before = day_rows(campaign)

    outcomes = lifecycle.recipients_advance_statuses(updates=[_status_update(e) for e in reversed(batch)])

    assert not any(o.changed for o in outcomes)
    after = [tuple(getattr(r, f) for f in FIELDS) for r in Recipient.objects.filter(campaign=campaign).order_by("id")]
    assert after == before
    assert day_rows(campaign) == days_before
    assert_counters_match_recount(campaign)


# --- the statement and the row-by-row path decide alike ---------------------------------------------------------------
def campaign_with_an_unknown_send():
    """Four recipients queued at START: three sent with message ids, one unknown (no message id: found by tracker).

    Set by UPDATE, not by sending: hypothesis runs many examples in one test's transaction, and sends would use up
    the day's limit. The counters and day rows are then recounted from the rows, as the batch would leave them.
    """
    campaign = running_campaign(4)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("position"))
    Recipient.objects.filter(pk=rows[0].pk).update(status=R.UNKNOWN, attempts=1, queued_at=START, claimed_at=START)
    for row in rows[1:]:
        Recipient.objects.filter(pk=row.pk).update(
            status=R.SENT, attempts=1, queued_at=START, claimed_at=START, sent_at=START, message_id=f"wamid.{row.pk}"
        )
    campaign_recount(campaign=campaign)
    campaign_days_rebuild(campaign=campaign)
    return campaign, list(Recipient.objects.filter(campaign=campaign).order_by("position"))


def apply_row_by_row(updates):
    with transaction.atomic():
        lifecycle._count_moves(lifecycle._advance_statuses_rows(updates))


steps = st.lists(
    st.tuples(
        st.integers(0, 3),  # which recipient
        st.sampled_from(["sent", "delivered", "read", "failed"]),
        st.integers(-90, 90),  # minutes from START: before START is before the send was queued
        st.sampled_from([None, 131026, 131049]),
        st.integers(0, 2),  # which batch
    ),
    min_size=1,
    max_size=14,
)


@pytest.mark.postgres
@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_the_statement_decides_like_the_row_by_row_path(steps):
    (one, rows_one), (two, rows_two) = campaign_with_an_unknown_send(), campaign_with_an_unknown_send()
    for batch in range(3):
        for campaign, rows, apply in ((one, rows_one, None), (two, rows_two, apply_row_by_row)):
            events = [
                event(rows[i], s, minutes=m, code=code if s == "failed" else None, by_tracker=i == 0,
                      message_id=f"wamid.{campaign.pk}.late" if i == 0 else None)
                for i, s, m, code, b in steps
                if b == batch
            ]  # fmt: skip
            if apply is None:
                recipients_apply_statuses(events=events)  # the statement (PostgreSQL)
            else:
                apply([u for u in map(_status_update, events) if u is not None])

    def state(rows):  # in the rows' roles (the unknown send first); message ids differ between the campaigns
        fresh = Recipient.objects.in_bulk([r.pk for r in rows])
        return [tuple(getattr(fresh[r.pk], f) for f in FIELDS if f != "message_id") for r in rows]

    assert state(rows_one) == state(rows_two)
    for campaign in (one, two):
        assert_counters_match_recount(campaign)
        assert_days_match_rebuild(campaign)
    assert day_rows(one) == day_rows(two)


# --- concurrent batches ----------------------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_on_the_same_rows_neither_deadlock_nor_drift():
    campaign = running_campaign(200)
    batch_send(now=START)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    errors = []

    def apply(events):
        try:
            for _ in range(5):
                recipients_apply_statuses(events=events)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    forward = [event(row, "delivered", minutes=2) for row in rows]
    backward = [event(row, s, minutes=3) for row in reversed(rows) for s in ("read", "failed")]
    threads = [threading.Thread(target=apply, args=(batch,)) for batch in (forward, backward, forward[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert set(Recipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == {R.READ}
    assert_counters_match_recount(campaign)
    assert_days_match_rebuild(campaign)


@pytest.mark.django_db
def test_a_status_counts_on_its_calendar_day_in_time_zone(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # UTC-3: 01:30 UTC on the 3rd is still the 2nd there
    campaign = running_campaign(1)
    batch_send(now=START)
    row = Recipient.objects.get(campaign=campaign)
    late_evening = dt.datetime(2026, 3, 3, 1, 30, tzinfo=dt.UTC)
    recipients_apply_statuses(events=[event(row, "read", minutes=int((late_evening - START).total_seconds() // 60))])
    assert day_rows(campaign)[dt.date(2026, 3, 2)] == (1, 1, 1, 0)
    assert_days_match_rebuild(campaign)
