"""The webhook answers once the body is stored (Promise 6); a task processes it after the commit, a periodic sweep
processes what a lost task left, Today shows what waits. A real gunicorn reads chunked bodies; a real worker
processes them."""

import datetime as dt
import http.client
import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from celery.signals import task_postrun
from django.apps import apps
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns.batch import batch_send
from campaigns.models import Recipient
from campaigns.today import today_overview
from tests.campaigns.helpers import START, assert_counters_match_recount, database_url, running_campaign
from tests.whatsapp import payloads as p
from whatsapp.models import WebhookEvent
from whatsapp.services import STUCK_AFTER, webhook_events_process_stuck
from whatsapp.tasks import WEBHOOK_PROCESS_TASK, WEBHOOK_SWEEP_TASK, webhook_process_task

R = Recipient.Status
ROOT = Path(__file__).resolve().parents[2]
MINUTE = dt.timedelta(minutes=1)
LIMIT = 64 * 1024  # the gunicorn server's body limit: an over-limit body still fits the socket's buffers
sweep_migration = importlib.import_module("whatsapp.migrations.0002_webhook_notes_and_sweep")


@pytest.fixture
def enqueued(monkeypatch):
    """The webhook ids the view hands to the task, instead of a broker (the task is run by the test, or never)."""
    ids = []
    monkeypatch.setattr(webhook_process_task, "delay", ids.append)
    return ids


@pytest.fixture
def sent_campaign():
    campaign = running_campaign(3)
    batch_send(now=START)
    return campaign


def delivered_body(campaign) -> bytes:
    ids = Recipient.objects.filter(campaign=campaign).values_list("message_id", flat=True)
    return p.body(
        p.statuses_value(*[p.status(m, "delivered", timestamp=str(int(START.timestamp()) + 60)) for m in ids])
    )


def statuses(campaign):
    return set(Recipient.objects.filter(campaign=campaign).values_list("status", flat=True))


@pytest.mark.webhook_async
@pytest.mark.django_db
def test_a_post_is_answered_once_stored_and_its_task_applies_it_after_the_commit(post_webhook, sent_campaign, enqueued):
    response = post_webhook(delivered_body(sent_campaign))  # its commit's callbacks run before it returns
    assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.RECEIVED  # stored, not processed: the answer did not wait
    assert statuses(sent_campaign) == {R.SENT}
    assert enqueued == [stored.pk]  # enqueued once the request's work committed

    assert webhook_process_task.apply([stored.pk]).get() is True
    stored.refresh_from_db()
    assert (stored.status, stored.event_count) == (WebhookEvent.Status.PROCESSED, 3)
    assert statuses(sent_campaign) == {R.DELIVERED}
    assert webhook_process_task.apply([stored.pk]).get() is None  # a second run (the sweep came too) skips it
    assert_counters_match_recount(sent_campaign)


@pytest.mark.webhook_async
@pytest.mark.django_db
def test_a_broker_that_refuses_the_task_still_answers_200_and_the_sweep_processes_the_body(
    post_webhook, sent_campaign, monkeypatch, caplog
):
    def broker_down(*args):
        raise ConnectionRefusedError("redis is restarting")

    monkeypatch.setattr(webhook_process_task, "delay", broker_down)
    assert post_webhook(delivered_body(sent_campaign)).status_code == 200
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.RECEIVED
    assert "not enqueued; the sweep will process it" in caplog.text

    assert webhook_events_process_stuck(now=stored.received_at + STUCK_AFTER + MINUTE) == 1
    assert statuses(sent_campaign) == {R.DELIVERED}
    assert_counters_match_recount(sent_campaign)


@pytest.mark.webhook_async
@pytest.mark.django_db
def test_a_body_whose_task_was_lost_is_shown_on_today_and_picked_up_by_the_sweep(post_webhook, sent_campaign, enqueued):
    post_webhook(delivered_body(sent_campaign))
    stored = WebhookEvent.objects.get()
    soon, later = stored.received_at + MINUTE, stored.received_at + STUCK_AFTER + MINUTE

    assert webhook_events_process_stuck(now=soon) == 0  # its task may still come: not stuck yet
    assert not [a for a in today_overview(now=soon).alerts if "webhook" in a.message]
    (alert,) = [a for a in today_overview(now=later).alerts if "webhook" in a.message]
    assert alert.level == "error"
    assert alert.message.startswith("1 webhook body(ies) received more than 5 minutes ago are not processed yet")
    assert alert.url == reverse("admin:whatsapp_webhookevent_changelist") + "?status__exact=received"

    assert webhook_events_process_stuck(now=later) == 1
    assert statuses(sent_campaign) == {R.DELIVERED}
    assert not [a for a in today_overview(now=later).alerts if "webhook" in a.message]
    assert webhook_events_process_stuck(now=later) == 0
    assert_counters_match_recount(sent_campaign)


