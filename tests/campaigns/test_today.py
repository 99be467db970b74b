"""Today on the admin index: the quota, the active campaigns, the next send batch, the alerts, "Send batch now"."""

import datetime as dt
import threading

import pytest
from celery.signals import task_postrun
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from campaigns.batch import batch_send
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_pause
from campaigns.tasks import SEND_BATCH_TASK
from campaigns.today import FAILURE_ALERT_MIN_ATTEMPTS, today_overview
from config.admin import CampaignManagerSite
from tests.campaigns.helpers import START, running_campaign
from tests.factories import CampaignFactory, UserFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import ErrorKind, WhatsAppError
from whatsapp.models import MessageTemplate

C = Campaign.Status
R = Recipient.Status
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
NOW = START + HOUR  # Monday 2026-03-02 10:00 UTC
DEFAULT_TASK = "Send campaign batch"


def error(code, **kw):
    return WhatsAppError("boom", code=code, title="Title", details="details", http_status=400, **kw)


def alerts(now=NOW, level=None):
    return [a for a in today_overview(now=now).alerts if level is None or a.level == level]


def alerts_about(campaign, now=NOW):
    """The alerts about one campaign: their message starts with its name ("Campaign 1" is not "Campaign 12")."""
    name = str(campaign)
    return [a for a in today_overview(now=now).alerts if a.message.startswith((f"{name} ", f"{name}:"))]


def fail_phones(campaign, n, code=131026):
    phones = Recipient.objects.filter(campaign=campaign).order_by("position").values_list("phone", flat=True)[:n]
    LocmemBackend.script_errors({phone: error(code) for phone in phones})


def user_with(*codenames):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="campaigns", codename__in=codenames))
    return user


# --- quota and campaigns ---------------------------------------------------------


@pytest.mark.django_db
def test_quota_shows_the_last_24_hours_today_and_what_is_left(settings):
    settings.WHATSAPP_DAILY_LIMIT = 50
    yesterday = running_campaign(30, now=START - DAY)
    batch_send(now=START - DAY + 5 * HOUR)  # yesterday 14:00: 30 sent, still inside the window at 10:00 today
    today = running_campaign(10, now=START)
    batch_send(now=START)  # 10 sent today

    overview = today_overview(now=NOW)

    quota = overview.quota
    assert (quota.limit, quota.used_24h, quota.used_today, quota.left) == (50, 40, 10, 10)
    assert quota.by_campaign_today == {today.pk: 10}
    assert overview.quota_used_percent == 80
    assert yesterday.pk not in quota.by_campaign_today


@pytest.mark.django_db
def test_active_campaigns_show_progress_and_todays_share_from_the_plan_or_the_daily_share(settings):
    settings.WHATSAPP_DAILY_LIMIT = 6
    done = running_campaign(1, now=START - DAY)
    batch_send(now=START - DAY)  # completed yesterday: not on Today
    running = running_campaign(10, now=START)  # alone: 6 planned today, 4 tomorrow
    batch_send(now=START)
    behind = running_campaign(2, now=START - DAY)  # both planned yesterday, none sent: no plan row today
    tomorrow = running_campaign(4, now=START, start_at=START + DAY)  # scheduled: its plan starts tomorrow
    paused = running_campaign(2, now=START)
    campaign_pause(campaign=paused, reason="by hand", now=START)
    CampaignFactory()  # a draft: not on Today

    rows = {row.id: row for row in today_overview(now=NOW).campaigns}

    assert list(rows) == [running.pk, behind.pk, tomorrow.pk, paused.pk]  # running, scheduled, paused
    row = rows[running.pk]
    assert (row.status, row.sent, row.total, row.progress_percent) == (C.RUNNING, 6, 10, 60)
    assert (row.sent_today, row.planned_today, row.planned_today_is_share) == (6, 6, False)
    assert row.url == reverse("admin:campaigns_campaign_change", args=[running.pk])
    # Its daily share: the limit over the three campaigns that share it (running, running, scheduled).
    assert (rows[behind.pk].planned_today, rows[behind.pk].planned_today_is_share) == (2, True)
    row = rows[tomorrow.pk]
    assert (row.status, row.sent, row.progress_percent, row.sent_today) == (C.SCHEDULED, 0, 0, 0)
    assert (row.planned_today, row.planned_today_is_share) == (0, False)  # it starts tomorrow
    # Activated when today's limit was used up: its plan starts tomorrow, none of it today (issue 13).
    assert (rows[paused.pk].planned_today, rows[paused.pk].planned_today_is_share) == (0, False)
    assert done.pk not in rows


