"""Fetch the account's message templates and upsert them (the admin action calls the same service)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from whatsapp.errors import WhatsAppError
from whatsapp.services import templates_sync


class Command(BaseCommand):
    help = "Sync WhatsApp message templates from the business account; mark those that disappeared as MISSING."

    def handle(self, *args, **options):
        try:
            result = templates_sync(now=timezone.now())
        except WhatsAppError as exc:
            raise CommandError(f"template sync failed: {exc.reason}") from exc
        self.stdout.write(f"templates synced: {result}")
