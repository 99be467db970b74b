"""The periodic task that reads the messaging limit from Meta ("Sync the messaging limit", hourly).

Meta raises a tier within hours when the portfolio qualifies and announces it
by webhook; the hourly sync catches what a lost webhook missed. Idempotent
like the other default schedules: found by name, an operator's edits are kept.
"""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "Sync the messaging limit"
TASK_PATH = "whatsapp.sync_messaging_limit"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(name=TASK_NAME).exists():
        return
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.create(
        name=TASK_NAME,
        task=TASK_PATH,
        interval=every_hour,
        enabled=True,
        description="Reads each sender number's messaging limit tier and quality rating from Meta "
        "(GET /<PHONE_NUMBER_ID>?fields=whatsapp_business_manager_messaging_limit,quality_rating). "
        "Without credentials it reads nothing and WHATSAPP_DAILY_LIMIT stays the limit.",
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0006_platform_alerts_tiers_template_events"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
