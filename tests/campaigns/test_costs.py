"""The actual cost is WhatsApp's pricing, recorded once per recipient: signed webhooks through the real view."""

import datetime as dt
import json
import random
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from audiences.models import Audience
from campaigns.batch import batch_send
from campaigns.costs import campaign_cost_recount
from campaigns.models import Campaign, CampaignDay, Recipient
from campaigns.selectors import campaign_dashboard
from campaigns.services import campaign_activate, campaign_days_rebuild
from tests.campaigns.helpers import START, assert_counters_match_recount
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.whatsapp import payloads

pytestmark = pytest.mark.django_db
R = Recipient.Status
# One phone per market of the EXAMPLE card, and the marketing rate each is charged.
PHONES = {
    "+14155550101": Decimal("0.0250"),  # North America
    "+14155550102": Decimal("0.0250"),
    "+5511987650001": Decimal("0.0600"),  # Brazil
    "+351912345601": Decimal("0.0600"),  # Portugal: Rest of Western Europe
    "+4915112345601": Decimal("0.1300"),  # Germany
}


def campaign_over(phones, **kwargs) -> Campaign:
    tag = f"cost-{Campaign.objects.count()}"
    for phone in phones:
        ContactFactory(phone=phone, tags=[tag])
    campaign = CampaignFactory(audience=Audience.objects.create(name=tag, rules={"include_tags": [tag]}), **kwargs)
    campaign_activate(campaign=campaign, now=START)
    campaign.refresh_from_db()
    return campaign


def unix(moment: dt.datetime) -> str:
    return str(int(moment.timestamp()))


def pricing(kind="regular", category="marketing") -> dict:
    return {"billable": kind == "regular", "pricing_model": "PMP", "category": category, "type": kind}


