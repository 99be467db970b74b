"""Activate a draft campaign (or top it up with --top-up)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_activate, campaign_top_up


class Command(BaseCommand):
    help = "Validate and activate a campaign, materialising its audience; --top-up adds new matches only."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--top-up", action="store_true")

    def handle(self, *args, campaign_id: int, top_up: bool, **opts):
        try:
            campaign = Campaign.objects.select_related("template", "audience").get(pk=campaign_id)
        except Campaign.DoesNotExist as exc:
            raise CommandError(f"No campaign {campaign_id}") from exc
        service = campaign_top_up if top_up else campaign_activate
        try:
            result = service(campaign=campaign, now=timezone.now())
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"status: {result.status}")
        self.stdout.write(f"recipients_added: {result.recipients_added}")
        self.stdout.write(f"estimated_completion_date: {result.estimated_completion_date or '-'}")
