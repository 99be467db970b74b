"""python manage.py import_contacts FILE.csv [--tag TAG] [--update] [--dry-run]"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audiences.imports import ImportFileError
from audiences.services import contacts_import


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV (header line with a phone column; name, language, tags and any "
        "other column become fields or attributes). Prints a summary line, then one line per invalid row."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the CSV file (UTF-8)")
        parser.add_argument("--tag", help="add this tag to every imported (created or updated) contact")
        parser.add_argument(
            "--update", action="store_true", help="update name, language, attributes and tags of existing contacts"
        )
        parser.add_argument("--dry-run", action="store_true", help="report what would happen, change nothing")

    def handle(self, *args, **options):
        try:
            with open(options["file"], "rb") as file:
                result = contacts_import(
                    file=file,
                    now=timezone.now(),
                    tag=options["tag"],
                    update=options["update"],
                    dry_run=options["dry_run"],
                )
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary + (" (dry run: nothing saved)" if options["dry_run"] else ""))
        for row in result.invalid:
            self.stdout.write(str(row))
