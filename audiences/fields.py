"""TagIdsField: a contact's tag ids as a PostgreSQL array, kept by the database from the tags M2M.

On PostgreSQL the column is `bigint[]` with a GIN index and triggers on the
M2M table keep it equal to the contact's tag ids (migration 0002), so the
audience rules test `tag_ids && ARRAY[...]` / `@>` instead of EXISTS over the
links (audiences/rules.py). The model has to be the same on every database, so
elsewhere (SQLite: dev, CI's first pass) the column is JSON text that nothing
maintains or reads: there it stays `[]` and the rules keep EXISTS.
"""

import json

from django.contrib.postgres.fields import ArrayField


class TagIdsField(ArrayField):
    def db_type(self, connection):
        return super().db_type(connection) if connection.vendor == "postgresql" else "text"

    def cast_db_type(self, connection):
        return super().cast_db_type(connection) if connection.vendor == "postgresql" else "text"

    def get_placeholder(self, value, compiler, connection):
        # ArrayField casts with `::`, which only PostgreSQL parses.
        return super().get_placeholder(value, compiler, connection) if connection.vendor == "postgresql" else "%s"

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor == "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        return None if value is None else json.dumps(list(value))

    def from_db_value(self, value, expression, connection):
        return json.loads(value) if isinstance(value, str) else value
