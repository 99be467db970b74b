"""Contact.tag_ids: the contact's tag ids as an array, so tag rules need no EXISTS over the links.

How the column exists on both databases: the model field is one class,
audiences.fields.TagIdsField (an ArrayField), so the migration state and
`makemigrations --check` are the same everywhere, and AddField creates the
column on each database in that database's type: `bigint[] DEFAULT '{}'` on
PostgreSQL, JSON text `'[]'` on SQLite. Everything that makes the column
useful is PostgreSQL-only SQL, run by RunSQLOnPostgreSQL and skipped elsewhere
(SQLite keeps the EXISTS rules and never reads the column):

- backfill from the links, with the links table locked against writers until
  the migration commits, so no link is missed between backfill and triggers;
- a GIN index on tag_ids (the rules' `&&` and `@>`);
- statement-level triggers on audiences_contact_tags (INSERT, UPDATE, DELETE
  with transition tables; TRUNCATE) that apply each statement's links to the
  contacts in one UPDATE, skipping contacts that already agree. The UPDATE
  adds to / removes from the contact's current array rather than recounting
  the links: under READ COMMITTED a recount cannot see another transaction's
  uncommitted links, while the row being updated is re-read after a
  concurrent change, so add/remove lose nothing. Deleting a tag or a contact
  deletes its links first, which fires the DELETE trigger;
- a deferred check: a contact whose tag_ids is changed by anything but those
  triggers (a model save() carrying a list loaded before the tags changed, a
  raw UPDATE) gets tag_ids recomputed from its links when the transaction
  commits: only the links decide it, and `UPDATE audiences_contact SET
  tag_ids = DEFAULT` repairs rows. Deferred, so the importer's upsert can
  write each contact once with the tags it links in the same transaction.
  Inserts are not checked (a per-row check cost the 100k import a third of
  its time): a contact created through the model starts with [] (Contact.save),
  and the importer inserts exactly the ids of the links it adds next.

Reversing drops the triggers, the functions and the index, then the column.
"""

from django.db import migrations, models

import audiences.fields


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """RunSQL that other databases skip (they have no tag_ids triggers and keep the EXISTS rules)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


SYNC_FUNCTION = """
CREATE FUNCTION audiences_contact_tag_ids_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- c.tag_ids is the contact row as it is when this UPDATE reaches it (re-read
    -- after a concurrent writer commits), so adding and removing lose nothing.
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE audiences_contact AS c
           SET tag_ids = ARRAY(SELECT t FROM unnest(c.tag_ids) AS t WHERE t <> ALL (gone.ids) ORDER BY t)
          FROM (SELECT contact_id, array_agg(tag_id) AS ids FROM old_links GROUP BY contact_id) AS gone
         WHERE c.id = gone.contact_id AND c.tag_ids && gone.ids;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE audiences_contact AS c
           SET tag_ids = ARRAY(SELECT DISTINCT t FROM unnest(c.tag_ids || added.ids) AS t ORDER BY t)
          FROM (SELECT contact_id, array_agg(tag_id) AS ids FROM new_links GROUP BY contact_id) AS added
         WHERE c.id = added.contact_id AND NOT c.tag_ids @> added.ids;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE audiences_contact SET tag_ids = '{}' WHERE tag_ids <> '{}';
    END IF;
    RETURN NULL;
END
$$
"""

CHECK_FUNCTION = """
CREATE FUNCTION audiences_contact_tag_ids_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audiences_contact AS c SET tag_ids = links.ids
      FROM (SELECT ARRAY(SELECT tag_id FROM audiences_contact_tags WHERE contact_id = NEW.id ORDER BY tag_id)
                   AS ids) AS links
     WHERE c.id = NEW.id AND c.tag_ids <> links.ids;
    RETURN NULL;
END
$$
"""

FORWARD = [
    "LOCK TABLE audiences_contact_tags IN SHARE MODE",
    """
    UPDATE audiences_contact AS c SET tag_ids = links.ids
      FROM (SELECT contact_id, array_agg(tag_id ORDER BY tag_id) AS ids
              FROM audiences_contact_tags GROUP BY contact_id) AS links
     WHERE c.id = links.contact_id
    """,
    "CREATE INDEX aud_contact_tag_ids_gin ON audiences_contact USING gin (tag_ids)",
    SYNC_FUNCTION,
    """
    CREATE TRIGGER audiences_contact_tags_inserted AFTER INSERT ON audiences_contact_tags
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION audiences_contact_tag_ids_sync()
    """,
    """
    CREATE TRIGGER audiences_contact_tags_updated AFTER UPDATE ON audiences_contact_tags
    REFERENCING OLD TABLE AS old_links NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION audiences_contact_tag_ids_sync()
    """,
    """
    CREATE TRIGGER audiences_contact_tags_deleted AFTER DELETE ON audiences_contact_tags
    REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT EXECUTE FUNCTION audiences_contact_tag_ids_sync()
    """,
    """
    CREATE TRIGGER audiences_contact_tags_truncated AFTER TRUNCATE ON audiences_contact_tags
    FOR EACH STATEMENT EXECUTE FUNCTION audiences_contact_tag_ids_sync()
    """,
    CHECK_FUNCTION,
    # pg_trigger_depth() is 0 for a statement from the application and 1 inside
    # the link triggers above, whose own UPDATE needs no check.
    """
    CREATE CONSTRAINT TRIGGER audiences_contact_tag_ids_checked_on_update AFTER UPDATE OF tag_ids ON audiences_contact
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (pg_trigger_depth() = 0 AND NEW.tag_ids <> OLD.tag_ids)
    EXECUTE FUNCTION audiences_contact_tag_ids_check()
    """,
    "ANALYZE audiences_contact",
]

BACKWARD = [
    "DROP TRIGGER audiences_contact_tag_ids_checked_on_update ON audiences_contact",
    "DROP FUNCTION audiences_contact_tag_ids_check()",
    "DROP TRIGGER audiences_contact_tags_truncated ON audiences_contact_tags",
    "DROP TRIGGER audiences_contact_tags_deleted ON audiences_contact_tags",
    "DROP TRIGGER audiences_contact_tags_updated ON audiences_contact_tags",
    "DROP TRIGGER audiences_contact_tags_inserted ON audiences_contact_tags",
    "DROP FUNCTION audiences_contact_tag_ids_sync()",
    "DROP INDEX aud_contact_tag_ids_gin",
]


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="tag_ids",
            field=audiences.fields.TagIdsField(
                base_field=models.BigIntegerField(),
                blank=True,
                db_default=[],
                default=list,
                editable=False,
                size=None,
            ),
        ),
        RunSQLOnPostgreSQL(FORWARD, BACKWARD),
    ]
