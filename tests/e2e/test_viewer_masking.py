"""A viewer in a real browser: Contacts, a campaign's recipients and a webhook body show masked numbers only.

Screenshots of each page land in tests/e2e/artifacts/.
"""

import pytest
from django.utils import timezone

from campaigns.models import Recipient
from tests.campaigns.helpers import running_campaign
from tests.factories import UserFactory
from tests.factories.users import VIEWERS
from tests.whatsapp import payloads
from whatsapp.models import WebhookEvent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
FRENCH, BRITISH = "+33614000012", "+447911123456"


@pytest.fixture
def roles(transactional_db):
    """The roles' groups as the migrations leave them (a transactional test before this one flushed them)."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    editor = SimpleNamespace(connection=connection)
    importlib.import_module("campaigns.migrations.0006_operator_roles").create_roles(apps, editor)
    importlib.import_module("audiences.migrations.0005_contact_view_phone_numbers").grant_to_managers(apps, editor)


def whole_numbers_in(text: str) -> list[str]:
    return [form for phone in (FRENCH, BRITISH) for form in (phone, phone[1:]) if form in text]


def test_a_viewer_sees_masked_phones_on_contacts_recipients_and_webhooks(live_server, roles, page, screenshot):
    campaign = running_campaign(2, name="Spring sale")
    recipients = Recipient.objects.filter(campaign=campaign).order_by("position")
    for recipient, phone in zip(recipients, (FRENCH, BRITISH), strict=True):
        recipient.contact.phone = recipient.phone = phone
        recipient.contact.save()
        recipient.save()
    event = WebhookEvent.objects.create(
        received_at=timezone.now(),
        body=payloads.body(payloads.statuses_value(payloads.status("wamid.OUT1", "delivered", recipient=FRENCH[1:]))),
        status=WebhookEvent.Status.PROCESSED,
    )
    UserFactory(username="viewer", password=PASSWORD, groups=[VIEWERS])

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    page.goto(f"{live_server.url}/admin/audiences/contact/")
    assert page.locator("#result_list").inner_text().count("+33 6 •• •• •• 12") == 1
    assert "+44 7••• ••••56" in page.locator("#result_list").inner_text()
    assert whole_numbers_in(page.content()) == []
    screenshot("contacts")

    page.fill("#searchbar", "+33 6 14 00 00 12")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "+33 6 •• •• •• 12" in page.locator("#result_list").inner_text()
    screenshot("contact-search-by-whole-number")

    page.goto(f"{live_server.url}/admin/campaigns/recipient/?campaign__id__exact={campaign.pk}")
    assert "+33 6 •• •• •• 12" in page.locator("#result_list").inner_text()
    assert whole_numbers_in(page.content()) == []
    screenshot("campaign-recipients")

    page.goto(f"{live_server.url}/admin/whatsapp/webhookevent/{event.pk}/change/")
    body = page.locator("pre").inner_text()
    assert '"recipient_id": "+33 6 •• •• •• 12"' in body and '"display_phone_number": "15550001111"' in body
    assert whole_numbers_in(page.content()) == []
    screenshot("webhook-event")
