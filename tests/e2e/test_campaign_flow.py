"""The operator's whole flow in a real browser, against a live server, a real Celery worker and the sandbox.

Log in, sync the templates, import a CSV, build an audience and read its
preview count, create a campaign with an approved template and see its
message preview, send a test, activate (a background job with a progress
page), run the batch from Today, and read the dashboard: its numbers equal
the database's counters and its three charts are drawn. Every step leaves a
screenshot in tests/e2e/artifacts/.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from celery.signals import task_postrun
from django.utils import timezone

from campaigns.models import Campaign, CampaignDay
from campaigns.tasks import SEND_BATCH_TASK
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACTS = 30  # valid rows in the CSV; 20 of them tagged vip
CSV_ROWS = ["phone,name,city,tags"]
CSV_ROWS += [
    f"+1415555{n:04d},Customer {n},{'Lisbon' if n % 2 else 'Porto'},{'vip' if n < 20 else 'new'}" for n in range(30)
]
CSV_ROWS += ["not-a-phone,Broken Row,Nowhere,vip"]  # line 32: reported, the other rows still import


@pytest.fixture
def batch_finished():
    """Set when the worker has finished a send batch."""
    done = threading.Event()

    def on_postrun(sender=None, **kwargs):
        if sender is not None and sender.name == SEND_BATCH_TASK:
            done.set()

    task_postrun.connect(on_postrun, weak=False)
    yield done
    task_postrun.disconnect(on_postrun)


def run_action(page, campaign_name: str, action: str) -> None:
    """Tick one campaign on the changelist and run an admin action on it."""
    page.click("#site-name a")
    page.goto(page.url.rstrip("/") + "/campaigns/campaign/")
    row = page.locator("#result_list tr", has_text=campaign_name)
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


@pytest.mark.sandbox(read_rate=0.6, fail_rate=0.2, seed=11)
def test_operator_runs_a_campaign_from_csv_to_dashboard(
    live_server, cloud_sandbox, live_celery_worker, batch_finished, page, screenshot, tmp_path
):
    UserFactory(username="operator", is_superuser=True, password="correct horse battery staple")
    admin = f"{live_server.url}/admin"

    # Log in.
    page.goto(f"{admin}/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct horse battery staple")
    screenshot("login")
    page.click("input[type=submit]")
    page.wait_for_selector("#today")

    # Sync the account's templates from the sandbox.
    page.goto(f"{admin}/whatsapp/messagetemplate/")
    page.click("text=Sync templates from WhatsApp")
    page.wait_for_selector("#result_list >> text=spring_sale")
    screenshot("templates-synced")

    # Import a CSV: preview first (one bad row, reported with its line), then confirm.
    upload = tmp_path / "customers.csv"
    upload.write_text("\n".join(CSV_ROWS) + "\n", encoding="utf-8")
    page.goto(f"{admin}/audiences/contact/import/")
    page.set_input_files("#id_file", str(upload))
    page.click("input[value='Preview import']")
    page.wait_for_selector("#import-created", timeout=60_000)  # the preview is a background job
    assert page.inner_text("#import-created") == str(CONTACTS)
    assert page.inner_text("#import-invalid") == "1"
    assert "32" in page.inner_text("#import-invalid-rows")
    screenshot("import-preview")
    page.click("input[value^='Confirm']")
    page.wait_for_selector("#import-job .job-message.success", timeout=60_000)
    screenshot("import-done")

    # An audience of the vip tag, with its live preview count.
    page.goto(f"{admin}/audiences/audience/add/")
    page.fill("#id_name", "VIP customers")
    page.select_option("#id_include_tags", "vip")
    page.click("input[name=_continue]")
    assert page.inner_text("#audience-count") == "20"
    screenshot("audience-preview")

    # A campaign with an approved template; the form previews the message for a sample contact.
    page.goto(f"{admin}/campaigns/campaign/add/")
    page.fill("#id_name", "Spring sale for VIPs")
    page.select_option("#id_audience", label="VIP customers")
    page.select_option("#id_template", label="spring_sale (en_US)")
    page.wait_for_selector("#id_body_2_0")  # the template's placeholders, one picker each
    page.select_option("#id_header_1_0", "first_name")
    page.select_option("#id_body_1_0", "first_name")
    page.select_option("#id_body_2_0", "attributes.city")
    page.fill("#id_body_2_1", "our")
    start = timezone.localtime() - dt.timedelta(minutes=1)
    page.fill("#id_start_at_0", start.strftime("%Y-%m-%d"))
    page.fill("#id_start_at_1", start.strftime("%H:%M:%S"))
    page.wait_for_selector("#campaign-preview-box .wa-header >> text=Spring sale, Customer!")
    preview = page.inner_text("#campaign-preview-box")
    assert "everything in our Lisbon store is 20% off" in preview or "Porto store" in preview
    assert "Stop promotions" in preview  # the template's quick-reply button
    screenshot("campaign-preview")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    campaign = Campaign.objects.get(name="Spring sale for VIPs")

    # Send a test to one phone through the sandbox.
    run_action(page, campaign.name, "send_test")
    page.fill("#id_phone", "+14155550999")
    screenshot("send-test")
    page.click("input[value='Send test']")
    page.wait_for_selector(".messagelist >> text=Test message sent")
    assert any(sent["to"] == "14155550999" for sent in cloud_sandbox.accepted)

    # Activate: a background job; its progress page ends with the result.
    run_action(page, campaign.name, "activate")
    page.click("#lifecycle-confirm-yes")  # after the confirmation page's numbers
    page.wait_for_selector("#campaign-job .job-message.success", timeout=60_000)
    assert "20" in page.inner_text("#campaign-job")
    screenshot("activation-done")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.total) == (Campaign.Status.RUNNING, 20)

    # Run the batch now from Today, and wait for the worker and the webhooks.
    page.goto(f"{admin}/")
    screenshot("today-before-batch")
    page.click("#today-batch input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert batch_finished.wait(timeout=90), "the worker did not run the send batch"
    assert cloud_sandbox.wait_idle(timeout=60)
    campaign.refresh_from_db()
    assert campaign.sent + campaign.failed > 0
    page.goto(f"{admin}/")
    screenshot("today-after-batch")

    # The dashboard: its numbers are the campaign's, and the three charts are drawn.
    page.goto(f"{admin}/campaigns/campaign/{campaign.pk}/change/")
    page.click("a.dashboardlink")
    page.wait_for_selector("#dash-charts")
    campaign.refresh_from_db()
    for figure in ("total", "sent", "delivered", "read", "failed", "pending"):
        shown = page.inner_text(f"[data-figure={figure}] .value").replace(",", "")
        assert shown == str(getattr(campaign, figure)), figure
    for chart in ("chart-daily", "chart-progress", "chart-funnel"):
        svg = page.locator(f"svg#{chart}")
        assert svg.is_visible()
        box = svg.bounding_box()
        assert box["width"] > 200 and box["height"] > 100
        assert svg.locator("rect, path, polyline, line").count() > 3
    entered_sent = sum(CampaignDay.objects.filter(campaign=campaign).values_list("sent", flat=True))
    assert page.get_attribute("svg#chart-progress", "data-last-sent") == str(entered_sent)
    assert page.get_attribute("svg#chart-progress", "data-last-planned") == str(campaign.total)
    for step in ("total", "sent", "delivered", "read"):
        value = page.get_attribute(f"svg#chart-funnel [data-step={step}]", "data-value")
        assert value == str(getattr(campaign, step)), step
    if campaign.failed:
        assert page.locator("#dash-failures tr[data-error-code]").count() >= 1
    screenshot("dashboard")
