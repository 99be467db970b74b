"""Sender numbers (whatsapp.Sender): the first is made from the WHATSAPP_* settings when first needed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0004_translatable_labels"),
    ]

    operations = [
        migrations.CreateModel(
            name="Sender",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "phone_number_id",
                    models.CharField(help_text="The Cloud API's id of the number.", max_length=50, unique=True),
                ),
                (
                    "display_phone_number",
                    models.CharField(blank=True, help_text="The number as people see it.", max_length=30),
                ),
                (
                    "business_account_id",
                    models.CharField(blank=True, help_text="Its WhatsApp Business Account.", max_length=50),
                ),
                (
                    "throughput_mps",
                    models.FloatField(
                        blank=True,
                        help_text="Messages per second this number may send (Meta: 80 by default, up to 1,000). Empty: WHATSAPP_MAX_MPS.",
                        null=True,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "sender number",
                "ordering": ["id"],
                "default_permissions": (),
            },
        ),
    ]
