"""python manage.py create_api_key USERNAME [--name NAME]: a new API key for the user, printed once as the last line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key acting as USERNAME (their groups and permissions apply); the key is the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what uses the key (default: 'command line')")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}")
        if not user.is_active:
            raise CommandError(f"User {username!r} is not active")
        key, raw = api_key_create(user=user, name=name or "command line")
        self.stderr.write(f"API key {key.prefix}… for {username}: shown once, store it now.")
        self.stdout.write(raw)
