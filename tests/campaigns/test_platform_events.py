"""Campaigns follow Meta through the real signed webhook view: a paused template pauses its campaigns, a
reinstated one resumes them when allowed, the tier sets the limit, an account restriction stops every batch
(docs/architecture.md, "Platform events")."""

import datetime as dt
import json
import time

import pytest
from django.urls import reverse

from campaigns.batch import batch_send
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_pause
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign, statuses
from tests.whatsapp import payloads
from whatsapp.models import MessageTemplate, PlatformAlert

pytestmark = pytest.mark.django_db

C = Campaign.Status
R = Recipient.Status


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST a signed platform webhook (field, value) to the real view; its processing runs on commit."""

    def send(field: str, value: dict, *, at: int | None = None):
        entry = {"id": payloads.WABA_ID, "time": at or int(time.time()), "changes": [{"field": field, "value": value}]}
        raw = json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST", reverse("whatsapp:webhook"), raw, content_type="application/json",
                headers={"X-Hub-Signature-256": payloads.signature(raw)},
            )  # fmt: skip
        assert response.status_code == 200
        return response

    return send


def template_event(template: MessageTemplate, event: str, **extra) -> dict:
    return {"event": event, "message_template_id": 4321, "message_template_name": template.name,
            "message_template_language": template.language, "reason": "NONE",
            "message_template_category": template.category, **extra}  # fmt: skip


# --- a paused template pauses its campaigns ------------------------------------------------------------------


def test_a_paused_template_pauses_its_running_campaigns_and_nothing_is_claimed_for_them(post, settings, outbox):
    settings.WHATSAPP_DAILY_LIMIT = 2
    campaign = running_campaign(5)
    assert batch_send(now=START).sent == 2  # mid-campaign: 3 still pending
    other = running_campaign(3)  # another template: untouched
    scheduled = running_campaign(1, template=campaign.template, start_at=START + dt.timedelta(days=3))
    assert Campaign.objects.get(pk=scheduled.pk).status == C.SCHEDULED

    post(
        "message_template_status_update",
        template_event(
            campaign.template, "PAUSED", other_info={"title": "FIRST_PAUSE", "description": "Paused for 3 hours."}
        ),
    )

    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED and campaign.paused_for_template
    assert "FIRST_PAUSE" in campaign.pause_reason and "Paused for 3 hours." in campaign.pause_reason
    assert Campaign.objects.get(pk=scheduled.pk).status == C.PAUSED
    assert Campaign.objects.get(pk=other.pk).status == C.RUNNING
    assert PlatformAlert.objects.filter(kind="template_stopped", severity="error").count() == 1

    settings.WHATSAPP_DAILY_LIMIT = 100
    result = batch_send(now=START + dt.timedelta(hours=1))

    assert result.campaigns == {other.pk: 3}  # nothing claimed for the paused template's campaign
    assert statuses(campaign) == {R.SENT: 2, R.PENDING: 3}
    assert [m["template_name"] for m in outbox].count(campaign.template.name) == 2
    assert_counters_match_recount(campaign)


def test_the_pause_is_shown_on_today(post, admin_client, settings):
    settings.WHATSAPP_DAILY_LIMIT = 100
    campaign = running_campaign(2)
    post("message_template_status_update", template_event(campaign.template, "DISABLED"))
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert f"Template {campaign.template}" in page and "DISABLED" in page


# --- reinstated: resumes what it paused, when the operator allowed it --------------------------------------------


@pytest.mark.parametrize("event", [{"event": "REINSTATED"}, {"event": "APPROVED", "other_info": {"title": "UNPAUSE"}}])
def test_a_reinstated_template_resumes_the_campaigns_it_paused_when_enabled(post, settings, outbox, event):
    settings.WHATSAPP_DAILY_LIMIT = 100
    settings.WHATSAPP_RESUME_AFTER_REINSTATE = True
    campaign = running_campaign(4)
    by_hand = running_campaign(1, template=campaign.template)
    campaign_pause(campaign=Campaign.objects.get(pk=by_hand.pk), reason="by hand", now=START)
    now = int(time.time())
    post("message_template_status_update", template_event(campaign.template, "PAUSED"), at=now - 60)
    assert Campaign.objects.get(pk=campaign.pk).status == C.PAUSED

    post("message_template_status_update", template_event(campaign.template, **event), at=now)

    campaign.refresh_from_db()
    assert campaign.status == C.RUNNING and not campaign.paused_for_template and campaign.pause_reason == ""
    assert Campaign.objects.get(pk=by_hand.pk).status == C.PAUSED  # the operator's pause is the operator's
    assert batch_send(now=START).campaigns == {campaign.pk: 4}  # by_hand stays paused
    assert not PlatformAlert.objects.filter(kind="template_stopped", resolved_at__isnull=True).exists()


def test_a_reinstated_template_leaves_them_paused_and_says_so_when_not_enabled(post, settings, outbox):
    settings.WHATSAPP_DAILY_LIMIT = 100
    settings.WHATSAPP_RESUME_AFTER_REINSTATE = False
    campaign = running_campaign(4)
    now = int(time.time())
    post("message_template_status_update", template_event(campaign.template, "PAUSED"), at=now - 60)
    post("message_template_status_update", template_event(campaign.template, "REINSTATED"), at=now)

    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED and campaign.paused_for_template
    alert = PlatformAlert.objects.get(kind="template_resumable")
    assert campaign.name in alert.message and "can resume" in alert.message
    assert batch_send(now=START).sent == 0


# --- the tier is the limit ---------------------------------------------------------------------------------------


CAPABILITY = ("business_capability_update", {"max_daily_conversations_per_business": 2000})
QUALITY = (
    "phone_number_quality_update",
    {
        "display_phone_number": "15550001111",
        "event": "UPGRADE",
        "old_limit": "TIER_250",
        "current_limit": "TIER_2K",
        "max_daily_conversations_per_business": "TIER_2K",
    },
)


@pytest.mark.parametrize(
    ("field", "value", "ceiling", "sent"),
    [(*CAPABILITY, None, 2000), (*CAPABILITY, 1000, 1000), (*QUALITY, None, 2000)],
)  # fmt: skip
def test_tier_2k_lets_the_next_batch_send_2000_and_the_setting_caps_it(post, settings, outbox, field, value,
                                                                       ceiling, sent):  # fmt: skip
    settings.WHATSAPP_DAILY_LIMIT = ceiling
    settings.WHATSAPP_MAX_MPS = 0  # the limit is the subject here, not the throughput
    campaign = running_campaign(2050)
    post(field, value)

    result = batch_send(now=START)

    assert result.sent == sent and result.limit == sent
    assert statuses(campaign) == {R.SENT: sent, R.PENDING: 2050 - sent}
    assert_counters_match_recount(campaign)


def test_without_a_tier_or_a_setting_the_limit_is_a_new_portfolios(settings, outbox):
    settings.WHATSAPP_DAILY_LIMIT = None
    running_campaign(300)
    assert batch_send(now=START).sent == 250


# --- an account restriction stops every batch until lifted ---------------------------------------------------


@pytest.mark.parametrize("fan_out", [False, True])
def test_an_account_restriction_stops_every_batch_until_lifted(post, settings, outbox, fan_out):
    settings.WHATSAPP_DAILY_LIMIT = 100
    campaign = running_campaign(5)
    post(
        "account_update",
        {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [
                {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": "2099-01-01T00:00:00+0000"}
            ],
        },
    )

    result = batch_send(now=START, fan_out=fan_out)

    assert result.sent == 0 and outbox == []
    assert statuses(campaign) == {R.PENDING: 5}
    assert Campaign.objects.get(pk=campaign.pk).status == C.RUNNING  # not paused: held, and resumes by itself

    # Lifted (here: the operator resolves it in the admin once Meta lifted it): the next batch sends.
    PlatformAlert.objects.filter(blocks_sending=True).update(resolved_at=START)
    assert batch_send(now=START).sent == 5


def test_today_says_loudly_that_sending_is_stopped(post, admin_client, settings):
    post("account_update", {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}})
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="today-blocked"' in page and "Sending is stopped" in page and "SCAM" in page


def test_today_shows_the_tier_where_it_came_from_and_when(post, admin_client, settings):
    settings.WHATSAPP_DAILY_LIMIT = None
    post("business_capability_update", {"max_daily_conversations_per_business": 10000})
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "TIER_10K" in page and "learned by webhook" in page and "of 10000" in page
