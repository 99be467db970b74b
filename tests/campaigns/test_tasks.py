"""The Celery task: calls the batch, schedules its own continuation when the window holds it back."""

import datetime as dt

import pytest

from campaigns import tasks
from campaigns.batch import batch_send
from tests.campaigns.helpers import START, running_campaign

pytestmark = pytest.mark.django_db


def test_send_batch_task_is_not_acks_late():
    assert tasks.send_batch_task.name == "campaigns.send_batch"
    assert not tasks.send_batch_task.acks_late


def test_task_schedules_its_continuation_for_when_capacity_frees(settings, monkeypatch, outbox):
    settings.WHATSAPP_DAILY_LIMIT = 5
    running_campaign(20, now=START - dt.timedelta(days=2))
    batch_send(now=START + dt.timedelta(minutes=4) - dt.timedelta(days=1))  # yesterday 09:04
    scheduled = []
    monkeypatch.setattr(tasks.timezone, "now", lambda: START)
    monkeypatch.setattr(tasks.send_batch_task, "apply_async", lambda **kw: scheduled.append(kw))
    result = tasks.send_batch_task()
    assert result["sent"] == 0
    assert scheduled == [{"eta": START + dt.timedelta(minutes=4)}]


def test_task_sends_and_schedules_nothing_when_the_day_is_done(monkeypatch, outbox):
    running_campaign(3)
    scheduled = []
    monkeypatch.setattr(tasks.timezone, "now", lambda: START)
    monkeypatch.setattr(tasks.send_batch_task, "apply_async", lambda **kw: scheduled.append(kw))
    assert tasks.send_batch_task()["sent"] == 3
    assert scheduled == []
