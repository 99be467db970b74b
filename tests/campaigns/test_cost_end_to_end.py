"""End to end over real HTTP: the sandbox prices delivered statuses and holds US marketing sends (131049); the
signed webhooks reach the real view and the campaign's actual cost is the sum of the recipients' pricing."""

from decimal import Decimal

import pytest

from campaigns.batch import batch_send
from campaigns.costs import campaign_cost_recount
from campaigns.models import Recipient
from campaigns.selectors import campaign_stats
from tests.campaigns.helpers import START, assert_counters_match_recount
from tests.campaigns.test_costs import campaign_over
from tests.factories.whatsapp import MessageTemplateFactory

R = Recipient.Status
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.sandbox(hold_us_marketing=True, read_rate=0.5, duplicate_rate=0.5, shuffle_rate=0.5, seed=15)
def test_sandbox_prices_deliveries_and_holds_us_marketing(cloud_sandbox, rate_card):
    campaign = campaign_over(["+14155550101", "+14155550102", "+5511987650001", "+4915112345601"])
    assert batch_send(now=START).sent == 4
    assert cloud_sandbox.wait_idle(timeout=30)
    rows = {row.phone: row for row in Recipient.objects.filter(campaign=campaign)}
    for phone in ("+14155550101", "+14155550102"):
        assert (rows[phone].status, rows[phone].error_code, rows[phone].price_type) == (R.FAILED, 131049, "")
    assert {rows[p].status for p in ("+5511987650001", "+4915112345601")} <= {R.DELIVERED, R.READ}
    assert rows["+5511987650001"].cost == Decimal("0.06")
    stats = campaign_stats(campaign=campaign)
    assert Decimal(stats["cost_actual"]) == Decimal("0.19") == campaign_cost_recount(campaign=campaign)["cost_actual"]
    assert stats["billable"] == 2
    assert_counters_match_recount(campaign)


def test_a_utility_template_inside_the_customer_service_window_is_free(cloud_sandbox, rate_card):
    template = MessageTemplateFactory(name="hello_world", category="UTILITY")
    campaign = campaign_over(["+5511987650001", "+5511987650002"], template=template)
    cloud_sandbox.post_inbound_text("+5511987650001", "Hi, where is my order?")  # opens its window
    assert batch_send(now=START).sent == 2
    assert cloud_sandbox.wait_idle(timeout=30)
    rows = {row.phone: row for row in Recipient.objects.filter(campaign=campaign)}
    assert (rows["+5511987650001"].price_type, rows["+5511987650001"].cost) == ("free_customer_service", 0)
    assert (rows["+5511987650002"].price_type, rows["+5511987650002"].cost) == ("regular", Decimal("0.008"))
    assert Decimal(campaign_stats(campaign=campaign)["cost_actual"]) == Decimal("0.008")
