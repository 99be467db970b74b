"""Campaigns choose a sender number; chunk leases for fan-out (campaigns/fanout.py)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0012_translatable_labels"),
        ("whatsapp", "0005_sender"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="sender",
            field=models.ForeignKey(
                blank=True,
                help_text="The phone number it sends from. Empty: the first sender number.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="campaigns",
                to="whatsapp.sender",
                verbose_name="sender",
            ),
        ),
        migrations.AddField(
            model_name="sendlease",
            name="chunk",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="sendlease",
            name="taken_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
