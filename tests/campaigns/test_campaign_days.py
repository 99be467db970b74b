"""The dashboard's per-day rows (CampaignDay): the plan at activation, and each day's status changes."""

import datetime as dt

import pytest

from campaigns.batch import batch_send
from campaigns.models import CampaignDay, Recipient
from campaigns.services import campaign_days_rebuild, campaign_top_up, recipient_apply_status
from tests.campaigns.helpers import START, running_campaign
from tests.factories.audiences import ContactFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import WhatsAppError
from whatsapp.events import ErrorInfo, StatusEvent

pytestmark = pytest.mark.django_db
R = Recipient.Status
DAY1 = START.date()
DAY2 = DAY1 + dt.timedelta(days=1)


def days(campaign, *fields):
    return {row["day"]: tuple(row[f] for f in fields) for row in CampaignDay.objects.filter(campaign=campaign).values()}


def status(row, name, at, code=None):
    errors = [ErrorInfo(code=code, title="Bad", message="m", details="d")] if code else []
    return StatusEvent(
        message_id=row.message_id, status=name, timestamp=at, recipient=row.phone, tracker=None, errors=errors
    )


def test_activation_plans_each_day_by_estimated_send_date(settings):
    settings.WHATSAPP_DAILY_LIMIT = 4
    campaign = running_campaign(10)
    assert days(campaign, "planned") == {DAY1: (4,), DAY2: (4,), DAY1 + dt.timedelta(days=2): (2,)}


def test_a_top_up_adds_to_the_plan_without_touching_what_happened(settings):
    settings.WHATSAPP_DAILY_LIMIT = 4
    campaign = running_campaign(3, tag="vip")
    batch_send(now=START)
    ContactFactory.create_batch(3, tags=["vip"])
    campaign_top_up(campaign=campaign, now=START + dt.timedelta(hours=1))
    # Today had 1 message of its limit left: 1 of the new ones is planned today, the other 2 tomorrow.
    assert days(campaign, "planned", "sent") == {DAY1: (4, 3), DAY2: (2, 0)}
    assert sum(p for (p,) in days(campaign, "planned").values()) == Recipient.objects.filter(campaign=campaign).count()


def test_sends_and_webhook_statuses_count_on_the_day_they_happen():
    campaign = running_campaign(3)
    LocmemBackend.script_errors({Recipient.objects.filter(campaign=campaign).last().phone: WhatsAppError(code=131026)})
    batch_send(now=START)
    sent = list(Recipient.objects.filter(campaign=campaign, status=R.SENT).order_by("id"))
    next_day = START + dt.timedelta(days=1)
    recipient_apply_status(event=status(sent[0], "delivered", START + dt.timedelta(minutes=1)))
    recipient_apply_status(event=status(sent[0], "read", next_day))
    recipient_apply_status(event=status(sent[0], "read", next_day))  # a duplicate counts once
    recipient_apply_status(event=status(sent[1], "failed", next_day, code=131047))
    assert days(campaign, "sent", "delivered", "read", "failed") == {
        DAY1: (2, 1, 0, 1),  # two accepted, one refused by the API (131026), one delivered
        DAY2: (0, 0, 1, 1),  # one read, one failed after it was sent
    }


def test_a_read_with_no_sent_report_counts_as_sent_delivered_and_read_that_day():
    campaign = running_campaign(1)
    batch_send(now=START)
    row = Recipient.objects.get(campaign=campaign)
    # As if the send's answer never came back: queued, never stamped sent.
    Recipient.objects.filter(pk=row.pk).update(status=R.QUEUED, sent_at=None)
    CampaignDay.objects.filter(campaign=campaign).update(sent=0)
    recipient_apply_status(event=status(row, "read", START + dt.timedelta(days=1)))
    assert days(campaign, "sent", "delivered", "read")[DAY2] == (1, 1, 1)


def test_the_rows_kept_as_events_happen_equal_a_rebuild_from_the_recipients():
    campaign = running_campaign(4)
    batch_send(now=START)
    rows = list(Recipient.objects.filter(campaign=campaign, status=R.SENT).order_by("id"))
    recipient_apply_status(event=status(rows[0], "read", START + dt.timedelta(days=1)))
    recipient_apply_status(event=status(rows[1], "delivered", START + dt.timedelta(hours=2)))
    recipient_apply_status(event=status(rows[2], "failed", START + dt.timedelta(days=2), code=131047))
    fields = ("planned", "sent", "delivered", "read", "failed")
    kept = days(campaign, *fields)
    assert campaign_days_rebuild(campaign=campaign) == len(kept)
    assert days(campaign, *fields) == kept
