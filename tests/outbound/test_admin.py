"""The outbound admin: endpoints registered with a form of event types, deliveries and events listed."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services import campaign_pause
from outbound.models import Endpoint, EventType
from tests.campaigns.helpers import START
from tests.factories.campaigns import CampaignFactory

pytestmark = pytest.mark.django_db


def test_an_endpoint_is_registered_with_its_event_types_and_gets_a_secret(admin_client):
    add = reverse("admin:outbound_endpoint_add")
    assert b"campaign.paused" in admin_client.get(add).content

    answer = admin_client.post(
        add,
        {"url": "https://crm.example.com/hooks", "description": "CRM",
         "event_types": [EventType.CAMPAIGN_PAUSED, EventType.CONTACT_OPTED_OUT], "active": "on"},
    )  # fmt: skip

    assert answer.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.event_types == ["campaign.paused", "contact.opted_out"]
    assert endpoint.secret.startswith("whsec_")
    assert b"not-a-type" not in admin_client.get(reverse("admin:outbound_endpoint_change", args=[endpoint.pk])).content
    refused = admin_client.post(add, {"url": "https://x.example", "event_types": ["not-a-type"], "active": "on"})
    assert refused.status_code == 200 and Endpoint.objects.count() == 1


def test_deliveries_and_events_are_listed(admin_client, django_capture_on_commit_callbacks):
    Endpoint.objects.create(url="https://crm.example.com/hooks", event_types=[EventType.CAMPAIGN_PAUSED])
    with django_capture_on_commit_callbacks():  # recorded, not sent
        campaign_pause(campaign=CampaignFactory(status=Campaign.Status.RUNNING), reason="by hand", now=START)

    for name in ("delivery", "event", "endpoint"):
        page = admin_client.get(reverse(f"admin:outbound_{name}_changelist"))
        assert page.status_code == 200
        assert b"campaign.paused" in page.content or name == "endpoint"
