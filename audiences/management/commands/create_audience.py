"""python manage.py create_audience NAME [--tag T ...] [--exclude-tag T ...] [--all] [--match any|all]
[--attr KEY=VALUE | KEY>N | KEY<N | KEY>=N | KEY<=N | KEY~TEXT ...] [--language L ...]"""

import re

from django.core.management.base import BaseCommand, CommandError

from audiences.indexes import attribute_indexes_follow
from audiences.models import Audience
from audiences.rules import RuleError, validate_rules
from audiences.selectors import audience_contacts

_ATTR = re.compile(r"^\s*([^=<>~]+?)\s*(>=|<=|=|>|<|~)\s*(.*)$")
_OPS = {"=": "eq", ">": "gt", "<": "lt", ">=": "gte", "<=": "lte", "~": "contains"}


class Command(BaseCommand):
    help = "Create or replace an audience by name and print its id and live count."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--tag", action="append", default=[], help="include contacts with this tag (repeat)")
        parser.add_argument("--exclude-tag", action="append", default=[], help="leave out contacts with this tag")
        parser.add_argument("--match", choices=["any", "all"], default="any", help="any (default) or all of --tag")
        parser.add_argument("--all", action="store_true", help="everyone subscribed (exclusions still apply)")
        parser.add_argument("--language", action="append", default=[], help="WhatsApp language code (repeat)")
        parser.add_argument(
            "--attr",
            action="append",
            default=[],
            help="attribute condition: key=value, key=a,b (one of), key>N, key<N, key>=N, key<=N, key~text",
        )

    def handle(self, *args, **options):
        conditions = []
        for text in options["attr"]:
            match = _ATTR.match(text)
            if not match:
                raise CommandError(f"--attr {text!r}: use key=value, key>N, key<N, key>=N, key<=N or key~text")
            key, op, value = match.groups()
            op = _OPS[op]
            if op == "eq" and "," in value:
                op = "in"
            conditions.append({"key": key, "op": op, "value": value})
        rules = {
            "everyone": options["all"],
            "match": options["match"],
            "include_tags": options["tag"],
            "exclude_tags": options["exclude_tag"],
            "languages": options["language"],
            "conditions": conditions,
        }
        try:
            rules = validate_rules(rules, check_tags=True)
        except RuleError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        audience, _ = Audience.objects.update_or_create(name=options["name"], defaults={"rules": rules})
        indexes = attribute_indexes_follow()  # the attribute indexes follow the saved rules (PostgreSQL)
        for name in indexes.created if indexes else []:
            self.stderr.write(f"created index {name}")
        count = audience_contacts(audience=audience).count()
        self.stdout.write(f'audience {audience.pk} "{audience.name}" count={count}')
