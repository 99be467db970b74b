"""Count the accepted and unanswered sends made before `attempts` counted them.

Until this release only refused sends raised `attempts`: a message sent on
the first try showed 0, and so did one that the webhook later reported
failed (the failures export said "attempts 0"). Every row that left `queued`
with an outcome other than a refusal was sent once more than it says: sent,
delivered, read, unknown, and failed with a WhatsApp message id (a refusal
never has one). A row sent again after an unknown outcome, now pending or
queued, cannot be told apart and keeps its count.
"""

from django.db import migrations
from django.db.models import F, Q


def backfill(apps, schema_editor):
    Recipient = apps.get_model("campaigns", "Recipient")
    Recipient.objects.filter(
        Q(status__in=["sent", "delivered", "read", "unknown"]) | Q(status="failed", message_id__isnull=False)
    ).update(attempts=F("attempts") + 1)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0007_recipient_failed_index")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