def status(row: Recipient, state: str, *, seconds: int, price: dict | None = None) -> dict:
    item = {"id": row.message_id, "status": state, "timestamp": unix(START + dt.timedelta(seconds=seconds)),
            "recipient_id": row.phone.lstrip("+")}  # fmt: skip
    if price is not None:
        item["pricing"] = price
    return item


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST a signed body of statuses to the webhook view; its processing runs before this returns."""

    def post_statuses(items: list[dict]) -> int:
        raw = payloads.body(payloads.statuses_value(*items))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST", reverse("whatsapp:webhook"), raw, content_type="application/json",
                headers={"X-Hub-Signature-256": payloads.signature(raw)},
            )  # fmt: skip
        return response.status_code

    return post_statuses


def test_the_dashboard_actual_cost_equals_the_sum_over_the_recipients_pricing(rate_card, post):
    campaign = campaign_over(PHONES)
    assert batch_send(now=START).sent == len(PHONES)
    rows = {row.phone: row for row in Recipient.objects.filter(campaign=campaign)}
    items = []
    for n, row in enumerate(rows.values()):
        items += [status(row, "sent", seconds=10 + n), status(row, "delivered", seconds=20 + n, price=pricing())]
        items.append(status(row, "read", seconds=30 + n))
    # One delivered inside a customer-service window: priced, not billable.
    free = rows["+14155550102"]
    items = [i for i in items if not (i["id"] == free.message_id and i["status"] == "delivered")]
    items.append(status(free, "delivered", seconds=25, price=pricing("free_customer_service", "utility")))
    random.Random(15).shuffle(items)
    assert post(items[:7]) == 200
    assert post(items[7:]) == 200
    assert post(list(reversed(items))) == 200  # the whole lot again, backwards: a replay changes nothing
    # A read that carries pricing again (Meta puts it on one of delivered/read): still counted once.
    assert post([status(row, "read", seconds=40, price=pricing()) for row in rows.values()]) == 200

    billed = {phone: rate for phone, rate in PHONES.items() if phone != free.phone}
    expected = sum(billed.values())
    dashboard = campaign_dashboard(campaign=campaign, now=START + dt.timedelta(hours=1))
    assert Decimal(dashboard.stats["cost_actual"]) == expected
    assert dashboard.stats["billable"] == len(billed)
    assert dashboard.stats["currency"] == "USD"
    assert [(d.day, d.billable, d.cost) for d in dashboard.cost_days] == [(START.date(), len(billed), expected)]
    recorded = Recipient.objects.filter(campaign=campaign, price_type="regular")
    assert sum(r.cost for r in recorded) == expected
    assert {r.phone: r.cost for r in recorded} == billed
    assert Recipient.objects.get(pk=free.pk).cost == 0
    assert Recipient.objects.get(phone="+351912345601", campaign=campaign).market == "Rest of Western Europe"
    assert campaign_cost_recount(campaign=campaign) == {"billable": len(billed), "cost_actual": expected}
    assert_counters_match_recount(campaign)
    day = CampaignDay.objects.get(campaign=campaign, day=START.date())
    assert (day.billable, day.cost) == (len(billed), expected)
    campaign_days_rebuild(campaign=campaign)  # the recount of the day rows gives the same
    day = CampaignDay.objects.get(campaign=campaign, day=START.date())
    assert (day.billable, day.cost) == (len(billed), expected)


def test_pricing_on_sent_is_not_a_charge_and_an_unknown_market_rate_is_noted(rate_card, post):
    campaign = campaign_over(["+14155550101"])
    batch_send(now=START)
    row = Recipient.objects.get(campaign=campaign)
    assert post([status(row, "sent", seconds=5, price=pricing())]) == 200  # conversation-era pricing on sent
    campaign.refresh_from_db()
    assert (campaign.billable, campaign.cost_actual) == (0, 0)
    assert post([status(row, "delivered", seconds=9, price=pricing(category="referral_conversion"))]) == 200
    row.refresh_from_db()
    assert (row.price_category, row.price_type, row.cost) == ("referral_conversion", "regular", None)
    campaign.refresh_from_db()
    assert (campaign.billable, campaign.cost_actual) == (1, 0)
    from whatsapp.models import WebhookEvent

    assert "1 billable referral_conversion message(s) in market North America have no rate" in (
        WebhookEvent.objects.order_by("-id").first().notes
    )


def test_campaign_stats_json_has_the_cost_keys_beside_the_existing_ones(rate_card, capsys):
    campaign = campaign_over(list(PHONES)[:2])
    call_command("campaign_stats", str(campaign.pk), "--json")
    stats = json.loads(capsys.readouterr().out)
    assert {"total", "sent", "delivered", "progress_percentage", "status"} <= set(stats)
    assert stats["cost_actual"] == "0.000000"
    assert stats["currency"] == "USD"
    # Estimated at activation: two North America marketing messages.
    assert Decimal(stats["cost_estimated"]) == Decimal("0.0500")


def test_the_dashboard_page_shows_estimate_against_actual(rate_card, admin_client):
    campaign = campaign_over(list(PHONES))
    page = admin_client.get(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-figure="cost-estimated"' in html and "0.3" in html  # 0.025 * 2 + 0.06 * 2 + 0.13
    assert 'data-figure="cost-actual"' in html


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_applying_the_same_body_at_once_count_its_pricing_once(rate_card):
    """Meta's retry and the sweep can process one body twice at the same moment: each price is counted once."""
    import threading

    from django.db import connections

    from campaigns.services import recipients_apply_statuses
    from whatsapp.events import Pricing, StatusEvent

    campaign = campaign_over(PHONES)
    batch_send(now=START)
    events = [
        StatusEvent(message_id=row.message_id, status="delivered", timestamp=START + dt.timedelta(seconds=20),
                    recipient=row.phone[1:], tracker=None, pricing=Pricing(category="marketing", type="regular"))
        for row in Recipient.objects.filter(campaign=campaign)
    ]  # fmt: skip
    barrier, errors = threading.Barrier(2), []

    def worker():
        try:
            barrier.wait(timeout=10)
            recipients_apply_statuses(events=events)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    campaign.refresh_from_db()
    assert (campaign.billable, campaign.cost_actual) == (len(PHONES), sum(PHONES.values()))
    assert campaign_cost_recount(campaign=campaign) == {"billable": len(PHONES), "cost_actual": sum(PHONES.values())}
    assert_counters_match_recount(campaign)
