"""The default periodic task exists exactly once, at 09:00 in TIME_ZONE, editable."""

import importlib

from django.apps import apps
from django.conf import settings
from django_celery_beat.models import PeriodicTask

schedule_migration = importlib.import_module("campaigns.migrations.0001_default_send_batch_schedule")


def test_migrate_creates_send_batch_task_at_nine(db):
    task = PeriodicTask.objects.get(name="Send campaign batch")
    assert task.task == "campaigns.send_batch"
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("0", "9")
    assert str(task.crontab.timezone) == settings.TIME_ZONE


def test_running_the_step_again_keeps_one_task_and_the_operators_edits(db):
    task = PeriodicTask.objects.get(name="Send campaign batch")
    task.crontab.hour = "7"
    task.crontab.save()

    schedule_migration.create_schedule(apps, None)
    schedule_migration.create_schedule(apps, None)

    assert PeriodicTask.objects.filter(name="Send campaign batch").count() == 1
    assert PeriodicTask.objects.get(name="Send campaign batch").crontab.hour == "7"
