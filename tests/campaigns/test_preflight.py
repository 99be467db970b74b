"""The pre-flight of an activation: countries, who will not be delivered and what happens to them, cost, completion."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from audiences.models import Audience
from campaigns.batch import batch_send
from campaigns.models import Campaign, Recipient
from campaigns.preflight import campaign_preflight
from campaigns.services import campaign_activate
from tests.campaigns.helpers import START, assert_counters_match_recount, statuses
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory, RecipientFactory
from tests.factories.whatsapp import MessageTemplateFactory

pytestmark = pytest.mark.django_db
R = Recipient.Status
US = ["+14155550101", "+14155550102", "+12125550103"]
CANADA = ["+14165550104"]  # +1 too, but not the US: delivered
BRAZIL = ["+5511987650001", "+5511987650002"]
GERMANY = ["+4915112345601"]


def draft(phones, *, category="MARKETING") -> Campaign:
    tag = f"pre-{Campaign.objects.count()}"
    for phone in phones:
        ContactFactory(phone=phone, tags=[tag])
    template = MessageTemplateFactory(category=category)
    audience = Audience.objects.create(name=tag, rules={"include_tags": [tag]})
    return CampaignFactory(audience=audience, template=template, start_at=None)


@pytest.fixture
def skipping(settings):
    settings.PREFLIGHT_SKIP_US_MARKETING = True  # the product's default (the suite's settings turn it off)
    return settings


def test_dry_run_json_reports_countries_exclusions_cost_and_completion_and_changes_nothing(rate_card, skipping, capsys):
    campaign = draft(US + CANADA + BRAZIL + GERMANY)
    call_command("activate_campaign", str(campaign.pk), "--dry-run", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["problems"] == []
    assert report["recipients"] == 7
    assert {c["country"]: c["recipients"] for c in report["countries"]} == {"US": 3, "BR": 2, "CA": 1, "DE": 1}
    [us] = report["exclusions"]
    assert (us["key"], us["count"], us["skipped"]) == ("us_marketing", 3, True)
    assert "Meta does not deliver marketing templates" in us["reason"]
    assert us["action"] == "Skipped at activation, with the reason."
    assert report["expected_deliveries"] == 4
    # EXAMPLE card: Canada 0.025 (North America) + Brazil 2 x 0.06 + Germany 0.13.
    assert Decimal(report["cost_estimated"]) == Decimal("0.2750")
    assert (report["currency"], report["rate_card_effective_from"]) == ("USD", "2026-01-01")
    assert report["estimated_completion_date"] is not None
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not Recipient.objects.filter(campaign=campaign).exists()


def test_us_numbers_of_a_marketing_template_are_skipped_at_activation_with_the_reason(rate_card, skipping):
    campaign = draft(US + CANADA + BRAZIL)
    result = campaign_activate(campaign=campaign, now=START)
    assert result.recipients_added == 6
    skipped = Recipient.objects.filter(campaign=campaign, status=R.SKIPPED)
    assert sorted(skipped.values_list("phone", flat=True)) == sorted(US)
    assert {r.error_reason for r in skipped} == {"Meta does not deliver marketing templates to US (+1) numbers"}
    assert batch_send(now=START).sent == 3
    assert statuses(campaign) == {R.SKIPPED: 3, R.SENT: 3}
    assert_counters_match_recount(campaign)
    campaign.refresh_from_db()
    assert campaign.cost_estimated == Decimal("0.1450")  # Canada 0.025 + Brazil 2 x 0.06: the skipped cost nothing


def test_with_the_skipping_off_they_are_reported_and_sent(rate_card, settings):
    settings.PREFLIGHT_SKIP_US_MARKETING = False
    campaign = draft(US + BRAZIL)
    [us] = campaign_preflight(campaign=campaign, now=START).exclusions
    assert (us.count, us.skipped) == (3, False)
    assert "131049" in us.action
    campaign_activate(campaign=campaign, now=START)
    assert statuses(campaign) == {R.PENDING: 5}


def test_a_utility_template_skips_nobody(rate_card, skipping):
    campaign = draft(US + BRAZIL, category="UTILITY")
    report = campaign_preflight(campaign=campaign, now=START)
    assert report.exclusions == []
    assert report.cost.amount == Decimal("0.0040") * 3 + Decimal("0.0080") * 2
    campaign_activate(campaign=campaign, now=START)
    assert statuses(campaign) == {R.PENDING: 5}


def test_numbers_that_failed_for_good_or_were_held_lately_are_reported_at_risk(rate_card, settings):
    settings.PREFLIGHT_FAILED_DAYS = 30
    campaign = draft(BRAZIL + GERMANY)
    now = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    earlier = CampaignFactory()
    RecipientFactory(campaign=earlier, contact=ContactFactory(phone=BRAZIL[0]), status=R.FAILED, error_code=131026,
                     failed_at=now - dt.timedelta(days=3))  # fmt: skip
    RecipientFactory(campaign=earlier, contact=ContactFactory(phone=GERMANY[0]), status=R.FAILED, error_code=131049,
                     failed_at=now - dt.timedelta(days=2))  # fmt: skip
    RecipientFactory(campaign=earlier, contact=ContactFactory(phone=BRAZIL[1]), status=R.FAILED, error_code=131026,
                     failed_at=now - dt.timedelta(days=45))  # too long ago  # fmt: skip
    report = {e.key: e for e in campaign_preflight(campaign=campaign, now=now).exclusions}
    assert report["failed_recently"].count == 1 and not report["failed_recently"].skipped
    assert report["held_recently"].count == 1 and "24 hours" in report["held_recently"].action


def test_without_a_rate_card_the_cost_is_unknown_and_said_so(skipping):
    report = campaign_preflight(campaign=draft(BRAZIL), now=START).as_dict()
    assert report["cost_estimated"] is None
    assert "No rate card imported" in report["notes"][0]


def test_the_admin_activation_confirmation_shows_the_pre_flight(rate_card, skipping, manager_client):
    campaign = draft(US + BRAZIL)
    page = manager_client.get(reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "activate"]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-exclusion="us_marketing"' in html and 'data-country="BR"' in html
    assert "Estimated cost: 0.1200 USD (rate card effective from 2026-01-01)" in html
    assert not Recipient.objects.filter(campaign=campaign).exists()
