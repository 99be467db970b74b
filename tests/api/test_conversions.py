"""POST /api/v1/conversions/: the shop's orders through the conversions service, once per order id, attributed."""

import pytest
from django.contrib.admin.models import LogEntry

from campaigns.models import Campaign, Conversion
from tests.api.conftest import client_for  # noqa: F401 (the fixtures' helper)
from tests.campaigns.helpers import assert_counters_match_recount
from tests.campaigns.test_engagement import delivered_campaign, recipients

pytestmark = pytest.mark.django_db
URL = "/api/v1/conversions/"


def order(phone: str, **overrides) -> dict:
    return {"order_id": "A-1", "value": "49.90", "currency": "EUR", "time": "2026-03-03T10:00:00Z", "phone": phone,
            **overrides}  # fmt: skip


def test_an_order_posted_twice_counts_once_and_is_attributed_to_the_campaign_that_delivered(manager_api):
    campaign = delivered_campaign(1, link_url="")
    (recipient,) = recipients(campaign)

    first = manager_api.post(URL, order(recipient.phone), format="json")
    again = manager_api.post(URL, order(recipient.phone, value="99"), format="json", HTTP_IDEMPOTENCY_KEY="retry-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["campaign"] == campaign.pk and first.json()["via"] == "delivery"
    assert again.json()["id"] == first.json()["id"] and again.json()["value"] == "49.9000"
    assert Conversion.objects.count() == 1
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.converted == 1
    assert_counters_match_recount(campaign)
    assert LogEntry.objects.filter(object_id=str(first.json()["id"]), change_message="Added (API)").count() == 1


def test_a_bad_order_is_a_problem_naming_its_fields_and_records_nothing(manager_api):
    answer = manager_api.post(URL, {"order_id": "A-2", "value": "-3", "currency": "euro", "time": "2026-03-03T10:00Z",
                                    "phone": "not a phone"}, format="json")  # fmt: skip

    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/problem+json")
    assert {"value", "currency", "phone"} <= set(answer.json()["errors"])
    assert not Conversion.objects.exists()


def test_a_viewer_key_may_read_orders_but_not_post_one(viewer_api):
    campaign = delivered_campaign(1, link_url="")
    (recipient,) = recipients(campaign)

    assert viewer_api.post(URL, order(recipient.phone), format="json").status_code == 403
    assert not Conversion.objects.exists()
    assert viewer_api.get(URL).status_code == 200


def test_a_campaign_filter_past_the_ids_is_a_problem_not_a_server_error(manager_api):
    """Found by schemathesis: a number past the database's integers overflowed the query (500)."""
    answer = manager_api.get(URL, {"campaign": "-8.439788250572357e+71"})

    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/problem+json")
    assert manager_api.get(URL, {"campaign": "1"}).status_code == 200