@pytest.mark.django_db
def test_today_overview_reads_a_fixed_handful_of_queries(settings, django_assert_max_num_queries):
    settings.WHATSAPP_DAILY_LIMIT = 20
    for n in (30, 20, 10):  # 20 shared 7 + 7 + 6: all three still running
        running_campaign(n, now=START)
    batch_send(now=START)
    running_campaign(3, now=START, start_at=START + DAY)
    campaign_pause(campaign=running_campaign(2, now=START), reason="by hand", now=START)
    PeriodicTask.objects.create(
        name="Every 15 minutes",
        task=SEND_BATCH_TASK,
        interval=IntervalSchedule.objects.create(every=15, period=IntervalSchedule.MINUTES),
    )

    # quota 3 (+1 its limit), campaigns 1, plans 1, periodic tasks 1, webhooks 1, next batch 1, Meta's alerts 1,
    # the limit's tier and source 1 (whatsapp/tiers.py)
    with django_assert_max_num_queries(11):
        overview = today_overview(now=NOW)

    assert len(overview.campaigns) == 5
    assert len(overview.schedules) == 2


# --- alerts ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_campaign_paused_by_a_whatsapp_error_is_an_alert_with_its_reason():
    campaign = running_campaign(3)
    LocmemBackend.queue_errors(error(131031))
    batch_send(now=START)
    campaign.refresh_from_db()
    assert campaign.pause_error_code == 131031

    [alert] = alerts_about(campaign)

    assert alert.level == "error"
    assert "paused by a WhatsApp error" in alert.message
    assert campaign.pause_reason in alert.message
    assert alert.url == reverse("admin:campaigns_campaign_change", args=[campaign.pk])


@pytest.mark.django_db
def test_a_campaign_paused_by_hand_is_not_an_alert():
    campaign = running_campaign(3)
    campaign_pause(campaign=campaign, reason="Waiting for the new price list", now=START)
    assert alerts_about(campaign) == []


def campaign_with_outcomes(settings, *, sent, failed):
    """A running campaign (some still pending) whose batch sent `sent` and failed `failed` for good.

    Refused messages give their quota back, so a limit of `sent` ends the day at exactly these numbers.
    """
    settings.WHATSAPP_DAILY_LIMIT = sent
    campaign = running_campaign(sent + failed + 5)
    fail_phones(campaign, failed)
    batch_send(now=START)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.sent, campaign.failed) == (C.RUNNING, sent, failed)
    return campaign


@pytest.mark.django_db
def test_a_failure_rate_over_the_threshold_is_an_alert_linking_to_the_failed_recipients(settings, admin_client):
    campaign = campaign_with_outcomes(settings, sent=18, failed=2)  # 10% > 5%

    [alert] = alerts_about(campaign)

    assert alert.level == "warning"
    assert "2 of 20 messages failed (10.0%, above the 5% alert rate)" in alert.message
    page = admin_client.get(alert.url)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 2
    assert {r.status for r in page.context["cl"].result_list} == {R.FAILED}


@pytest.mark.django_db
def test_a_failure_rate_at_or_under_the_threshold_is_not_an_alert(settings):
    campaign = campaign_with_outcomes(settings, sent=19, failed=1)  # exactly 5%
    assert alerts_about(campaign) == []


@pytest.mark.django_db
def test_the_failure_alert_rate_is_a_setting(settings):
    campaign = campaign_with_outcomes(settings, sent=18, failed=2)
    settings.CAMPAIGN_FAILURE_ALERT_RATE = 0.2
    assert alerts_about(campaign) == []
    settings.CAMPAIGN_FAILURE_ALERT_RATE = 0.05
    assert len(alerts_about(campaign)) == 1


