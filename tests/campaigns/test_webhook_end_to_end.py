"""End to end: the batch sends through the Cloud API backend to the sandbox, whose signed webhooks reach
the real webhook view, whose signal moves our recipients forward; counters equal a recount."""

import pytest

from campaigns.batch import batch_send
from campaigns.models import Recipient
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign

R = Recipient.Status


@pytest.mark.sandbox(read_rate=0.5, duplicate_rate=0.3, shuffle_rate=0.3, seed=7)
def test_sandbox_webhooks_resolve_every_send(cloud_sandbox):
    campaign = running_campaign(20)
    assert batch_send(now=START).sent == 20
    assert cloud_sandbox.wait_idle(timeout=30)
    statuses = set(Recipient.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses <= {R.DELIVERED, R.READ} and statuses
    assert_counters_match_recount(campaign)


pytestmark = pytest.mark.django_db(transaction=True)
