"""Long work does not block a request: the admin's activate and top-up run as Celery tasks with a progress page.

The action refuses at once what the service would refuse (nothing enqueued),
else enqueues the task and sends the operator to the job's page, whose JSON
reports Celery's state and (done, total) until the outcome. The services
report progress as they insert: per batch on SQLite, per chunk on PostgreSQL,
where the chunks keep positions and dates exactly as one statement would.
"""

import datetime as dt

import pytest
from celery import uuid
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import resolve, reverse
from django.utils import timezone

from campaigns import jobs, services, tasks
from campaigns.checks import check_result_backend
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_activate, campaign_top_up
from tests.campaigns.helpers import START, running_campaign
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.users import UserFactory
from tests.factories.whatsapp import MessageTemplateFactory
from whatsapp.models import MessageTemplate

CHANGELIST = reverse("admin:campaigns_campaign_changelist")
C = Campaign.Status


def start(client, action: str, campaign: Campaign):
    """Run the admin action; the task is enqueued when the request's transaction commits."""
    # Past the confirmation page, as the operator's "Yes" sends it.
    return client.post(CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: [campaign.pk], "confirm": "yes"})


def task_id_of(response) -> str:
    assert response.status_code == 302, response.content.decode()[:500]
    match = resolve(response.url)
    assert match.url_name == "campaigns_campaign_job"
    return match.kwargs["task_id"]


def job_json(client, campaign: Campaign, task_id: str) -> dict:
    response = client.get(reverse("admin:campaigns_campaign_job", args=[campaign.pk, task_id]), {"format": "json"})
    assert response.status_code == 200
    return response.json()


# --- Through the admin and a real worker ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_admin_activation_runs_in_a_worker_and_its_page_reports_the_outcome(live_celery_worker, admin_client):
    ContactFactory.create_batch(7)
    campaign = CampaignFactory()  # its start (2026-03-02) has passed: it runs at once
    task_id = task_id_of(start(admin_client, "activate", campaign))

    tasks.activate_task.AsyncResult(task_id).get(timeout=60)
    job = job_json(admin_client, campaign, task_id)
    assert (job["state"], job["finished"], job["ok"]) == ("SUCCESS", True, True)
    assert job["done"] == job["total"] == 7 and job["percent"] == 100
    campaign.refresh_from_db()
    assert (campaign.status, campaign.total, campaign.pending) == (C.RUNNING, 7, 7)
    assert sorted(Recipient.objects.filter(campaign=campaign).values_list("position", flat=True)) == list(range(7))
    page = admin_client.get(reverse("admin:campaigns_campaign_job", args=[campaign.pk, task_id])).content.decode()
    assert "Done: running, recipients added: 7" in page and "<progress" in page and "campaigns/job.js" in page
    assert LogEntry.objects.filter(object_id=str(campaign.pk), change_message__contains=task_id).exists()


@pytest.mark.django_db(transaction=True)
def test_admin_top_up_runs_in_a_worker(live_celery_worker, admin_client):
    campaign = running_campaign(2, tag="spring")
    ContactFactory.create_batch(3, tags=["spring"])
    task_id = task_id_of(start(admin_client, "top_up", campaign))

    result = tasks.top_up_task.AsyncResult(task_id).get(timeout=60)
    assert result["recipients_added"] == 3
    job = job_json(admin_client, campaign, task_id)
    assert (job["state"], job["ok"], job["done"], job["total"]) == ("SUCCESS", True, 3, 3)
    campaign.refresh_from_db()
    assert campaign.total == 5
    positions = list(
        Recipient.objects.filter(campaign=campaign).order_by("contact_id").values_list("position", flat=True)
    )
    assert positions == list(range(5))


# --- Refused at once ---------------------------------------------------------------


def _unapproved(campaign):
    MessageTemplate.objects.filter(pk=campaign.template_id).update(status=MessageTemplate.Status.PAUSED)


def _too_few_parameters(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(parameters=["only one"])


def _empty_audience(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(audience=AudienceFactory(rules={"include_tags": ["nobody"]}))


def _ended(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(start_at=None, end_at=timezone.now() - dt.timedelta(minutes=1))


def _already_running(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=C.RUNNING)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_unapproved, "not APPROVED"),
        (_too_few_parameters, "takes 2 body parameter(s); the campaign has 1"),
        (_empty_audience, "has no subscribed contacts"),
        (_ended, "The end date has passed"),
        (_already_running, "Only a draft campaign can be activated"),
    ],
)
def test_a_refused_activation_is_reported_at_once_and_nothing_is_enqueued(
    admin_client, monkeypatch, django_capture_on_commit_callbacks, spoil, reason
):
    enqueued = []
    monkeypatch.setattr(tasks.activate_task, "apply_async", lambda *a, **kw: enqueued.append(kw))
    ContactFactory()
    campaign = CampaignFactory()
    spoil(campaign)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            CHANGELIST, {"action": "activate", ACTION_CHECKBOX_NAME: [campaign.pk], "confirm": "yes"}, follow=True
        )
    assert reason in response.content.decode()
    assert callbacks == [] and enqueued == []
    assert not Recipient.objects.filter(campaign=campaign).exists()
    assert not LogEntry.objects.filter(object_id=str(campaign.pk)).exists()


