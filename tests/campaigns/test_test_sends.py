"""Test sends are tracked (issue 13): recorded with their rendered text, their status webhooks applied forward only."""

import datetime as dt

import pytest
from django.urls import reverse

from campaigns.models import TestSend
from campaigns.services import campaign_send_test
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory
from whatsapp.events import ErrorInfo, StatusEvent
from whatsapp.signals import statuses_received

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def webhook(message_id: str, status: str, at: dt.datetime, code: int | None = None) -> None:
    errors = [ErrorInfo(code=code, title="Bad", message="m", details="d")] if code else []
    event = StatusEvent(message_id=message_id, status=status, timestamp=at, recipient="", tracker=None, errors=errors)
    statuses_received.send(sender=None, events=[event])  # as the webhook's processing sends a body's statuses


def test_a_test_send_is_recorded_with_the_text_its_contact_reads(outbox):
    ContactFactory(phone="+14155550999", first_name="Ana", attributes={"city": "Lisbon"})
    campaign = CampaignFactory()
    message_id = campaign_send_test(campaign=campaign, phone="+1 415 555 0999", now=NOW, by="manager")
    test = TestSend.objects.get()
    assert (test.message_id, test.phone, test.status, test.sent_by) == (message_id, "+14155550999", "sent", "manager")
    assert test.rendered_text.splitlines()[:2] == ["Hello Ana", "Our spring sale starts in Lisbon: 20% off everything."]


def test_its_status_webhooks_move_it_forward_only_and_keep_the_earliest_times(outbox):
    campaign = CampaignFactory()
    message_id = campaign_send_test(campaign=campaign, phone="+14155550999", now=NOW)
    webhook(message_id, "read", NOW + dt.timedelta(minutes=2))  # read with no delivered first
    webhook(message_id, "delivered", NOW + dt.timedelta(minutes=1))  # late: no step back
    webhook(message_id, "read", NOW + dt.timedelta(minutes=5))  # duplicate
    test = TestSend.objects.get()
    assert test.status == "read"
    assert test.read_at == NOW + dt.timedelta(minutes=2)
    assert test.delivered_at == NOW + dt.timedelta(minutes=1)


def test_a_failed_test_send_shows_why(outbox):
    message_id = campaign_send_test(campaign=CampaignFactory(), phone="+14155550999", now=NOW)
    webhook(message_id, "failed", NOW + dt.timedelta(minutes=1), code=131026)
    test = TestSend.objects.get()
    assert (test.status, test.error_code) == ("failed", 131026)
    assert test.error_reason.startswith("Error 131026")


def test_the_campaign_page_shows_test_sends_with_their_status_and_text(admin_client, outbox):
    campaign = CampaignFactory()
    url = reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "send_test"])
    response = admin_client.post(url, {"phone": "+14155550999"})
    assert response.status_code == 302
    message_id = TestSend.objects.get().message_id
    webhook(message_id, "delivered", NOW)
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert f'data-message-id="{message_id}" data-status="delivered"' in page
    assert "Our spring sale starts in" in page