@pytest.mark.django_db
def test_a_failed_body_is_a_warning_on_today_until_replayed():
    from whatsapp.services import webhook_event_replay

    stored = WebhookEvent.objects.create(received_at=START, body=b"{}", status=WebhookEvent.Status.FAILED, error="x")
    (alert,) = [a for a in today_overview(now=START + MINUTE).alerts if "webhook" in a.message]
    assert alert.level == "warning"
    assert alert.message.startswith("1 webhook body(ies) failed processing in the last 7 days")
    assert webhook_event_replay(webhook_event=stored) is True
    assert not [a for a in today_overview(now=START + MINUTE).alerts if "webhook" in a.message]


@pytest.mark.django_db
def test_the_today_page_shows_the_waiting_and_failed_webhooks(admin_client):
    now = timezone.now()
    WebhookEvent.objects.create(received_at=now - 2 * STUCK_AFTER, body=b"{}")
    WebhookEvent.objects.create(received_at=now - MINUTE, body=b"{}")  # its task may still come
    WebhookEvent.objects.create(received_at=now - MINUTE, body=b"{}", status=WebhookEvent.Status.FAILED)
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "1 webhook body(ies) received more than 5 minutes ago are not processed yet" in page
    assert "1 webhook body(ies) failed processing in the last 7 days" in page
    assert "?status__exact=received" in page and "?status__exact=failed" in page


@pytest.mark.django_db
def test_the_sweep_runs_every_minute_from_beat_and_keeps_the_operators_edits():
    task = PeriodicTask.objects.get(name=sweep_migration.TASK_NAME)
    assert (task.task, task.enabled) == (WEBHOOK_SWEEP_TASK, True)
    assert (task.interval.every, task.interval.period) == (1, "minutes")

    task.enabled = False
    task.save()
    sweep_migration.create_schedule(apps, None)
    assert PeriodicTask.objects.filter(name=sweep_migration.TASK_NAME).count() == 1
    assert not PeriodicTask.objects.get(name=sweep_migration.TASK_NAME).enabled


# --- real servers -------------------------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "memory://",  # no worker here: the test processes what the server stored
        "WHATSAPP_WEBHOOK_MAX_BYTES": str(LIMIT),
        "LOG_LEVEL": "ERROR",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "config.wsgi:application", "--workers", "1", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/whatsapp/webhook/")
            conn.getresponse().read()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.1)  # the server's own start-up: nothing to wait on but its socket


def post_chunked(port: int, raw: bytes, chunk: int = 4096) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    pieces = (raw[n : n + chunk] for n in range(0, len(raw), chunk))
    # An iterable body and no Content-Length: http.client sends Transfer-Encoding: chunked.
    conn.request("POST", "/whatsapp/webhook/", body=pieces, headers={"X-Hub-Signature-256": p.signature(raw)})
    response = conn.getresponse()
    response.read()
    return response


@pytest.mark.webhook_async
@pytest.mark.django_db(transaction=True)
def test_gunicorn_reads_a_chunked_post_without_content_length_up_to_the_limit(sent_campaign):
    from whatsapp.services import webhook_event_process_waiting

    port = free_port()
    server = start_gunicorn(port)
    try:
        raw = delivered_body(sent_campaign)
        response = post_chunked(port, raw)
        assert response.status == 200
        stored = WebhookEvent.objects.get()
        assert bytes(stored.body) == raw  # every chunk, not an empty body and a 403

        too_big = p.body(p.statuses_value(*[p.status(f"wamid.{i:0120d}", "read") for i in range(500)]))
        assert LIMIT < len(too_big) < 2 * LIMIT
        assert post_chunked(port, too_big).status == 413
        assert WebhookEvent.objects.count() == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert webhook_event_process_waiting(webhook_event_id=stored.pk) is True
    assert statuses(sent_campaign) == {R.DELIVERED}
    assert_counters_match_recount(sent_campaign)


@pytest.mark.webhook_async
def test_a_worker_processes_the_body_after_the_post_answered(live_celery_worker, post_webhook, sent_campaign):
    done = threading.Event()

    def finished(sender=None, **kwargs):
        if sender is not None and sender.name == WEBHOOK_PROCESS_TASK:
            done.set()

    task_postrun.connect(finished, weak=False)
    try:
        assert post_webhook(delivered_body(sent_campaign)).status_code == 200
        assert done.wait(timeout=60), "the worker did not process the webhook"
    finally:
        task_postrun.disconnect(finished)
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert statuses(sent_campaign) == {R.DELIVERED}
    assert_counters_match_recount(sent_campaign)
