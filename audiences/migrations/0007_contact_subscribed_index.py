"""The subscribed contacts' ids in order (PostgreSQL: an index-only scan), which an audience preview of campaign
outcomes merges with the campaign's recipient rows (campaigns 0019) without reading a contact's row.

Built CONCURRENTLY on PostgreSQL, as campaigns 0019 builds its indexes: imports and opt-outs go on meanwhile.
"""

import importlib

from django.db import migrations, models

AddIndexConcurrently = importlib.import_module(
    "campaigns.migrations.0019_recipient_outcome_indexes"
).AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("audiences", "0006_translatable_labels")]

    operations = [
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                condition=models.Q(("subscription", "subscribed")), fields=["id"], name="aud_contact_subscribed"
            ),
        ),
    ]
