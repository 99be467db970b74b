"""The campaign page carries the lifecycle (issue 13): buttons by state and permission, numbers before acting."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from campaigns.models import Campaign, Recipient
from tests.campaigns.helpers import running_campaign
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory, RecipientFactory

pytestmark = pytest.mark.django_db
C = Campaign.Status
R = Recipient.Status


def change_page(client, campaign) -> str:
    return client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()


def buttons(page: str) -> set[str]:
    return set(
        re.findall(r"class=\"button lifecycle-(\w+)", page.split('id="campaign-lifecycle"')[1].split("</fieldset>")[0])
    )


def lifecycle(campaign, action: str) -> str:
    return reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, action])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (C.DRAFT, {"send_test", "activate", "cancel"}),
        (C.RUNNING, {"send_test", "top_up", "pause", "cancel", "retry_failed", "resend_unknown"}),
        (C.PAUSED, {"send_test", "top_up", "resume", "cancel", "retry_failed", "resend_unknown"}),
        (C.COMPLETED, {"send_test", "top_up", "retry_failed", "resend_unknown"}),
        (C.CANCELLED, {"retry_failed"}),
    ],
)
def test_the_buttons_follow_the_campaigns_state(manager_client, status, expected):
    campaign = CampaignFactory(status=status, failed=1, unknown=1)
    RecipientFactory(campaign=campaign, status=R.FAILED, error_code=130429)
    assert buttons(change_page(manager_client, campaign)) == expected


def test_no_retry_button_when_no_failure_can_be_fixed_by_a_resend(manager_client):
    campaign = CampaignFactory(status=C.RUNNING, failed=1)
    RecipientFactory(campaign=campaign, status=R.FAILED, error_code=131026)
    assert "retry_failed" not in buttons(change_page(manager_client, campaign))


def test_retry_and_resend_are_offered_only_when_there_is_something_to_retry_or_resend(manager_client):
    campaign = CampaignFactory(status=C.RUNNING)
    assert buttons(change_page(manager_client, campaign)) == {"send_test", "top_up", "pause", "cancel"}


def test_a_viewer_gets_no_button_and_cannot_post_one(viewer_client):
    campaign = CampaignFactory(status=C.RUNNING)
    page = change_page(viewer_client, campaign)
    assert buttons(page) == set()
    assert viewer_client.post(lifecycle(campaign, "pause")).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == C.RUNNING


def test_pause_and_resume_act_at_once_and_are_recorded(manager_client):
    campaign = running_campaign(1)
    assert manager_client.post(lifecycle(campaign, "pause")).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == C.PAUSED and "manager" in campaign.pause_reason
    manager_client.post(lifecycle(campaign, "resume"))
    campaign.refresh_from_db()
    assert campaign.status == C.RUNNING
    assert [e.get_change_message() for e in LogEntry.objects.order_by("pk")] == ["Paused.", "Resumed: Running."]


def test_cancel_shows_its_numbers_and_acts_only_when_confirmed(manager_client):
    campaign = running_campaign(3)
    page = manager_client.get(lifecycle(campaign, "cancel")).content.decode()
    assert "3 pending recipients become cancelled" in page
    campaign.refresh_from_db()
    assert campaign.status == C.RUNNING
    manager_client.post(lifecycle(campaign, "cancel"))  # no "confirm": the page again, nothing done
    campaign.refresh_from_db()
    assert campaign.status == C.RUNNING
    manager_client.post(lifecycle(campaign, "cancel"), {"confirm": "yes"})
    campaign.refresh_from_db()
    assert (campaign.status, campaign.cancelled) == (C.CANCELLED, 3)


def test_retry_failed_confirms_with_the_numbers_and_why_the_others_stay_failed(manager_client):
    campaign = running_campaign(4)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("position"))
    for row, code in zip(rows, [130429, 131000, 131026, 131050], strict=True):
        Recipient.objects.filter(pk=row.pk).update(status=R.FAILED, error_code=code)
    Campaign.objects.filter(pk=campaign.pk).update(pending=0, failed=4)
    page = manager_client.get(lifecycle(campaign, "retry_failed")).content.decode()
    assert "Retry 2 of 4 failed: 2 will not be retried, because" in page
    assert "131026" in page and "131050" in page
    response = manager_client.post(lifecycle(campaign, "retry_failed"), {"confirm": "yes"}, follow=True)
    assert "Requeued: 2." in response.content.decode()
    assert Recipient.objects.filter(campaign=campaign, status=R.PENDING).count() == 2


def test_retry_failed_on_a_completed_campaign_needs_the_reopen_box(manager_client):
    campaign = running_campaign(1)
    Recipient.objects.filter(campaign=campaign).update(status=R.FAILED, error_code=130429)
    Campaign.objects.filter(pk=campaign.pk).update(status=C.COMPLETED, pending=0, failed=1)
    page = manager_client.get(lifecycle(campaign, "retry_failed")).content.decode()
    assert 'name="reopen" required' in page
    response = manager_client.post(lifecycle(campaign, "retry_failed"), {"confirm": "yes"}, follow=True)
    assert "must be reopened explicitly" in response.content.decode()
    manager_client.post(lifecycle(campaign, "retry_failed"), {"confirm": "yes", "reopen": "on"})
    campaign.refresh_from_db()
    assert (campaign.status, campaign.pending) == (C.RUNNING, 1)


def test_activate_confirms_with_the_plan_then_runs_in_the_background(
    manager_client, eager_celery, django_capture_on_commit_callbacks
):
    ContactFactory.create_batch(3)
    campaign = CampaignFactory(start_at=None)
    page = manager_client.get(lifecycle(campaign, "activate")).content.decode()
    assert "matches 3 subscribed contacts" in page and "3 recipients will be added." in page
    assert "It starts now." in page
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(lifecycle(campaign, "activate"), {"confirm": "yes"})
    assert "/job/" in response.url
    campaign.refresh_from_db()
    assert (campaign.status, campaign.total) == (C.RUNNING, 3)


def test_an_activation_that_would_be_refused_says_why_and_offers_no_yes(manager_client):
    campaign = CampaignFactory(parameters=["{{contact.first_name}}", ""])
    page = manager_client.get(lifecycle(campaign, "activate")).content.decode()
    assert "Body placeholder {{2}} is empty" in page
    assert 'id="lifecycle-confirm-yes"' not in page
    assert "Body placeholder {{2}} is empty" in change_page(manager_client, campaign)  # also on the campaign page


def test_an_action_that_no_longer_applies_changes_nothing(manager_client):
    campaign = CampaignFactory(status=C.CANCELLED)
    response = manager_client.post(lifecycle(campaign, "pause"), follow=True)
    assert "does not apply to it now" in response.content.decode()
