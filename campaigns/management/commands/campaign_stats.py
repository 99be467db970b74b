"""Print a campaign's counters and rates."""

import json

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign
from campaigns.selectors import campaign_stats


class Command(BaseCommand):
    help = "A campaign's progress: counters, progress and delivery/read/failure rates, estimated completion."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, campaign_id: int, **opts):
        try:
            campaign = Campaign.objects.get(pk=campaign_id)
        except Campaign.DoesNotExist as exc:
            raise CommandError(f"No campaign {campaign_id}") from exc
        stats = campaign_stats(campaign=campaign)
        if opts["json"]:
            self.stdout.write(json.dumps(stats, sort_keys=True))
        else:
            for key, value in stats.items():
                self.stdout.write(f"{key}: {value}")
