"""A new operator's campaign from its own page, in a real browser (issue 13).

The campaign is filled through one field per placeholder (no JSON), then,
from the campaign page's buttons only: send a test (its status arrives on the
page with the text), activate (confirmation with numbers, then the job),
pause, resume, retry failed (its confirmation says how many and why the
others are not retried) and cancel (confirmation). A screenshot of each step
goes to tests/e2e/artifacts/.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Recipient, TestSend
from campaigns.retry import retry_failed_plan
from campaigns.services import batch_send
from tests.factories import AudienceFactory, ContactFactory, UserFactory
from whatsapp.services import templates_sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CITIES = ["Lisbon", "Porto"]


def wait_for_status(page, url: str, selector: str, text: str, tries: int = 20) -> None:
    """Reload `url` until `selector` shows `text` (webhooks arrive asynchronously from the sandbox)."""
    for _ in range(tries):
        page.goto(url)
        if text in (page.inner_text(selector) if page.locator(selector).count() else ""):
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector} never showed {text!r}")


@pytest.mark.sandbox(fail_rate=0.5, read_rate=0.5, seed=5)
def test_operator_runs_a_campaign_from_its_own_page(
    live_server, cloud_sandbox, live_celery_worker, page, screenshot, settings
):
    settings.WHATSAPP_DAILY_LIMIT = 15  # 20 contacts: some stay pending, so the campaign keeps running
    UserFactory(username="operator", is_superuser=True, password="correct horse battery staple")
    templates_sync(now=timezone.now())
    for n in range(20):
        ContactFactory(name=f"Customer {n}", attributes={"city": CITIES[n % 2]}, tags=["vip"])
    AudienceFactory(name="VIP customers", rules={"include_tags": ["vip"]})
    admin = f"{live_server.url}/admin"

    page.goto(f"{admin}/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.wait_for_selector("#today")

    # The form: one picker per placeholder of the chosen template, the preview beside them. No JSON anywhere.
    page.goto(f"{admin}/campaigns/campaign/add/")
    page.fill("#id_name", "Spring sale, first campaign")
    page.select_option("#id_audience", label="VIP customers")
    page.select_option("#id_template", label="spring_sale (en_US)")
    page.wait_for_selector("#id_body_2_0")
    assert page.locator("#id_parameters, #id_header_parameters").count() == 0
    page.select_option("#id_header_1_0", "first_name")
    page.fill("#id_header_1_1", "friend")
    page.select_option("#id_body_1_0", "first_name")
    page.fill("#id_body_1_1", "there")
    page.select_option("#id_body_2_0", "attributes.city")
    page.fill("#id_body_2_1", "nearest")
    page.wait_for_selector("#campaign-preview-box .wa-header >> text=Spring sale, Customer!")
    assert "everything in our Lisbon store" in page.inner_text("#campaign-preview-box")
    assert page.input_value("#id_start_at_0") == ""  # empty: starts when activated
    screenshot("form-per-placeholder")
    page.click("input[name=_continue]")
    page.wait_for_selector("#campaign-lifecycle")
    campaign = Campaign.objects.get()
    assert campaign.header_parameters == ["{{contact.first_name|friend}}"]
    assert campaign.parameters == ["{{contact.first_name|there}}", "{{contact.attributes.city|nearest}}"]
    change_url = page.url
    screenshot("saved-draft-with-its-buttons")

    # Send test from the page: its status and the text it carried come back on the page.
    page.click("#campaign-lifecycle a.lifecycle-send_test")
    page.fill("#id_phone", "+14155550999")
    screenshot("send-test")
    page.click("#send-test-form input[type=submit]")
    page.wait_for_selector(".messagelist >> text=Test message sent")
    assert cloud_sandbox.wait_idle(timeout=30)
    message_id = TestSend.objects.get().message_id
    wait_for_status(page, change_url, f'#test-sends tr[data-message-id="{message_id}"] .test-status', "elivered")
    assert "Hi there, everything in our nearest store" in page.inner_text("#test-sends")  # not a contact: defaults
    screenshot("test-send-tracked")

    # Activate: the numbers first, then the background job.
    page.click("#campaign-lifecycle a.lifecycle-activate")
    confirmation = page.inner_text("#lifecycle-confirm")
    assert "matches 20 subscribed contacts" in confirmation and "20 recipients will be added." in confirmation
    assert "It starts now." in confirmation
    screenshot("activate-confirmation")
    page.click("#lifecycle-confirm-yes")
    page.wait_for_selector("#campaign-job .job-message.success", timeout=60_000)
    screenshot("activated")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.total) == (Campaign.Status.RUNNING, 20)

    # A batch goes out (the limit leaves some pending); failures come back by webhook.
    batch_send(now=timezone.now())
    assert cloud_sandbox.wait_idle(timeout=60)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.pending > 0

    # Pause, then resume, from the page.
    page.goto(change_url)
    page.click("#campaign-lifecycle button.lifecycle-pause")
    page.wait_for_selector("#campaign-lifecycle[data-status=paused]")
    screenshot("paused")
    page.click("#campaign-lifecycle button.lifecycle-resume")
    page.wait_for_selector("#campaign-lifecycle[data-status=running]")
    screenshot("resumed")

    # Retry failed: the confirmation says how many of the failed are retried and why the others are not.
    plan = retry_failed_plan(campaign=campaign)
    assert plan.failed > 0, "the sandbox's seed should fail some messages"
    page.goto(change_url)
    page.click("#campaign-lifecycle a.lifecycle-retry_failed")
    text = page.inner_text("#lifecycle-confirm")
    assert plan.summary in text
    assert re.search(rf"Retry {plan.retryable} of {plan.failed} failed", text)
    screenshot("retry-failed-confirmation")
    if plan.retryable:
        page.click("#lifecycle-confirm-yes")
        page.wait_for_selector(".messagelist .success")
        screenshot("retried")
        assert Recipient.objects.filter(campaign=campaign, status="failed").count() == plan.failed - plan.retryable
    else:
        page.click("text=Go back")

    # Cancel: confirmation with the number of pending recipients, then cancelled.
    page.goto(change_url)
    page.click("#campaign-lifecycle a.lifecycle-cancel")
    campaign.refresh_from_db()
    assert f"{campaign.pending} pending recipients become cancelled" in page.inner_text("#lifecycle-confirm")
    screenshot("cancel-confirmation")
    page.click("#lifecycle-confirm-yes")
    page.wait_for_selector("#campaign-lifecycle[data-status=cancelled]")
    screenshot("cancelled")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED and campaign.pending == 0
    assert page.locator("#campaign-estimate").count() == 0  # a cancelled campaign shows no estimate
