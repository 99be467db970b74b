"""The operator's admin: actions call services, cancel asks first, only approved templates offered.

Activation runs as a Celery task (tests/campaigns/test_async_activation.py
drives it through a real worker); here the task runs eagerly at the commit.
"""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from campaigns.batch import batch_send
from campaigns.models import Campaign, Recipient
from tests.campaigns.helpers import START, running_campaign
from tests.factories.audiences import ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.whatsapp import MessageTemplateFactory
from whatsapp.errors import error_help
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:campaigns_campaign_changelist")


def act(client, action, campaign, **data):
    return client.post(CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: [campaign.pk], **data}, follow=True)


def test_change_page_shows_progress_rates_quota_and_failures(admin_client):
    campaign = running_campaign(2)
    batch_send(now=START)
    Recipient.objects.filter(campaign=campaign).update(
        status=Recipient.Status.FAILED, error_code=131026, error_reason="Error 131026: x - y (z)"
    )
    response = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "2 of 2 (100.0%)" in content
    assert "Messaging limit" in content
    assert "131026" in content and error_help(131026).action in content


def test_only_approved_templates_are_offered(admin_client):
    MessageTemplateFactory(name="approved_one")
    MessageTemplateFactory(name="paused_one", status=MessageTemplate.Status.PAUSED)
    content = admin_client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert "approved_one" in content and "paused_one" not in content


def test_activate_action_reports_recipients_added(admin_client, eager_celery, django_capture_on_commit_callbacks):
    ContactFactory.create_batch(3)
    campaign = CampaignFactory()  # its start (2026-03-02) has passed: it runs at once
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST, {"action": "activate", ACTION_CHECKBOX_NAME: [campaign.pk], "confirm": "yes"}
        )
    assert "running, recipients added: 3" in admin_client.get(response.url).content.decode()


def test_an_invalid_activation_is_reported_and_changes_nothing(admin_client, eager_celery):
    ContactFactory()
    campaign = CampaignFactory(parameters=[])
    assert "body parameter" in act(admin_client, "activate", campaign).content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_cancel_asks_for_confirmation_first(admin_client):
    campaign = running_campaign(3)
    response = act(admin_client, "cancel", campaign)
    assert "Yes, cancel them" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    act(admin_client, "cancel", campaign, post="yes")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.cancelled, campaign.pending) == (Campaign.Status.CANCELLED, 3, 0)


def test_pause_and_resume(admin_client):
    campaign = running_campaign(1)
    act(admin_client, "pause", campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and campaign.pause_reason
    assert batch_send(now=START).sent == 0
    act(admin_client, "resume", campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert batch_send(now=START).sent == 1


def test_send_test_message_through_an_intermediate_form(admin_client, outbox):
    campaign = running_campaign(1)
    form = act(admin_client, "send_test", campaign)
    assert 'name="phone"' in form.content.decode()
    response = act(admin_client, "send_test", campaign, phone="+14155550123")
    assert "Test message sent" in response.content.decode()
    assert outbox[-1]["to"] == "+14155550123"


def test_recipient_changelist_filters_and_searches(admin_client, django_assert_max_num_queries):
    campaign = running_campaign(5)
    url = reverse("admin:campaigns_recipient_changelist")
    phone = Recipient.objects.filter(campaign=campaign).first().phone
    with django_assert_max_num_queries(15):
        response = admin_client.get(url, {"campaign__id__exact": campaign.pk, "status__exact": "pending", "q": phone})
    assert response.status_code == 200
    assert phone in response.content.decode()
