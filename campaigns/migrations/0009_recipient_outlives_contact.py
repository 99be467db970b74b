"""Recipient rows outlive their contact (Promise 11, docs/architecture.md).

An erased contact's rows stay, unlinked, with a keyed hash of the number
("#" + 64 hex digits) in `phone`: the campaign's counters still equal a
recount and it still never messages that number twice. Widening a varchar
and dropping NOT NULL rewrite nothing on PostgreSQL.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0004_suppression"),
        ("campaigns", "0008_recipient_attempts_backfill"),
    ]

    operations = [
        migrations.AlterField(
            model_name="recipient",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="campaign_recipients",
                to="audiences.contact",
            ),
        ),
        migrations.AlterField(
            model_name="recipient",
            name="phone",
            field=models.CharField(max_length=65),
        ),
    ]
