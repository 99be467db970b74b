"""python manage.py import_contacts FILE [--tag TAG] [--update] [--dry-run] [--region FR] [--encoding cp1252]
[--decimal comma] [--language fr_FR]"""

import csv
import tempfile

import phonenumbers
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audiences.imports import ImportFileError
from audiences.services import contacts_import


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV or .xlsx file (header line with a phone column; name, language, tags and any "
        "other column become fields or attributes). Prints a summary line, then one line per invalid row."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the CSV or .xlsx file")
        parser.add_argument("--tag", help="add this tag to every imported (created or updated) contact")
        parser.add_argument(
            "--update", action="store_true", help="update name, language, attributes and tags of existing contacts"
        )
        parser.add_argument("--dry-run", action="store_true", help="report what would happen, change nothing")
        parser.add_argument(
            "--region",
            help=f"country of numbers written without +country code, e.g. FR (default {settings.PHONE_DEFAULT_REGION})",
        )
        parser.add_argument(
            "--encoding",
            help="the CSV's encoding, e.g. utf-8, utf-16, cp1252, latin-1 (default: detected for the whole file)",
        )
        parser.add_argument(
            "--language",
            help="language of the contacts created from rows without one, e.g. fr_FR "
            f"(default {settings.CONTACT_DEFAULT_LANGUAGE}); existing contacts keep theirs",
        )
        parser.add_argument(
            "--decimal",
            choices=["comma", "point"],
            help="decimal mark of numbers such as 1,234 (default: comma in semicolon or tab files, else point)",
        )

    def handle(self, *args, **options):
        region = (options["region"] or "").upper() or None
        if region and region not in phonenumbers.SUPPORTED_REGIONS:
            raise CommandError(f"unknown region {options['region']!r}: use a two-letter country code such as FR")
        try:
            with (
                open(options["file"], "rb") as file,
                tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rejected,
            ):
                result = contacts_import(
                    file=file,
                    now=timezone.now(),
                    tag=options["tag"],
                    update=options["update"],
                    dry_run=options["dry_run"],
                    region=region,
                    encoding=options["encoding"],
                    decimal=options["decimal"],
                    language=(options["language"] or "").replace("-", "_") or None,
                    rejected=rejected,
                )
                self.stdout.write(result.summary + (" (dry run: nothing saved)" if options["dry_run"] else ""))
                if result.merged:
                    self.stderr.write(f"{result.merged} row(s) repeated a phone already in the file: merged")
                rejected.seek(0)
                rows = csv.reader(rejected)
                next(rows, None)
                for line, reason, *_cells in rows:
                    self.stdout.write(f"line {line}: {reason}")
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
