"""Trigram indexes for the contact list's search (PostgreSQL only).

The admin searches a name with `name__icontains` (UPPER(name) LIKE '%...%')
and a fragment of a number with `phone__icontains` (UPPER(phone) LIKE
'%...%'): with no index, both read all 1,000,000 contacts twice (the page and
its count), 360 and 200 ms in bench/contact_admin.py. A pg_trgm GIN index on
each UPPER() serves them.

UPPER(phone), not phone, although E.164 has no letters: since pg_trgm 1.6
(PostgreSQL 14) a trigram index on the column also answers `phone = ...`, and
the planner took it for the importer's `phone IN (2,000 numbers)` over the
unique btree: 11 to 16 s per batch instead of milliseconds. Only the search's
UPPER(phone) LIKE matches the expression.

Built CONCURRENTLY (so the migration is not atomic): contacts can still be
imported and updated while a large table is indexed. An index that a failed
build left INVALID is dropped and built again. pg_trgm is a trusted extension
(the database owner may create it, as audiences/indexes.py does); where it is
refused, the migration says so and goes on: search still works, by scanning.
"""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)

SEARCH_INDEXES = {
    "aud_contact_name_trgm": "upper((name)::text) gin_trgm_ops",
    "aud_contact_phone_trgm": "upper((phone)::text) gin_trgm_ops",
}


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from audiences.indexes import trigram_ready

    with schema_editor.connection.cursor() as cursor:
        problem = trigram_ready(cursor)
        if problem:
            logger.warning("contact search indexes not built, search will scan the contacts: %s", problem)
            return
        for name, expression in SEARCH_INDEXES.items():
            cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
            row = cursor.fetchone()
            if row and row[0]:
                continue
            if row:
                cursor.execute(f"DROP INDEX CONCURRENTLY {name}")
            cursor.execute(f"CREATE INDEX CONCURRENTLY {name} ON audiences_contact USING gin ({expression})")


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("audiences", "0002_contact_tag_ids")]

    operations = [migrations.RunPython(create_search_indexes, drop_search_indexes, elidable=False)]
