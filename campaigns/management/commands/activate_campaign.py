"""Activate a draft campaign (or top it up with --top-up); --dry-run shows the pre-flight and changes nothing."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.preflight import campaign_preflight
from campaigns.services import campaign_activate, campaign_problems, campaign_top_up


class Command(BaseCommand):
    help = (
        "Validate and activate a campaign, materialising its audience; --top-up adds new matches only; "
        "--dry-run prints the pre-flight (countries, exclusions, estimated cost and completion) and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--top-up", action="store_true")
        parser.add_argument("--dry-run", action="store_true", help="report what activation would do; change nothing")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def handle(self, *args, campaign_id: int, top_up: bool, dry_run: bool, **opts):
        try:
            campaign = Campaign.objects.select_related("template", "audience").get(pk=campaign_id)
        except Campaign.DoesNotExist as exc:
            raise CommandError(f"No campaign {campaign_id}") from exc
        now = timezone.now()
        if dry_run:
            return self._dry_run(campaign, now=now, top_up=top_up, as_json=opts["json"])
        service = campaign_top_up if top_up else campaign_activate
        try:
            result = service(campaign=campaign, now=now)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        figures = {
            "status": result.status,
            "recipients_added": result.recipients_added,
            "estimated_completion_date": result.estimated_completion_date.isoformat()
            if result.estimated_completion_date
            else None,
        }
        if opts["json"]:
            self.stdout.write(json.dumps(figures, sort_keys=True))
            return
        self.stdout.write(f"status: {result.status}")
        self.stdout.write(f"recipients_added: {result.recipients_added}")
        self.stdout.write(f"estimated_completion_date: {result.estimated_completion_date or '-'}")

    def _dry_run(self, campaign: Campaign, *, now, top_up: bool, as_json: bool) -> None:
        report = {
            "campaign": campaign.pk,
            "dry_run": True,
            "problems": [] if top_up else [str(p) for p in campaign_problems(campaign=campaign, now=now)],
            **campaign_preflight(campaign=campaign, now=now).as_dict(),
        }
        if as_json:
            self.stdout.write(json.dumps(report, sort_keys=True))
            return
        self.stdout.write(f"dry run: nothing changed. recipients: {report['recipients']}")
        for problem in report["problems"]:
            self.stdout.write(f"problem: {problem}")
        for country in report["countries"]:
            self.stdout.write(f"country {country['country']}: {country['recipients']}")
        for exclusion in report["exclusions"]:
            self.stdout.write(f"{exclusion['key']}: {exclusion['count']} - {exclusion['reason']} {exclusion['action']}")
        self.stdout.write(f"expected_deliveries: {report['expected_deliveries']}")
        self.stdout.write(
            f"cost_estimated: {report['cost_estimated'] or '-'} {report['currency'] or ''} "
            f"(rate card from {report['rate_card_effective_from'] or '-'})"
        )
        self.stdout.write(f"estimated_completion_date: {report['estimated_completion_date'] or '-'}")
        for note in report["notes"]:
            self.stdout.write(f"note: {note}")
