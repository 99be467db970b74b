"""WebhookEvent.notes, an index of the bodies still waiting, and the periodic task that picks up stuck ones.

The POST is answered once the body is stored; a worker processes it. When
that task is lost (broker restarted, worker killed), "Process stuck webhooks"
processes what is still waiting. Idempotent like campaigns' first migration:
found by name, an operator's edits (another interval, disabled) are kept.
"""

from django.db import migrations, models
from django.utils import timezone

TASK_NAME = "Process stuck webhooks"
TASK_PATH = "whatsapp.process_stuck_webhooks"


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
        description="Processes webhook bodies stored more than a few minutes ago and still waiting "
        "(their task was lost). Processing is idempotent: running it more often is safe.",
    )
    # Tell a running DatabaseScheduler that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookevent",
            name="notes",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
        migrations.AddIndex(
            model_name="webhookevent",
            index=models.Index(
                condition=models.Q(("status", "received")), fields=["received_at"], name="whatsapp_webhook_waiting"
            ),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
