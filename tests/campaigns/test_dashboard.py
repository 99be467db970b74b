"""The campaign dashboard: its figures follow real sends and status events, and the admin page shows them."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.batch import batch_send
from campaigns.models import Recipient
from campaigns.selectors import campaign_dashboard
from campaigns.services import recipient_apply_status
from tests.campaigns.helpers import START, running_campaign
from tests.factories.campaigns import CampaignFactory
from tests.factories.users import UserFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import WhatsAppError, error_help
from whatsapp.events import ErrorInfo, StatusEvent

pytestmark = pytest.mark.django_db
R = Recipient.Status
DAY1 = START.date()
DAY2 = DAY1 + dt.timedelta(days=1)
DAY3 = DAY1 + dt.timedelta(days=2)


def status(row, name, at, code=None):
    errors = [ErrorInfo(code=code, title="Bad", message="m", details="d")] if code else []
    return StatusEvent(
        message_id=row.message_id, status=name, timestamp=at, recipient=row.phone, tracker=None, errors=errors
    )


def two_days_of_sending(settings):
    """8 recipients, 3 a day. Day 1: one refused (131026, its quota given back), 3 accepted; day 2: 3 accepted."""
    settings.WHATSAPP_DAILY_LIMIT = 3
    campaign = running_campaign(8)
    first = Recipient.objects.filter(campaign=campaign).order_by("position").first()
    LocmemBackend.script_errors({first.phone: WhatsAppError("Undeliverable", code=131026, title="Undeliverable")})
    batch_send(now=START)
    sent = list(Recipient.objects.filter(campaign=campaign, status=R.SENT).order_by("position"))
    recipient_apply_status(event=status(sent[0], "delivered", START + dt.timedelta(minutes=5)))
    recipient_apply_status(event=status(sent[0], "read", START + dt.timedelta(days=1, hours=1)))
    recipient_apply_status(event=status(sent[1], "failed", START + dt.timedelta(days=1, hours=1), code=131047))
    batch_send(now=START + dt.timedelta(days=1, hours=2))
    campaign.refresh_from_db()
    return campaign


def test_dashboard_figures_follow_real_sends_and_status_events(settings):
    campaign = two_days_of_sending(settings)
    dash = campaign_dashboard(campaign=campaign, now=START + dt.timedelta(days=2))

    assert [(d.day, d.sent, d.delivered, d.read, d.failed) for d in dash.activity] == [
        (DAY1, 3, 1, 0, 1),  # three accepted, one delivered, one refused (131026)
        (DAY2, 3, 0, 1, 1),  # three accepted, one read, one failed after it was sent (131047)
        (DAY3, 0, 0, 0, 0),  # still running: the bars reach today
    ]
    assert [(p.day, p.planned, p.sent) for p in dash.progress] == [(DAY1, 3, 3), (DAY2, 6, 6), (DAY3, 8, 6)]
    assert [(s.key, s.count, s.percent) for s in dash.funnel] == [
        ("total", 8, 100.0),
        ("sent", 5, 62.5),  # 6 accepted, one of them failed afterwards
        ("delivered", 1, 12.5),
        ("read", 1, 12.5),
        ("clickers", 0, 0.0),
        ("replied", 0, 0.0),
        ("converted", 0, 0.0),
    ]
    assert [(f.error_code, f.count) for f in dash.failures] == [(131026, 1), (131047, 1)]
    assert dash.failures[0].help == error_help(131026)
    assert [f.title for f in dash.failures] == ["Undeliverable", "Bad"]  # WhatsApp's own titles
    assert (dash.stats["failed"], dash.stats["pending"], dash.remaining) == (2, 1, 1)
    # Planned: 8 recipients at 3 a day from day 1. Observed: 3 a day, 1 left -> today.
    assert dash.planned_completion == DAY3
    assert (dash.pace_per_day, dash.pace_days, dash.pace_completion) == (3.0, 2, DAY3)


def test_the_per_day_sums_equal_the_campaign_counters_in_a_normal_flow(settings):
    campaign = two_days_of_sending(settings)
    dash = campaign_dashboard(campaign=campaign, now=START + dt.timedelta(days=2))
    sums = {key: sum(getattr(d, key) for d in dash.activity) for key in ("delivered", "read", "failed")}
    assert sums == {"delivered": campaign.delivered, "read": campaign.read, "failed": campaign.failed}
    assert dash.progress[-1].planned == campaign.total


def test_the_observed_pace_averages_the_last_seven_days_with_sends(settings):
    campaign = running_campaign(3)
    for i, sent in enumerate([100, 1, 1, 1, 1, 1, 1, 1]):  # day 0 is the eighth from the end: left out
        campaign.days.update_or_create(day=DAY1 + dt.timedelta(days=2 * i), defaults={"sent": sent})
    dash = campaign_dashboard(campaign=campaign, now=START + dt.timedelta(days=20))
    assert (dash.pace_per_day, dash.pace_days) == (1.0, 7)
    assert dash.pace_completion == DAY1 + dt.timedelta(days=20 + 2)  # 3 pending, 1 a day


def test_a_completed_campaign_has_nothing_left_and_no_pace_date(settings):
    settings.WHATSAPP_DAILY_LIMIT = 10
    campaign = running_campaign(2)
    batch_send(now=START)
    dash = campaign_dashboard(campaign=campaign, now=START + dt.timedelta(days=30))
    assert dash.remaining == 0 and dash.pace_completion is None
    assert [d.day for d in dash.activity] == [DAY1]  # completed: the bars stop at its last activity


def test_the_dashboard_reads_three_queries_whatever_the_campaign_size(settings, django_assert_num_queries):
    campaign = two_days_of_sending(settings)
    with django_assert_num_queries(3):  # the counters, the day rows, the failures grouped by code
        campaign_dashboard(campaign=campaign, now=START + dt.timedelta(days=2))


@pytest.mark.postgres
def test_the_failures_by_code_are_read_from_their_own_index_alone(settings):
    from django.db import connection

    campaign = two_days_of_sending(settings)
    with CaptureQueriesContext(connection) as captured:
        campaign_dashboard(campaign=campaign, now=START)
    failures_sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:  # a tiny table: forbid the scans that beat any index at this size
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {failures_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using campaigns_rcpt_failed" in plan


def dashboard_url(campaign):
    return reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])


def test_the_page_shows_the_figures_and_three_charts_with_their_numbers(settings, admin_client, monkeypatch):
    campaign = two_days_of_sending(settings)
    monkeypatch.setattr("django.utils.timezone.now", lambda: START + dt.timedelta(days=2))
    response = admin_client.get(dashboard_url(campaign))
    assert response.status_code == 200
    content = response.content.decode()
    change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert f'<a href="{change_url}">{campaign.name}</a>\n&rsaquo; Dashboard' in content  # breadcrumbs
    for chart in ("chart-daily", "chart-progress", "chart-funnel"):
        assert f'id="{chart}"' in content
    assert content.count('role="img"') == 3
    assert 'data-total-sent="6" data-total-delivered="1" data-total-read="1" data-total-failed="2"' in content
    assert 'data-last-planned="8" data-last-sent="6"' in content
    assert 'data-step="delivered" data-value="1" data-percent="12.5"' in content
    assert 'data-error-code="131026" data-count="1"' in content
    assert error_help(131047).action.split(".")[0] in content
    assert "Mar 4, 2026" in content  # both completion estimates


def test_the_change_page_links_to_the_dashboard(admin_client):
    campaign = running_campaign(1)
    content = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert f'href="{dashboard_url(campaign)}"' in content


def test_a_campaign_with_no_activity_renders(admin_client):
    campaign = CampaignFactory()  # a draft: no recipients, no days
    response = admin_client.get(dashboard_url(campaign))
    content = response.content.decode()
    assert response.status_code == 200
    assert "No activity yet" in content and "Nothing planned yet" in content and "No failures." in content
    assert content.count("—") >= 2  # neither completion date can be computed


def test_a_user_without_view_permission_gets_403(client):
    campaign = running_campaign(1)
    client.force_login(UserFactory())  # staff, no permissions
    assert client.get(dashboard_url(campaign)).status_code == 403


def test_a_viewer_sees_the_dashboard(client):
    campaign = running_campaign(1)
    viewer = UserFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(viewer)
    assert client.get(dashboard_url(campaign)).status_code == 200


def test_an_unknown_campaign_redirects_to_the_admin_index_with_a_message(admin_client):
    response = admin_client.get(reverse("admin:campaigns_campaign_dashboard", args=[999999]))
    assert response.status_code == 302
