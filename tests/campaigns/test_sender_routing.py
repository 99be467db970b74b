"""Webhooks routed by `metadata.phone_number_id`: a tracker (our recipient id) counts only from its own number."""

import dataclasses

import pytest

from campaigns.batch import batch_send
from campaigns.models import Recipient
from campaigns.services import recipient_apply_status
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from tests.campaigns.test_status_tracking import event
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import ErrorKind, WhatsAppError
from whatsapp.models import Sender
from whatsapp.services import sender_default

pytestmark = pytest.mark.django_db
R = Recipient.Status


def unanswered(**campaign_options) -> Recipient:
    campaign = running_campaign(1, **campaign_options)
    LocmemBackend.queue_errors(WhatsAppError("timeout", kind=ErrorKind.UNKNOWN_OUTCOME))
    batch_send(now=START)
    return Recipient.objects.get(campaign=campaign)


def from_number(row: Recipient, number: str, status: str = "delivered"):
    return dataclasses.replace(event(row, status, by_tracker=True), phone_number_id=number)


def test_a_campaign_sends_from_its_number_and_statuses_by_tracker_count_only_from_it(outbox, settings):
    settings.WHATSAPP_MAX_MPS = 0
    sender_default()  # the first number, from the settings
    other = Sender.objects.create(phone_number_id="100000000000009", throughput_mps=10)
    row = unanswered(sender=other)
    assert not recipient_apply_status(event=from_number(row, sender_default().phone_number_id))
    assert recipient_apply_status(event=from_number(row, "100000000000009"))
    row.refresh_from_db()
    assert row.status == R.DELIVERED
    assert_counters_match_recount(row.campaign)


def test_a_campaign_without_a_number_is_the_first_numbers(outbox, settings):
    settings.WHATSAPP_MAX_MPS = 0
    row = unanswered()
    assert not recipient_apply_status(event=from_number(row, "999"))
    assert recipient_apply_status(event=from_number(row, sender_default().phone_number_id))


def test_sends_go_from_the_campaigns_number(outbox, settings):
    settings.WHATSAPP_MAX_MPS = 0
    sender_default()
    other = Sender.objects.create(phone_number_id="100000000000009")
    running_campaign(2, sender=other)
    running_campaign(1)
    batch_send(now=START)
    assert sorted(m.get("sender", "") for m in outbox) == ["", "100000000000009", "100000000000009"]
