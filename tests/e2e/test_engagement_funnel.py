"""The full funnel in a real browser (issue 17): the sandbox's people read, tap the tracked link and quick
replies; the operator uploads one order in the admin; the dashboard shows sent -> converted, replies per
button and the attributed revenue. Screenshots go to tests/e2e/artifacts/."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Recipient
from campaigns.services import batch_send, campaign_activate
from tests.factories import AudienceFactory, ContactFactory, UserFactory
from whatsapp.models import MessageTemplate
from whatsapp.services import templates_sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.sandbox(read_rate=1.0, click_rate=0.6, reply_rate=0.5, seed=11)
def test_the_dashboard_shows_the_funnel_after_taps_and_an_uploaded_order(
    live_server, cloud_sandbox, page, screenshot, settings
):
    UserFactory(username="operator", is_superuser=True, password="correct horse battery staple")
    now = timezone.now()
    templates_sync(now=now)
    for n in range(12):
        ContactFactory(name=f"Customer {n}", tags=["spring"])
    campaign = Campaign.objects.create(
        name="Spring sale, tracked",
        template=MessageTemplate.objects.get(name="spring_sale_link"),
        parameters=["{{contact.first_name|there}}"],
        link_url="https://shop.example/spring?utm_source=whatsapp&utm_campaign=spring",
        audience=AudienceFactory(name="Spring", rules={"include_tags": ["spring"]}),
        start_at=now,
    )
    campaign_activate(campaign=campaign, now=now)
    settings.SEND_WINDOW_START, settings.SEND_WINDOW_END = "00:00", "23:59"
    assert batch_send(now=now).sent == 12
    assert cloud_sandbox.wait_idle(timeout=60)
    clicker = Recipient.objects.filter(campaign=campaign, clicks__gt=0).order_by("pk").first()
    assert clicker is not None, "the sandbox's people clicked nothing"
    admin = f"{live_server.url}/admin"

    page.goto(f"{admin}/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.wait_for_selector("#today")

    # One order, uploaded as a shop without an integration would; a bad row is reported, not lost.
    page.goto(f"{admin}/campaigns/conversion/")
    page.click("text=Upload orders (CSV)")
    orders = (
        "order_id,value,currency,time,phone\n"
        f"WEB-1001,59.90,EUR,{timezone.now().isoformat()},{clicker.phone}\n"
        "WEB-1002,ten,EUR,2026-03-03T10:00:00Z,+14155550199\n"
    )
    page.set_input_files("#id_file", files=[{"name": "orders.csv", "mimeType": "text/csv", "buffer": orders.encode()}])
    page.click("input[type=submit]")
    report = page.wait_for_selector("#orders-report")
    assert report.get_attribute("data-created") == "1" and report.get_attribute("data-rejected") == "1"
    assert "value:" in page.inner_text("#orders-rejected")
    screenshot("orders-uploaded")

    page.goto(f"{admin}/campaigns/campaign/{campaign.pk}/dashboard/")
    funnel = {
        step.get_attribute("data-step"): int(step.get_attribute("data-value"))
        for step in page.query_selector_all("#chart-funnel [data-step]")
    }
    campaign.refresh_from_db()
    assert funnel == {
        "total": 12,
        "sent": 12,
        "delivered": 12,
        "read": 12,
        "clickers": campaign.clickers,
        "replied": campaign.replied,
        "converted": 1,
    }
    assert campaign.clickers > 0 and campaign.replied > 0
    assert "59.90 EUR" in page.inner_text("[data-figure=revenue]")
    buttons = page.query_selector_all("#dash-reply-buttons tr[data-payload]")
    assert sum(int(row.get_attribute("data-count")) for row in buttons) == campaign.replied
    assert {row.get_attribute("data-payload") for row in buttons} <= {"Show me more", "Not now"}
    screenshot("dashboard-funnel")
