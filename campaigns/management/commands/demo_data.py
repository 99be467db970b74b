"""Load the demo: an operator login, for the embedded run (README command 1)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the demo operator (DEBUG only). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="admin")

    def handle(self, *args, username: str, password: str, **options):
        if not settings.DEBUG:
            raise CommandError("demo_data creates a known login: it runs only with DEBUG=True")
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True, "email": f"{username}@example.com"}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(f"demo operator {'created' if created else 'exists'}: {username}")
