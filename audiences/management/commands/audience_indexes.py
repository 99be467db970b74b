"""python manage.py audience_indexes [--json]: build the attribute indexes saved audiences need, drop unused ones."""

import json

from django.core.management.base import BaseCommand

from audiences.indexes import attribute_indexes_sync


class Command(BaseCommand):
    help = (
        "Create (CONCURRENTLY) the indexes on contact attributes that saved audiences compare as numbers or search "
        "with 'contains', and drop those no audience uses. PostgreSQL only; elsewhere it does nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        result = attribute_indexes_sync()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
            return
        if result.database != "postgresql":
            self.stdout.write(f"nothing to do on {result.database}: attribute indexes are for PostgreSQL")
            return
        if result.busy:
            self.stdout.write("another sync is running; nothing done")
            return
        self.stdout.write(
            f"created={len(result.created)} dropped={len(result.dropped)} kept={len(result.kept)} "
            f"skipped={len(result.skipped)} seconds={result.seconds:.1f}"
        )
        for name in result.created:
            self.stdout.write(f"created {name}")
        for name in result.dropped:
            self.stdout.write(f"dropped {name}")
        for name, why in result.skipped.items():
            self.stderr.write(f"skipped {name}: {why}")
