"""The indexes of the audiences from campaign outcomes (audiences/rules.py `_outcome_q`).

An outcome audience's preview counted its contacts by hashing the whole
campaign's recipient rows read from the table (454-1,103 ms at 1,000,000
contacts, bench/audience_preview.py). Each outcome now finds its rows' contact
ids in order in an index: received, read, did not read and failed in
(campaign, status, contact); did not click, clicked and converted in a
partial (campaign, contact) index whose condition is the outcome's test.

Built CONCURRENTLY on PostgreSQL (so the migration is not atomic): sends,
webhooks and clicks keep writing recipient rows while a large table is
indexed. An index that a failed build left INVALID is dropped and built
again. Elsewhere (SQLite) a plain CREATE INDEX.
"""

from django.db import migrations, models


class AddIndexConcurrently(migrations.AddIndex):
    """AddIndex, built CONCURRENTLY on PostgreSQL; skipped when a valid index of that name exists."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [self.index.name])
            row = cursor.fetchone()
        if row and row[0]:
            return
        if row:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY {schema_editor.quote_name(self.index.name)}")
        schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("audiences", "0006_translatable_labels"),
        ("campaigns", "0018_merge_engage"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="recipient",
            index=models.Index(fields=["campaign", "status", "contact"], name="campaigns_rcpt_outcome"),
        ),
        AddIndexConcurrently(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("clicked_at__isnull", True), ("status__in", ("sent", "delivered", "read"))),
                fields=["campaign", "contact"],
                name="campaigns_rcpt_not_clicked",
            ),
        ),
        AddIndexConcurrently(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("clicked_at__isnull", False)),
                fields=["campaign", "contact"],
                name="campaigns_rcpt_clicked",
            ),
        ),
        AddIndexConcurrently(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("converted_at__isnull", False)),
                fields=["campaign", "contact"],
                name="campaigns_rcpt_converted",
            ),
        ),
    ]
