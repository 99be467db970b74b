"""Webhook events searchable by phone and message id: WebhookEventKey rows and a `carries` summary.

Numbered 0003 to leave 0002 to work in progress elsewhere. Bodies already
stored are indexed here, a thousand at a time; new ones when they are stored
(whatsapp/search.py, whose pure `body_keys` this migration uses).
"""

import json

import django.db.models.deletion
from django.db import migrations, models


def index_stored_bodies(apps, schema_editor):
    from whatsapp.search import body_keys

    using = schema_editor.connection.alias
    WebhookEvent = apps.get_model("whatsapp", "WebhookEvent")
    WebhookEventKey = apps.get_model("whatsapp", "WebhookEventKey")
    events = WebhookEvent.objects.using(using).order_by("pk").only("pk", "body")
    for event in events.iterator(chunk_size=1000):
        try:
            keys, carries = body_keys(json.loads(bytes(event.body)))
        except ValueError:
            continue
        WebhookEventKey.objects.using(using).bulk_create(
            [WebhookEventKey(webhook_event_id=event.pk, value=key) for key in sorted(keys)], ignore_conflicts=True
        )
        if carries:
            WebhookEvent.objects.using(using).filter(pk=event.pk).update(carries=carries)


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0002_webhook_notes_and_sweep"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookevent",
            name="carries",
            field=models.CharField(blank=True, max_length=255, verbose_name="carries"),
        ),
        migrations.CreateModel(
            name="WebhookEventKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.CharField(max_length=255)),
                (
                    "webhook_event",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="keys", to="whatsapp.webhookevent"
                    ),
                ),
            ],
            options={
                "default_permissions": (),
                "indexes": [models.Index(fields=["value"], name="whatsapp_webhookkey_value")],
                "constraints": [
                    models.UniqueConstraint(fields=("webhook_event", "value"), name="whatsapp_webhookkey_one_per_event")
                ],
            },
        ),
        migrations.RunPython(index_stored_bodies, migrations.RunPython.noop),
    ]