@pytest.mark.django_db
def test_a_high_failure_rate_on_too_few_attempts_is_not_an_alert(settings):
    assert FAILURE_ALERT_MIN_ATTEMPTS == 20
    campaign = campaign_with_outcomes(settings, sent=14, failed=5)  # 26%, but of 19 attempts
    assert alerts_about(campaign) == []


@pytest.mark.django_db
def test_unknown_outcomes_waiting_for_review_link_to_those_recipients(admin_client):
    campaign = running_campaign(2)
    other = running_campaign(2)
    phone = Recipient.objects.filter(campaign=campaign).order_by("position").first().phone
    LocmemBackend.script_errors({phone: error(None, kind=ErrorKind.UNKNOWN_OUTCOME)})
    batch_send(now=START)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.unknown) == (C.COMPLETED, 1)  # unknown does not hold completion

    [alert] = alerts_about(campaign)

    assert alert.level == "info"
    assert "1 message(s) with an unknown outcome" in alert.message
    page = admin_client.get(alert.url)
    assert page.status_code == 200
    assert [r.phone for r in page.context["cl"].result_list] == [phone]
    assert alerts_about(other) == []


@pytest.mark.django_db
def test_unknown_outcomes_of_a_campaign_completed_long_ago_leave_today():
    campaign = running_campaign(1)
    LocmemBackend.script_errors(
        {Recipient.objects.get(campaign=campaign).phone: error(None, kind=ErrorKind.UNKNOWN_OUTCOME)}
    )
    batch_send(now=START)
    assert len(alerts_about(campaign, now=START + 6 * DAY)) == 1
    assert alerts_about(campaign, now=START + 8 * DAY) == []


@pytest.mark.django_db
@pytest.mark.parametrize("status", [MessageTemplate.Status.PAUSED, MessageTemplate.Status.MISSING])
def test_an_active_campaign_whose_template_is_no_longer_approved_is_an_alert(status):
    campaign = running_campaign(2)
    draft = CampaignFactory(template=campaign.template)
    MessageTemplate.objects.filter(pk=campaign.template_id).update(status=status)

    [alert] = alerts_about(campaign)

    assert alert.level == "error"
    assert f"which is {status}, not APPROVED" in alert.message
    assert alert.url == reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert alerts_about(draft) == []


@pytest.mark.django_db
def test_an_approved_template_is_not_an_alert():
    running_campaign(2)
    assert [a for a in alerts() if "not APPROVED" in a.message] == []


def quota_alerts(now=NOW):
    return [a for a in alerts(now) if a.message.startswith("Quota exhausted")]


@pytest.mark.django_db
def test_quota_exhausted_before_the_days_plan_says_how_many_will_slip(settings):
    settings.WHATSAPP_DAILY_LIMIT = 10
    running_campaign(10, now=START)  # alone: its share is 10, all planned today
    running_campaign(10, now=START)  # two now: 5 a day, 5 planned today
    [alert] = quota_alerts()
    assert alert.level == "warning"
    assert "15 message(s) planned up to today, but only 10 of the daily limit of 10 are left; 5 will slip" in (
        alert.message
    )
    assert alert.url == reverse("admin:campaigns_campaign_changelist") + "?status__exact=running"

    batch_send(now=START)  # 10 sent (5 + 5): 5 of the first one's plan are left, and no quota
    [alert] = quota_alerts()
    assert "5 message(s) planned up to today, but only 0 of the daily limit of 10 are left; 5 will slip" in (
        alert.message
    )


@pytest.mark.django_db
def test_enough_quota_for_the_days_plan_is_not_an_alert(settings):
    settings.WHATSAPP_DAILY_LIMIT = 20
    running_campaign(10, now=START)
    running_campaign(10, now=START)
    assert quota_alerts() == []
    batch_send(now=START)
    assert quota_alerts() == []


@pytest.mark.django_db
def test_a_backlog_from_earlier_days_counts_in_the_days_plan(settings):
    settings.WHATSAPP_DAILY_LIMIT = 10
    running_campaign(20, now=START - DAY)  # 10 planned yesterday, 10 today; nothing was sent yesterday
    [alert] = quota_alerts()
    assert "20 message(s) planned up to today, but only 10" in alert.message


