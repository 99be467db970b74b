"""Create the default periodic task "Send campaign batch": daily 09:00 in TIME_ZONE.

Idempotent: it finds the task by name, so running it again changes nothing, and
an operator's later edits in the admin (another hour, disabled) are kept.
"""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TASK_NAME = "Send campaign batch"
TASK_PATH = "campaigns.send_batch"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(name=TASK_NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="9",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(
        name=TASK_NAME,
        task=TASK_PATH,
        crontab=crontab,
        enabled=True,
        description="Sends each running campaign's share of the WhatsApp messaging limit. "
        "Running it more often is always safe.",
    )
    # Tell a running DatabaseScheduler that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
