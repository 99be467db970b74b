"""The sandbox plays Meta's platform scenes over real HTTP: its signed webhooks reach the real view and the batch
follows them (docs/architecture.md, "Platform events")."""

import datetime as dt

import pytest
from django.core.management import call_command

from campaigns.batch import batch_send
from campaigns.models import Campaign, Recipient
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign, statuses
from tests.factories.whatsapp import MessageTemplateFactory
from whatsapp.tiers import messaging_limit

pytestmark = pytest.mark.django_db(transaction=True)

R = Recipient.Status


def test_a_template_paused_mid_campaign_stops_it_until_meta_unpauses_it(cloud_sandbox, settings):
    settings.WHATSAPP_DAILY_LIMIT = 3
    settings.WHATSAPP_RESUME_AFTER_REINSTATE = True
    template = MessageTemplateFactory(name="spring_sale", language="en_US", external_id="900000000000002")
    campaign = running_campaign(6, template=template)
    assert batch_send(now=START).sent == 3

    assert cloud_sandbox.scene_template_paused("spring_sale", "en_US") == 200
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and "FIRST_PAUSE" in campaign.pause_reason
    settings.WHATSAPP_DAILY_LIMIT = 100
    assert batch_send(now=START + dt.timedelta(hours=1)).sent == 0

    assert cloud_sandbox.scene_template_unpaused("spring_sale", "en_US") == 200
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    assert batch_send(now=START + dt.timedelta(hours=4)).sent == 3
    assert cloud_sandbox.wait_idle(timeout=30)
    assert R.PENDING not in statuses(campaign)
    assert_counters_match_recount(campaign)


def test_a_tier_upgrade_raises_the_limit_at_once_and_the_sync_agrees(cloud_sandbox, settings):
    from django.utils import timezone

    settings.WHATSAPP_DAILY_LIMIT = None
    call_command("sync_messaging_limit")
    assert messaging_limit(timezone.now()).tier == "TIER_250"

    assert cloud_sandbox.scene_tier_upgrade("TIER_10K") == (200, 200)
    limit = messaging_limit(timezone.now())
    assert (limit.value, limit.tier, limit.source) == (10_000, "TIER_10K", "webhook")

    call_command("sync_messaging_limit")  # the GET now answers the new tier too
    limit = messaging_limit(timezone.now())
    assert (limit.tier, limit.source) == ("TIER_10K", "sync")
