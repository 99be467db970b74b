"""The contact in the failed and replied indexes: the outcomes "failed (with this code)" and "replied (with this
button)" become index-only scans, as the others are since 0019 (the failed one read the campaign's failed rows
from the table: 20,000 pages at 1M recipients).

Each index is built again under a new name, CONCURRENTLY on PostgreSQL, the old one dropped (CONCURRENTLY), and
the new one renamed: the dashboard's failures by code and the replies recount keep an index all along.
"""

import importlib

from django.db import migrations, models

AddIndexConcurrently = importlib.import_module(
    "campaigns.migrations.0019_recipient_outcome_indexes"
).AddIndexConcurrently


class RemoveIndexConcurrently(migrations.RemoveIndex):
    """RemoveIndex, DROP INDEX CONCURRENTLY IF EXISTS on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.add_index(model, index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("campaigns", "0019_recipient_outcome_indexes")]

    operations = [
        AddIndexConcurrently(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("status", "failed")),
                fields=["campaign", "error_code"],
                include=("failed_at", "error_title", "contact"),
                name="campaigns_rcpt_failed_new",
            ),
        ),
        RemoveIndexConcurrently(model_name="recipient", name="campaigns_rcpt_failed"),
        migrations.RenameIndex(
            model_name="recipient", old_name="campaigns_rcpt_failed_new", new_name="campaigns_rcpt_failed"
        ),
        AddIndexConcurrently(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("replied_at__isnull", False)),
                fields=["campaign", "reply_payload"],
                include=("reply_text", "contact"),
                name="campaigns_rcpt_replied_new",
            ),
        ),
        RemoveIndexConcurrently(model_name="recipient", name="campaigns_rcpt_replied"),
        migrations.RenameIndex(
            model_name="recipient", old_name="campaigns_rcpt_replied_new", new_name="campaigns_rcpt_replied"
        ),
    ]
