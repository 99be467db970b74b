"""Webhook statuses: only forward, idempotent, order-independent; counters always equal a recount."""

import datetime as dt
import json
import random

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.batch import batch_send
from campaigns.models import Recipient
from campaigns.services import recipient_apply_status
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from whatsapp.events import ErrorInfo, StatusEvent
from whatsapp.signals import statuses_received

pytestmark = pytest.mark.django_db
R = Recipient.Status
T0 = START + dt.timedelta(seconds=5)


def event(recipient, status, *, seconds=0, by_tracker=False, code=None):
    return StatusEvent(
        message_id="wamid.other" if by_tracker else recipient.message_id,
        status=status,
        timestamp=T0 + dt.timedelta(seconds=seconds),
        recipient=recipient.phone.removeprefix("+"),
        tracker=str(recipient.pk),
        errors=[ErrorInfo(code=code, title="Bad", message="msg", details="why")] if code else [],
    )


@pytest.fixture
def sent_campaign():
    campaign = running_campaign(2)
    batch_send(now=START)
    return campaign


def test_statuses_received_signal_moves_the_recipient_forward(sent_campaign):
    row = Recipient.objects.filter(campaign=sent_campaign).first()
    statuses_received.send(sender=object, events=[event(row, "delivered", seconds=3)])
    row.refresh_from_db()
    assert (row.status, row.delivered_at) == (R.DELIVERED, T0 + dt.timedelta(seconds=3))
    sent_campaign.refresh_from_db()
    assert (sent_campaign.sent, sent_campaign.delivered) == (2, 1)


def test_a_read_with_no_delivered_also_sets_delivered_and_never_moves_back(sent_campaign):
    row = Recipient.objects.filter(campaign=sent_campaign).first()
    assert recipient_apply_status(event=event(row, "read", seconds=9))
    assert not recipient_apply_status(event=event(row, "delivered", seconds=20))
    assert not recipient_apply_status(event=event(row, "read", seconds=9))  # a replay changes nothing
    row.refresh_from_db()
    assert row.status == R.READ
    assert row.read_at == row.delivered_at == T0 + dt.timedelta(seconds=9)
    assert_counters_match_recount(sent_campaign)


def test_a_failure_records_the_reason(sent_campaign):
    row = Recipient.objects.filter(campaign=sent_campaign).first()
    recipient_apply_status(event=event(row, "failed", code=131026))
    row.refresh_from_db()
    assert (row.status, row.error_code, row.error_reason) == (R.FAILED, 131026, "Error 131026: Bad - msg (why)")
    assert_counters_match_recount(sent_campaign)


def test_an_unknown_send_is_resolved_by_its_tracker():
    from whatsapp.backends.locmem import LocmemBackend
    from whatsapp.errors import ErrorKind, WhatsAppError

    campaign = running_campaign(1)
    LocmemBackend.queue_errors(WhatsAppError("timeout", kind=ErrorKind.UNKNOWN_OUTCOME))
    batch_send(now=START)
    row = Recipient.objects.get(campaign=campaign)
    assert row.status == R.UNKNOWN and row.message_id is None
    assert recipient_apply_status(event=event(row, "delivered", by_tracker=True))
    row.refresh_from_db()
    assert (row.status, row.message_id) == (R.DELIVERED, "wamid.other")
    assert_counters_match_recount(campaign)


def test_unknown_message_ids_are_ignored():
    fake = Recipient(pk=10**9, phone="+14155550000", message_id="wamid.nobody")
    assert recipient_apply_status(event=event(fake, "delivered")) is False


statuses = st.lists(st.sampled_from(["sent", "delivered", "read", "failed"]), min_size=1, max_size=4, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=statuses, seed=st.integers(0, 10**6), copies=st.integers(1, 3))
def test_any_order_of_duplicated_events_ends_in_the_same_state_and_counters_match(chosen, seed, copies):
    campaign = running_campaign(2)
    batch_send(now=START)
    a, b = Recipient.objects.filter(campaign=campaign).order_by("position")
    offsets = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
    events_a = [event(a, s, seconds=offsets[s], code=131026 if s == "failed" else None) for s in chosen]
    events_b = [event(b, s, seconds=offsets[s], code=131026 if s == "failed" else None) for s in chosen]
    for e in events_a:  # in order, once
        recipient_apply_status(event=e)
    shuffled = events_b * copies
    random.Random(seed).shuffle(shuffled)
    for e in shuffled:
        recipient_apply_status(event=e)
    a.refresh_from_db()
    b.refresh_from_db()
    fields = ["status", "sent_at", "delivered_at", "read_at", "failed_at", "error_code", "error_reason"]
    assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}
    assert_counters_match_recount(campaign)


def test_campaign_stats_command_prints_counters_and_rates(sent_campaign, capsys):
    row = Recipient.objects.filter(campaign=sent_campaign).first()
    recipient_apply_status(event=event(row, "read"))
    call_command("campaign_stats", str(sent_campaign.pk), "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == 2 and data["sent"] == 2 and data["read"] == 1
    assert data["progress_percentage"] == 100.0
    assert data["delivery_rate"] == 50.0 and data["read_rate"] == 50.0 and data["failure_rate"] == 0.0
    for key in ("pending", "queued", "failed", "skipped", "unknown", "cancelled", "estimated_completion_date"):
        assert key in data
