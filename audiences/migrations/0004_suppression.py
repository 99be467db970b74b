"""The suppression list: an opt-out belongs to the phone number (Promise 8, docs/architecture.md).

Backfilled from the contacts unsubscribed so far, with their reason and time,
in one INSERT ... SELECT. The operator roles get the new model's permissions
(campaigns 0006 froze its lists: a model added later joins the roles here).
Reverse drops the table; the contacts keep their subscription.
"""

import importlib

from django.db import migrations, models

REASONS = [
    ("keyword", "Keyword (STOP / START)"),
    ("api_error_131050", "WhatsApp error 131050 (user stopped marketing)"),
    ("user_preferences", "User preferences"),
    ("admin", "Admin"),
    ("import", "Import"),
    ("erasure", "Erasure (the contact was erased)"),
]


def backfill(apps, schema_editor):
    Contact = apps.get_model("audiences", "Contact")
    Suppression = apps.get_model("audiences", "Suppression")
    qn = schema_editor.connection.ops.quote_name
    schema_editor.execute(
        f"INSERT INTO {qn(Suppression._meta.db_table)} (phone, reason, source, suppressed_at) "  # noqa: S608 (names from the models)
        "SELECT phone, subscription_reason, %s, COALESCE(subscription_changed_at, updated_at) "
        f"FROM {qn(Contact._meta.db_table)} WHERE subscription = %s",
        ["migration: contact unsubscribed before the suppression list", "unsubscribed"],
    )


def grant_roles(apps, schema_editor):
    roles = importlib.import_module("campaigns.migrations.0006_operator_roles")
    roles.grant_later(apps, schema_editor, app_label="audiences", models=["suppression"])


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0003_contact_search_indexes"),
        ("campaigns", "0006_operator_roles"),
    ]

    operations = [
        migrations.CreateModel(
            name="Suppression",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("phone", models.CharField(help_text="E.164, e.g. +14155550123", max_length=20, unique=True)),
                ("reason", models.CharField(choices=REASONS, max_length=20)),
                (
                    "source",
                    models.CharField(
                        blank=True,
                        help_text="Where the opt-out came from: webhook, send batch, an operator, a file.",
                        max_length=200,
                    ),
                ),
                ("suppressed_at", models.DateTimeField()),
            ],
            options={"ordering": ["-suppressed_at", "-id"]},
        ),
        migrations.AlterField(
            model_name="contact",
            name="subscription_reason",
            field=models.CharField(blank=True, choices=REASONS, max_length=20),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