# --- the next send batch -------------------------------------------------------


def default_task() -> PeriodicTask:
    return PeriodicTask.objects.get(name=DEFAULT_TASK)


def set_last_run(at):
    PeriodicTask.objects.filter(name=DEFAULT_TASK).update(last_run_at=at)


@pytest.mark.django_db
def test_next_batch_is_the_default_tasks_next_nine_oclock():
    set_last_run(START - DAY)  # it ran yesterday at 09:00

    overview = today_overview(now=START - HOUR)  # 08:00

    [schedule] = overview.schedules
    assert (schedule.name, schedule.enabled, schedule.due) == (DEFAULT_TASK, True, False)
    assert schedule.next_run_at == START
    assert overview.next_batch_at == START
    assert schedule.url == reverse("admin:django_celery_beat_periodictask_change", args=[default_task().pk])
    assert not [a for a in overview.alerts if "No send batch" in a.message]


@pytest.mark.django_db
def test_after_todays_run_the_next_batch_is_tomorrow():
    set_last_run(START + dt.timedelta(seconds=3))
    assert today_overview(now=NOW).next_batch_at == START + DAY


@pytest.mark.django_db
def test_a_run_beat_has_not_made_yet_is_due_now():
    set_last_run(START - DAY)
    [schedule] = today_overview(now=NOW).schedules  # 10:00, last run yesterday
    assert (schedule.next_run_at, schedule.due) == (START, True)


@pytest.mark.django_db
def test_a_never_run_task_counts_from_when_it_was_last_changed():
    # Beat's own reference for a task never run: changed at 07:00, so 09:00 today.
    PeriodicTask.objects.filter(name=DEFAULT_TASK).update(last_run_at=None, date_changed=START - 2 * HOUR)
    [schedule] = today_overview(now=START - HOUR).schedules
    assert (schedule.next_run_at, schedule.due) == (START, False)
    # Changed ten days ago and never run: beat would run the missed occurrence at once.
    PeriodicTask.objects.filter(name=DEFAULT_TASK).update(date_changed=START - 10 * DAY)
    [schedule] = today_overview(now=START - HOUR).schedules
    assert schedule.due