@pytest.mark.django_db
def test_a_draft_cannot_be_topped_up_and_nothing_is_enqueued(admin_client, django_capture_on_commit_callbacks):
    ContactFactory()
    campaign = CampaignFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            CHANGELIST, {"action": "top_up", ACTION_CHECKBOX_NAME: [campaign.pk], "confirm": "yes"}, follow=True
        )
    assert "Only an activated campaign can be topped up" in response.content.decode()
    assert callbacks == []


@pytest.mark.django_db
def test_a_second_activation_is_refused_by_the_service_and_says_so(eager_celery, django_capture_on_commit_callbacks):
    ContactFactory.create_batch(2)
    campaign = CampaignFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = jobs.campaign_activate_later(campaign=campaign)
        second = jobs.campaign_activate_later(campaign=campaign)  # a double click: both pass the check
    assert jobs.job_progress(task_id=first).ok is True
    refused = jobs.job_progress(task_id=second)
    assert (refused.state, refused.finished, refused.ok) == ("SUCCESS", True, False)
    assert "Only a draft campaign can be activated" in refused.message
    assert Recipient.objects.filter(campaign=campaign).count() == 2


# --- The task reports progress through the result backend -------------------------------


@pytest.mark.django_db
def test_the_task_stores_progress_states_then_its_outcome(monkeypatch):
    ContactFactory.create_batch(5)
    campaign = CampaignFactory()
    monkeypatch.setattr(services, "SQLITE_BATCH", 2)
    monkeypatch.setattr(services, "PG_CHUNK", 2)
    states = []
    monkeypatch.setattr(tasks.activate_task, "update_state", lambda **kw: states.append((kw["state"], kw["meta"])))
    result = tasks.activate_task.apply(args=[campaign.pk]).get()
    assert [(state, meta["done"], meta["total"]) for state, meta in states] == [
        ("PROGRESS", 0, 5),
        ("PROGRESS", 2, 5),
        ("PROGRESS", 4, 5),
        ("PROGRESS", 5, 5),
    ]
    assert {meta["campaign_id"] for _, meta in states} == {campaign.pk}
    assert result == {
        "campaign_id": campaign.pk,
        "done": 5,
        "total": 5,
        "ok": True,
        "status": "running",
        "recipients_added": 5,
        "estimated_completion_date": result["estimated_completion_date"],
    }
    assert result["estimated_completion_date"]


@pytest.mark.django_db
def test_the_progress_page_shows_a_running_job(admin_client):
    campaign = CampaignFactory()
    task_id = uuid()
    tasks.activate_task.backend.store_result(
        task_id, {"campaign_id": campaign.pk, "done": 50_000, "total": 200_000}, tasks.PROGRESS
    )
    job = job_json(admin_client, campaign, task_id)
    assert (job["state"], job["finished"], job["percent"]) == ("PROGRESS", False, 25)
    assert job["message"] == "Added 50,000 of 200,000 recipients."
    page = admin_client.get(reverse("admin:campaigns_campaign_job", args=[campaign.pk, task_id])).content.decode()
    assert 'value="25"' in page and "Added 50,000 of 200,000 recipients." in page
    assert 'http-equiv="refresh"' in page  # without JavaScript the page reloads itself


@pytest.mark.django_db
def test_a_job_not_yet_picked_up_says_it_waits_for_a_worker(admin_client):
    campaign = CampaignFactory()
    job = job_json(admin_client, campaign, uuid())
    assert (job["state"], job["finished"], job["percent"]) == ("PENDING", False, None)
    assert "Waiting for a worker" in job["message"]


@pytest.mark.django_db
def test_a_job_is_only_shown_under_its_own_campaign(admin_client):
    mine, other = CampaignFactory(), CampaignFactory()
    task_id = uuid()
    tasks.activate_task.backend.store_result(task_id, {"campaign_id": mine.pk, "done": 1, "total": 2}, tasks.PROGRESS)
    url = reverse("admin:campaigns_campaign_job", args=[other.pk, task_id])
    assert admin_client.get(url, {"format": "json"}).status_code == 404


@pytest.mark.django_db
def test_the_progress_page_needs_the_activate_permission(client):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_campaign", "change_campaign"]))
    client.force_login(user)
    campaign = CampaignFactory()
    assert client.get(reverse("admin:campaigns_campaign_job", args=[campaign.pk, "x"])).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="activate_campaign"))
    client.force_login(user)
    assert client.get(reverse("admin:campaigns_campaign_job", args=[campaign.pk, "x"])).status_code == 200


