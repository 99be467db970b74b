"""The periodic task that sends pending deliveries whose message was lost (outbound.deliver_due).

Like whatsapp's "Process stuck webhooks": found by name, an operator's edits
(another interval, disabled) are kept.
"""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "Deliver due outbound events"
TASK_PATH = "outbound.deliver_due"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(name=TASK_NAME).exists():
        return
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.create(
        name=TASK_NAME,
        task=TASK_PATH,
        interval=every_minute,
        enabled=True,
        description="Enqueues outbound event deliveries due for more than two minutes (their message was lost). "
        "A delivery is claimed before it is posted: running it more often is safe.",
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outbound", "0001_endpoints_events_deliveries"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
