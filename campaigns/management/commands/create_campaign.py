"""Create a draft campaign and print its id."""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from audiences.models import Audience
from campaigns.models import Campaign
from campaigns.timeparse import aware
from whatsapp.models import MessageTemplate


class Command(BaseCommand):
    help = "Create a draft campaign (activate it with activate_campaign ID) and print its id."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--template", required=True, help="template name")
        parser.add_argument("--language", required=True, help="template language, e.g. en_US")
        parser.add_argument("--audience", required=True, help="audience name")
        parser.add_argument("--param", action="append", default=[], dest="params", help="one per body placeholder")
        parser.add_argument(
            "--header-param", action="append", default=[], dest="header_params", help="one per header placeholder"
        )
        parser.add_argument(
            "--button-param",
            action="append",
            default=[],
            dest="button_params",
            help="one per URL button with a variable end of link, in button order",
        )
        parser.add_argument("--priority", type=int, default=1)
        parser.add_argument("--start", help="ISO-8601 start (without it: as soon as it is activated)")
        parser.add_argument("--end", help="ISO-8601 end")
        parser.add_argument("--daily-cap", type=int)
        parser.add_argument("--header-media-url", default="")
        parser.add_argument("--budget", help="at most this much spent (the rate card's currency), e.g. 25.00")
        parser.add_argument(
            "--button-url",
            default="",
            help="tracked link destination (UTM parameters and {{contact.*}} placeholders allowed): the URL "
            "button's suffix becomes each recipient's token and {{link}} the tracked link",
        )

    def handle(self, *args, **opts):
        try:
            template = MessageTemplate.objects.approved().get(name=opts["template"], language=opts["language"])
        except MessageTemplate.DoesNotExist as exc:
            raise CommandError(f"No APPROVED template {opts['template']} ({opts['language']})") from exc
        try:
            audience = Audience.objects.get(name=opts["audience"])
        except Audience.DoesNotExist as exc:
            raise CommandError(f"No audience named {opts['audience']!r}") from exc
        from campaigns.links import link_problems

        problems = link_problems(link_url=opts["button_url"])
        if problems:
            raise CommandError(f"--button-url: {problems[0]}")
        if opts["priority"] < 1:
            raise CommandError("--priority must be a positive integer")
        budget = None
        if opts["budget"] is not None:
            try:
                budget = Decimal(opts["budget"])
            except InvalidOperation as exc:
                raise CommandError(f"--budget {opts['budget']!r} is not an amount") from exc
            if not budget.is_finite() or budget < 0:
                raise CommandError("--budget must be zero or more")
        campaign = Campaign.objects.create(
            name=opts["name"],
            template=template,
            audience=audience,
            parameters=opts["params"],
            header_parameters=opts["header_params"],
            button_parameters=opts["button_params"],
            priority=opts["priority"],
            start_at=aware(opts["start"], "--start") if opts["start"] else None,
            end_at=aware(opts["end"], "--end") if opts["end"] else None,
            daily_cap=opts["daily_cap"],
            header_media_url=opts["header_media_url"],
            budget=budget,
            link_url=opts["button_url"],
        )
        self.stdout.write(str(campaign.pk))
