"""Read each sender number's messaging limit tier and quality from Meta (the beat task and the admin button too)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from whatsapp.errors import WhatsAppError
from whatsapp.tiers import messaging_limit, messaging_limit_sync


class Command(BaseCommand):
    help = (
        "GET /<PHONE_NUMBER_ID>?fields=whatsapp_business_manager_messaging_limit,quality_rating for every sender "
        "number and record the tier; prints the limit now in force and where it comes from."
    )

    def handle(self, *args, **options):
        now = timezone.now()
        try:
            result = messaging_limit_sync(now=now)
        except WhatsAppError as exc:
            raise CommandError(f"messaging limit sync failed: {exc.reason}") from exc
        limit = messaging_limit(now)
        self.stdout.write(f"messaging limit sync: {result}")
        self.stdout.write(
            f"limit in force: {limit.value} ({limit.source}{', tier ' + limit.tier if limit.tier else ''})"
        )
