"""A campaign's budget: the batch never claims past it (estimated per claim), and reaching it pauses the campaign."""

import datetime as dt
from decimal import Decimal

import pytest

from campaigns.batch import batch_send
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_resume, recipients_apply_statuses
from tests.campaigns.helpers import START, assert_counters_match_recount, statuses
from tests.campaigns.test_costs import campaign_over
from whatsapp.events import Pricing, StatusEvent

pytestmark = pytest.mark.django_db
R = Recipient.Status
C = Campaign.Status
US = [f"+1415555{n:04d}" for n in range(10)]  # North America: 0.025 a marketing message in the EXAMPLE card


def deliver(rows, *, at, kind="regular"):
    recipients_apply_statuses(
        events=[
            StatusEvent(message_id=row.message_id, status="delivered", timestamp=at, recipient=row.phone[1:],
                        tracker=None, pricing=Pricing(category="marketing", type=kind))
            for row in rows
        ]
    )  # fmt: skip


def test_the_batch_never_claims_past_the_budget_and_pauses_the_campaign(rate_card):
    campaign = campaign_over(US, budget=Decimal("0.10"))  # 4 messages at 0.025
    result = batch_send(now=START)
    assert result.sent == 4
    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED
    assert campaign.pause_reason.startswith("Budget reached: 0.1000 of 0.1000 USD")
    assert statuses(campaign) == {R.SENT: 4, R.PENDING: 6}
    # Nothing more is claimed, however often the batch runs; resuming without more budget pauses it again.
    assert batch_send(now=START + dt.timedelta(minutes=5)).sent == 0
    campaign_resume(campaign=campaign, now=START + dt.timedelta(minutes=6))
    assert batch_send(now=START + dt.timedelta(minutes=7)).sent == 0
    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED
    assert statuses(campaign) == {R.SENT: 4, R.PENDING: 6}
    assert_counters_match_recount(campaign)


def test_a_free_delivery_frees_its_estimate_for_the_next_claims(rate_card):
    campaign = campaign_over(US, budget=Decimal("0.10"))
    batch_send(now=START)
    sent = list(Recipient.objects.filter(campaign=campaign, status=R.SENT))
    deliver(sent[:2], at=START + dt.timedelta(seconds=30), kind="free_customer_service")  # not charged
    deliver(sent[2:], at=START + dt.timedelta(seconds=30))  # 2 x 0.025 spent
    campaign.refresh_from_db()
    assert campaign.cost_actual == Decimal("0.05")
    campaign_resume(campaign=campaign, now=START + dt.timedelta(minutes=1))
    assert batch_send(now=START + dt.timedelta(minutes=2)).sent == 2  # 0.05 left: two more
    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED


def test_actual_cost_over_the_budget_pauses_a_running_campaign(rate_card):
    campaign = campaign_over(US[:3], budget=Decimal("1.00"))
    batch_send(now=START)
    Campaign.objects.filter(pk=campaign.pk).update(budget=Decimal("0.04"), status=C.RUNNING)
    deliver(Recipient.objects.filter(campaign=campaign)[:2], at=START + dt.timedelta(seconds=20))
    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED
    assert campaign.pause_reason == "Budget reached: 0.0500 of 0.0400 USD spent."


def test_without_a_rate_card_a_budgeted_campaign_claims_nothing_and_says_why(db):
    campaign = campaign_over(US[:2], budget=Decimal("5"))
    assert batch_send(now=START).sent == 0
    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED
    assert "no rate card imported" in campaign.pause_reason
