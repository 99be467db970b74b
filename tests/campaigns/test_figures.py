"""Figures agree (issue 13): one "sent", the pending continuation, no estimate once closed, pages that refresh."""

import datetime as dt

import pytest
from django.urls import reverse

from campaigns import tasks
from campaigns.batch import batch_send
from campaigns.models import BatchContinuation, Campaign
from campaigns.selectors import campaign_dashboard, campaign_stats
from campaigns.services import campaign_cancel
from campaigns.today import today_overview
from tests.campaigns.helpers import START, running_campaign
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db
C = Campaign.Status


def test_the_continuation_the_task_schedules_is_recorded_and_shown_as_the_next_batch(
    settings, monkeypatch, outbox, admin_client
):
    settings.WHATSAPP_DAILY_LIMIT = 5
    running_campaign(20, now=START - dt.timedelta(days=2))
    batch_send(now=START + dt.timedelta(minutes=4) - dt.timedelta(days=1))  # the window frees at 09:04
    monkeypatch.setattr(tasks.timezone, "now", lambda: START)
    monkeypatch.setattr(tasks.send_batch_task, "apply_async", lambda **kw: None)
    tasks.send_batch_task()

    continuation = BatchContinuation.objects.get()
    assert (continuation.run_at, continuation.reason) == (
        START + dt.timedelta(minutes=4),
        "the 24-hour window was full",
    )
    overview = today_overview(now=START)
    assert overview.continuation.run_at == START + dt.timedelta(minutes=4)
    assert overview.next_batch_at == START + dt.timedelta(minutes=4)  # not tomorrow's 09:00
    assert overview.live
    # Once its time has passed it is no longer "next".
    assert today_overview(now=START + dt.timedelta(minutes=5)).continuation is None


def test_a_batch_without_continuation_forgets_those_already_due(monkeypatch, outbox):
    BatchContinuation.objects.create(run_at=START - dt.timedelta(minutes=1), created_at=START)
    running_campaign(1)
    monkeypatch.setattr(tasks.timezone, "now", lambda: START)
    tasks.send_batch_task()
    assert not BatchContinuation.objects.exists()


def test_today_shows_the_continuation_and_labels_what_each_figure_counts(admin_client):
    running_campaign(3)
    BatchContinuation.objects.create(run_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC), reason="a retry comes due",
                                     created_at=START)  # fmt: skip
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="today-continuation"' in page and "a retry comes due" in page
    assert "0 of 3 sent (0%)" in page  # sent: the campaign counter, as on its page and dashboard
    assert "handed to WhatsApp of" in page  # the ledger's figure is not called "sent"
    assert 'data-live="true"' in page and "campaigns/refresh.js" in page


@pytest.mark.parametrize("close", ["cancel", "complete"])
def test_a_closed_campaign_shows_no_estimate(admin_client, close):
    campaign = running_campaign(2)
    assert campaign.estimated_completion_date is not None
    if close == "cancel":
        campaign_cancel(campaign=campaign, now=START)
    else:
        batch_send(now=START)
    campaign.refresh_from_db()
    assert campaign.status in (C.CANCELLED, C.COMPLETED)
    assert campaign_stats(campaign=campaign)["estimated_completion_date"] is None
    dashboard = campaign_dashboard(campaign=campaign, now=START)
    assert (dashboard.planned_completion, dashboard.pace_completion) == (None, None)
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'id="campaign-estimate"' not in change
    page = admin_client.get(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])).content.decode()
    assert "there is no estimate" in page and 'data-live="false"' in page
    from django.contrib import admin

    assert admin.site._registry[Campaign].estimated_completion(campaign) == "-"  # the changelist's column


def test_the_dashboard_of_a_running_campaign_refreshes_itself_and_carries_the_lifecycle(admin_client):
    campaign = running_campaign(2)
    page = admin_client.get(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])).content.decode()
    assert 'data-live="true"' in page and "campaigns/refresh.js" in page
    assert "accepted by WhatsApp, not failed since" in page
    assert 'class="button lifecycle-pause"' in page and 'class="button lifecycle-cancel deletelink"' in page


def test_a_draft_is_not_live_on_its_dashboard(admin_client):
    campaign = CampaignFactory()
    page = admin_client.get(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])).content.decode()
    assert 'data-live="false"' in page