@pytest.mark.parametrize("backend", ["", "rpc://", "disabled"])
def test_a_result_backend_the_web_cannot_read_is_warned(settings, backend):
    settings.CELERY_RESULT_BACKEND = backend
    assert [warning.id for warning in check_result_backend()] == ["campaigns.W001"]


def test_the_configured_result_backend_is_shared(settings):
    assert settings.CELERY_RESULT_BACKEND.startswith(("file://", "redis://"))
    assert check_result_backend() == []
    assert not tasks.activate_task.ignore_result and tasks.activate_task.track_started
    assert not tasks.top_up_task.ignore_result and tasks.top_up_task.track_started


# --- The services report (done, total) as they insert ----------------------------------


def assert_counts_up(calls: list[tuple[int, int]], total: int) -> None:
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    dones = [d for d, _ in calls]
    assert dones == sorted(set(dones)), f"not increasing: {calls}"


@pytest.mark.django_db
def test_activation_reports_progress_per_batch_up_to_the_total(monkeypatch):
    monkeypatch.setattr(services, "SQLITE_BATCH", 3)
    monkeypatch.setattr(services, "PG_CHUNK", 3)
    ContactFactory.create_batch(8)
    campaign = CampaignFactory()
    calls = []
    campaign_activate(campaign=campaign, now=START, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 8), (3, 8), (6, 8), (8, 8)]
    by_contact = Recipient.objects.filter(campaign=campaign).order_by("contact_id").values_list("position", flat=True)
    assert list(by_contact) == list(range(8))


@pytest.mark.django_db
def test_top_up_reports_only_the_new_recipients(monkeypatch):
    campaign = running_campaign(4, tag="autumn")
    ContactFactory.create_batch(5, tags=["autumn"])
    monkeypatch.setattr(services, "SQLITE_BATCH", 2)
    monkeypatch.setattr(services, "PG_CHUNK", 2)
    calls = []
    assert (
        campaign_top_up(campaign=campaign, now=START, progress=lambda d, t: calls.append((d, t))).recipients_added == 5
    )
    assert_counts_up(calls, 5)
    calls.clear()
    campaign_top_up(campaign=campaign, now=START, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 0)]


@pytest.mark.django_db
def test_an_interrupted_activation_leaves_a_draft_without_recipients(monkeypatch):
    monkeypatch.setattr(services, "SQLITE_BATCH", 2)
    monkeypatch.setattr(services, "PG_CHUNK", 2)
    ContactFactory.create_batch(6)
    campaign = CampaignFactory()

    def fail_after_the_first_chunk(done, total):
        if done >= 2:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        campaign_activate(campaign=campaign, now=START, progress=fail_after_the_first_chunk)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.total) == (C.DRAFT, 0)
    assert not Recipient.objects.filter(campaign=campaign).exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_chunks_keep_positions_and_dates_of_one_statement(monkeypatch, settings):
    settings.WHATSAPP_DAILY_LIMIT = 3  # several estimated days
    template = MessageTemplateFactory()
    for n in range(23):  # the audience is every other contact: its ids have gaps
        ContactFactory(tags=["in" if n % 2 else "out"])
    already = ContactFactory(tags=["in"])

    def activated(chunk: int) -> list[tuple]:
        monkeypatch.setattr(services, "PG_CHUNK", chunk)
        campaign = CampaignFactory(template=template, audience=AudienceFactory(rules={"include_tags": ["in"]}))
        # A phone already in the campaign is skipped without leaving a gap.
        Recipient.objects.create(campaign=campaign, contact=already, phone=already.phone, position=0)
        Campaign.objects.filter(pk=campaign.pk).update(status=C.RUNNING, total=1, pending=1)
        campaign.refresh_from_db()
        calls = []
        assert (
            campaign_top_up(campaign=campaign, now=START, progress=lambda d, t: calls.append((d, t))).recipients_added
            == 11
        )
        assert calls == [(0, 11), *[(min(k + chunk, 11), 11) for k in range(0, 11, chunk)]]
        rows = Recipient.objects.filter(campaign=campaign).order_by("position")
        # Finished, so the next campaign gets the same share of the daily limit (the same dates).
        Campaign.objects.filter(pk=campaign.pk).update(status=C.COMPLETED)
        return list(rows.values_list("contact_id", "position", "estimated_send_date"))

    chunked = activated(chunk=3)
    whole = activated(chunk=1_000)
    assert chunked == whole
    positions = [position for _, position, _ in chunked]
    assert positions == list(range(12))
    contact_ids = [contact_id for contact_id, _, _ in chunked[1:]]
    assert contact_ids == sorted(set(contact_ids))  # in contact-id order, no duplicates