@pytest.mark.django_db
def test_a_changed_crontab_is_read_in_its_own_timezone():
    task = default_task()
    task.crontab.hour = "14"
    task.crontab.timezone = "America/New_York"  # UTC-5 in March before the 8th
    task.crontab.save()
    set_last_run(START)  # ran today at 09:00 UTC, 04:00 in New York
    assert today_overview(now=NOW).next_batch_at == dt.datetime(2026, 3, 2, 19, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_an_interval_schedule_runs_its_interval_after_the_last_run():
    PeriodicTask.objects.create(
        name="Every 15 minutes",
        task=SEND_BATCH_TASK,
        interval=IntervalSchedule.objects.create(every=15, period=IntervalSchedule.MINUTES),
        last_run_at=NOW - dt.timedelta(minutes=5),
    )
    set_last_run(START + dt.timedelta(seconds=3))
    assert today_overview(now=NOW).next_batch_at == NOW + dt.timedelta(minutes=10)


@pytest.mark.django_db
def test_a_start_time_ahead_holds_the_batch_until_the_first_occurrence_after_it():
    PeriodicTask.objects.filter(name=DEFAULT_TASK).update(start_time=START + DAY + 3 * HOUR)  # tomorrow 12:00
    set_last_run(START - DAY)
    assert today_overview(now=NOW).next_batch_at == START + 2 * DAY


@pytest.mark.django_db
def test_a_disabled_default_task_means_no_batch_is_scheduled():
    PeriodicTask.objects.filter(name=DEFAULT_TASK).update(enabled=False)

    overview = today_overview(now=NOW)

    [schedule] = overview.schedules
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    assert overview.next_batch_at is None
    [alert] = [a for a in overview.alerts if "No send batch" in a.message]
    assert alert.level == "error"
    assert f'"{DEFAULT_TASK}" is disabled' in alert.message
    assert alert.url == schedule.url


@pytest.mark.django_db
def test_no_periodic_task_for_the_batch_means_no_batch_is_scheduled():
    PeriodicTask.objects.filter(task=SEND_BATCH_TASK).delete()
    [alert] = [a for a in alerts() if "No send batch" in a.message]
    assert alert.url == reverse("admin:django_celery_beat_periodictask_changelist") + f"?task={SEND_BATCH_TASK}"


@pytest.mark.django_db
def test_an_expired_task_is_not_a_next_batch():
    PeriodicTask.objects.filter(name=DEFAULT_TASK).update(expires=NOW - HOUR)
    overview = today_overview(now=NOW)
    assert overview.next_batch_at is None
    assert [a for a in overview.alerts if "No send batch" in a.message]


# --- the admin index ---------------------------------------------------------------


def test_every_admin_registration_lands_on_the_campaign_manager_site():
    assert isinstance(admin.site, CampaignManagerSite)
    for model in (Campaign, Recipient, MessageTemplate, PeriodicTask):
        assert admin.site.is_registered(model)


@pytest.mark.django_db
def test_the_index_shows_today_to_a_superuser(admin_client, settings):
    campaign = running_campaign(3, name="Spring sale")
    PeriodicTask.objects.filter(name=DEFAULT_TASK).update(enabled=False)

    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="today"' in html
    assert "WhatsApp campaigns" in html
    assert "used in the last 24 hours" in html
    assert reverse("admin:campaigns_campaign_change", args=[campaign.pk]) in html
    assert "Spring sale" in html
    assert 'role="progressbar"' in html
    assert "No send batch is scheduled" in html
    assert 'value="Send batch now"' in html
    assert 'id="content-main"' in html  # the app list is still there, below Today


@pytest.mark.django_db
def test_a_viewer_sees_today_without_the_send_button(client):
    client.force_login(user_with("view_campaign"))
    response = client.get(reverse("admin:index"))
    html = response.content.decode()
    assert 'id="today"' in html
    assert "Send batch now" not in html


@pytest.mark.django_db
def test_a_user_who_may_not_view_campaigns_does_not_see_today(client):
    client.force_login(user_with())
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert 'id="today"' not in response.content.decode()


# --- "Send batch now" ---------------------------------------------------------------


@pytest.mark.django_db
def test_send_batch_now_queues_the_batch_after_commit_and_records_it(
    admin_client, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(reverse("admin:send_batch_now"))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert len(callbacks) == 1  # delay_on_commit: nothing is queued before the commit
    entry = LogEntry.objects.get(user=admin_user)
    assert (entry.object_id, entry.change_message) == (str(default_task().pk), "Ran the send batch now from Today.")
    page = admin_client.get(response.url)
    assert "Send batch queued" in page.content.decode()


@pytest.mark.django_db
def test_send_batch_now_is_refused_without_the_activate_permission(client, monkeypatch):
    queued = []
    monkeypatch.setattr("config.admin.send_batch_task.delay_on_commit", lambda: queued.append(1))
    client.force_login(user_with("view_campaign", "change_campaign"))
    assert client.post(reverse("admin:send_batch_now")).status_code == 403
    assert queued == []
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_send_batch_now_takes_only_a_post(admin_client):
    assert admin_client.get(reverse("admin:send_batch_now")).status_code == 405


def test_send_batch_now_runs_a_batch_on_a_real_worker(live_celery_worker, client, outbox):
    campaign = running_campaign(3)
    user = user_with("view_campaign", "activate_campaign")
    client.force_login(user)
    finished = threading.Event()

    def on_postrun(sender=None, **kwargs):
        if sender is not None and sender.name == SEND_BATCH_TASK:
            finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        response = client.post(reverse("admin:send_batch_now"))
        assert response.status_code == 302
        assert finished.wait(timeout=60), "the worker did not run the send batch"
    finally:
        task_postrun.disconnect(on_postrun)

    campaign.refresh_from_db()
    assert campaign.sent == 3
    assert len(outbox) == 3
    assert LogEntry.objects.filter(user=user, change_message="Ran the send batch now from Today.").count() == 1
