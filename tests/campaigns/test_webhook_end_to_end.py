"""End to end: the batch sends through the Cloud API backend to the sandbox, whose signed webhooks reach
the real webhook view, whose signal moves our recipients forward; counters equal a recount."""

import pytest

from campaigns.batch import batch_send
from campaigns.models import Recipient
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from whatsapp.sandbox import SandboxServer

R = Recipient.Status


def test_sandbox_webhooks_resolve_every_send(live_server, settings):
    campaign = running_campaign(20)
    with SandboxServer(
        webhook_url=f"{live_server.url}/whatsapp/webhook/",
        app_secret=settings.WHATSAPP_APP_SECRET,
        latency_ms=5,
        read_rate=0.5,
        duplicate_rate=0.3,
        shuffle_rate=0.3,
        seed=7,
    ) as sandbox:
        settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
        settings.WHATSAPP_API_BASE_URL = sandbox.url
        settings.WHATSAPP_PHONE_NUMBER_ID = sandbox.phone_number_id
        settings.WHATSAPP_SEND_THREADS = 4
        assert batch_send(now=START).sent == 20
        assert sandbox.wait_idle(timeout=30)
    statuses = set(Recipient.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses <= {R.DELIVERED, R.READ} and statuses
    assert_counters_match_recount(campaign)


pytestmark = pytest.mark.django_db(transaction=True)
