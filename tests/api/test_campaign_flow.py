"""A campaign driven through the API ends where the admin would: same services, same figures, same history."""

import time

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from campaigns.models import Campaign, Recipient
from campaigns.selectors import campaign_stats
from tests.campaigns.helpers import assert_counters_match_recount
from tests.factories.audiences import ContactFactory
from tests.factories.users import MANAGERS, UserFactory
from tests.factories.whatsapp import MessageTemplateFactory

C = Campaign.Status


def poll(api, url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(url).json()
        if job["finished"] or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_a_campaign_created_activated_paused_resumed_through_the_api_equals_the_admins_figures(
    live_celery_worker, manager_api, client
):
    ContactFactory.create_batch(6, tags=["spring"])
    ContactFactory.create_batch(2, tags=["autumn"])
    template = MessageTemplateFactory()
    audience = manager_api.post(
        "/api/v1/audiences/", {"name": "Spring", "rules": {"include_tags": ["spring"]}}, format="json"
    )
    assert audience.status_code == 201, audience.json()
    preview = manager_api.get(f"/api/v1/audiences/{audience.json()['id']}/preview/", {"sample": 3}).json()
    assert preview["count"] == 6 and len(preview["sample"]) == 3

    created = manager_api.post(
        "/api/v1/campaigns/",
        {
            "name": "Spring sale",
            "template": template.pk,
            "audience": audience.json()["id"],
            "header_parameters": ["{{contact.first_name|there}}"],
            "parameters": ["{{contact.attributes.city|your city}}", "20%"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["problems"] == []

    started = manager_api.post(f"/api/v1/campaigns/{campaign_id}/activate/", {}, format="json")
    assert started.status_code == 202, started.json()
    assert started["Location"] == started.json()["url"]
    job = poll(manager_api, started.json()["url"])
    assert (job["state"], job["finished"], job["ok"], job["done"], job["total"]) == ("SUCCESS", True, True, 6, 6)

    paused = manager_api.post(f"/api/v1/campaigns/{campaign_id}/pause/", {"reason": "stock check"}, format="json")
    assert paused.status_code == 200, paused.json()
    assert (paused.json()["campaign"]["status"], paused.json()["campaign"]["pause_reason"]) == ("paused", "stock check")
    resumed = manager_api.post(f"/api/v1/campaigns/{campaign_id}/resume/", format="json")
    assert resumed.json()["campaign"]["status"] == "running"

    campaign = Campaign.objects.get(pk=campaign_id)
    assert_counters_match_recount(campaign)
    stats = manager_api.get(f"/api/v1/campaigns/{campaign_id}/stats/").json()
    assert stats == campaign_stats(campaign=campaign)
    admin = UserFactory(username="admin-viewer", groups=[MANAGERS])
    client.force_login(admin)
    page = client.get(reverse("admin:campaigns_campaign_dashboard", args=[campaign_id]))
    assert stats == page.context["stats"]
    detail = manager_api.get(f"/api/v1/campaigns/{campaign_id}/").json()
    assert (detail["status"], detail["total"], detail["pending"]) == ("running", 6, 6)
    recipients = manager_api.get(f"/api/v1/campaigns/{campaign_id}/recipients/", {"limit": 100}).json()["results"]
    assert [r["phone"] for r in recipients] == list(
        Recipient.objects.filter(campaign_id=campaign_id).order_by("position").values_list("phone", flat=True)
    )

    # Every write is in the admin's history, under the key's user.
    history = LogEntry.objects.filter(object_id=str(campaign_id)).order_by("id")
    assert {entry.user.username for entry in history} == {"api-manager"}
    messages = [entry.change_message for entry in history]
    assert messages[0] == "Added (API)"
    assert any(m.startswith("Activation started: job ") for m in messages)
    assert "Paused. (API)" in messages and any(m.startswith("Resumed") for m in messages)
