"""Today while a batch runs: each sender number's current rate beside its limit."""

import time

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from campaigns.batch import batch_send
from campaigns.leases import Lease
from campaigns.throttle import GAUGE_SECONDS, sender_limiter
from campaigns.today import today_overview
from tests.campaigns.helpers import START, running_campaign
from whatsapp.models import Sender
from whatsapp.services import sender_default

pytestmark = pytest.mark.django_db


def claim_without_sending(count: int = 5):
    """A batch between its claims and its sends: rows queued under its lease."""
    from campaigns.batch import _claim_round

    running_campaign(count)
    _claim_round(now=START, size=count, lease=Lease(now=START))


def test_no_sender_section_while_nothing_is_sent(settings):
    running_campaign(3)
    assert today_overview(now=START).senders == []
    batch_send(now=START)  # sent: nothing queued any more
    assert today_overview(now=START).senders == []


def test_while_a_batch_runs_each_number_shows_its_limit_and_without_redis_no_rate(settings, admin_client):
    settings.SEND_RATE_LIMIT_URL = ""
    settings.WHATSAPP_MAX_MPS = 80
    sender_default()
    Sender.objects.create(phone_number_id="100000000000009", display_phone_number="+1 555 000 9999", throughput_mps=250)
    claim_without_sending()
    senders = today_overview(now=START).senders
    assert [(s.number, s.rate_now, s.limit) for s in senders] == [
        ("100000000000001", None, 80),
        ("+1 555 000 9999", None, 250),
    ]
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Sending now" in page and "250 messages/s allowed" in page and "rate not measured without Redis" in page


@pytest.mark.redis
def test_with_redis_the_current_rate_is_the_numbers_sends_of_the_last_seconds(settings, admin_client):
    settings.SEND_RATE_LIMIT_URL = django_settings.CELERY_BROKER_URL
    sender = sender_default()
    limiter = sender_limiter(sender.phone_number_id, sender.rate)
    now = int(time.time())
    limiter._client.delete(f"{limiter.key}:sent")
    # 78 a second for the gauge's window and 10 s around it, so a slow machine reading it a few seconds late
    # (CI under load) still sees the same rate.
    seconds = range(-10, GAUGE_SECONDS + 11)
    limiter._client.hset(f"{limiter.key}:sent", mapping={now - s: 78 for s in seconds})
    claim_without_sending()
    (shown,) = today_overview(now=START).senders
    assert shown.rate_now == 78
    assert "<strong>78</strong> messages/s" in admin_client.get(reverse("admin:index")).content.decode()
    limiter._client.delete(f"{limiter.key}:sent")
