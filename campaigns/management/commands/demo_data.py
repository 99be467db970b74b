"""Load the demo for the embedded run (README command 1). Safe to run again.

An operator login, ~1,000 contacts imported through the real CSV import (with
a few bad rows, to show how they are reported), the templates synced from the
configured WhatsApp account (the local sandbox in the demo), two audiences, one
running campaign, one running campaign with a tracked link and quick replies
(the sandbox's people read, tap and reply; the demo shop then orders a few
times, so the dashboard shows the funnel from sent to converted), one draft for
the operator to activate, and a first batch queued for the worker.
"""

import csv
import io
import random
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audiences.models import Audience, Contact
from audiences.services import contacts_import
from campaigns.models import Campaign, RateCard
from campaigns.ratecards import rate_card_import
from campaigns.services import CampaignValidationError, campaign_activate
from campaigns.tasks import demo_orders_task, send_batch_task
from whatsapp.errors import WhatsAppError
from whatsapp.models import MessageTemplate
from whatsapp.services import templates_sync
from whatsapp.tiers import messaging_limit_sync

EXAMPLE_RATES = Path(__file__).resolve().parents[2] / "ratecards_example"
CITIES = ["Lisbon", "Porto", "Austin", "Denver", "Boston", "Seattle"]
FIRST_NAMES = ["Ana", "Bruno", "Carla", "David", "Eva", "Filipe", "Grace", "Hugo", "Iris", "João"]
LAST_NAMES = ["Silva", "Santos", "Smith", "Jones", "Costa", "Miller", "Davis", "Moore"]


def demo_phone(n: int) -> str:
    """Numbers in three markets, so the pre-flight has countries to show and US marketing to skip."""
    if n % 10 < 4:
        return f"+351 91{n % 10_000_000:07d}"  # Portugal (Rest of Western Europe)
    if n % 10 < 7:
        return f"+55 11 9{n % 100_000_000:08d}"  # Brazil
    return f"+1 415 30{n // 10000 % 10}-{n % 10000:04d}"  # United States


def demo_csv(rows: int, seed: int = 7) -> bytes:
    """A contacts file like an operator's export: aliases, extra columns, tags, a few bad rows."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone_number", "full_name", "city", "tier", "total_spent", "tags"])
    for n in range(rows):
        tier = rng.choices(["gold", "silver", "bronze"], weights=[1, 3, 6])[0]
        tags = ["newsletter"] + (["vip"] if tier == "gold" else [])
        writer.writerow(
            [
                demo_phone(n),
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                rng.choice(CITIES),
                tier,
                round(rng.uniform(5, 900), 2),
                ",".join(tags),
            ]
        )
    writer.writerow(["12ab", "Bad Number", "Lisbon", "silver", "10", ""])
    writer.writerow(["", "No Phone", "Porto", "bronze", "3", ""])
    return out.getvalue().encode()


class Command(BaseCommand):
    help = "Load the demo data (DEBUG only): operator, contacts, templates, audiences, campaigns."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="admin")
        parser.add_argument("--contacts", type=int, default=1000)

    def handle(self, *args, username: str, password: str, contacts: int, **options):
        if not settings.DEBUG:
            raise CommandError("demo_data creates a known login: it runs only with DEBUG=True")
        now = timezone.now()
        self._operator(username, password)
        if not Contact.objects.exists():
            result = contacts_import(file=io.BytesIO(demo_csv(contacts)), now=now, tag="demo")
            self.stdout.write(f"demo contacts: {result.summary}")
            for row in result.invalid:
                self.stdout.write(f"  {row}")
        try:
            self.stdout.write(f"templates synced: {templates_sync(now=now)}")
        except WhatsAppError as exc:
            self.stdout.write(f"templates not synced ({exc.reason}); is the sandbox running?")
        try:
            self.stdout.write(f"messaging limit: {messaging_limit_sync(now=now)}")
        except WhatsAppError as exc:
            self.stdout.write(f"messaging limit not synced ({exc.reason}); WHATSAPP_DAILY_LIMIT or 250 applies")
        if not RateCard.objects.exists():
            card = rate_card_import(
                rates_file=(EXAMPLE_RATES / "example_rate_card.csv").read_bytes(),
                markets_file=(EXAMPLE_RATES / "example_markets.csv").read_bytes(),
                effective_from=now.date().replace(day=1),
                now=now,
                currency=settings.COST_CURRENCY,
                source="example_rate_card.csv (EXAMPLE figures, not Meta's)",
                markets_source="example_markets.csv (EXAMPLE)",
            )
            self.stdout.write(f"EXAMPLE rate card imported (made-up prices, not Meta's): {card}")
        everyone, _ = Audience.objects.get_or_create(name="Everyone subscribed", defaults={"rules": {"everyone": True}})
        vip, _ = Audience.objects.get_or_create(name="VIP customers", defaults={"rules": {"include_tags": ["vip"]}})
        self._campaigns(everyone, vip, now)

    def _operator(self, username: str, password: str) -> None:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True, "email": f"{username}@example.com"}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(f"demo operator {'created' if created else 'exists'}: {username}")

    def _campaigns(self, everyone: Audience, vip: Audience, now) -> None:
        approved = MessageTemplate.objects.approved()
        collection = approved.filter(name="new_collection").first()
        hello = approved.filter(name="hello_world").first()
        if collection is None or hello is None:
            self.stdout.write("no demo campaigns: the demo templates are not synced")
            return
        vip_campaign, created = Campaign.objects.get_or_create(
            name="New collection — VIP",
            defaults={
                "template": collection,
                "parameters": ["{{contact.first_name|there}}"],
                "header_media_url": "https://example.com/new-collection.jpg",
                "audience": vip,
                "priority": 2,
                "start_at": now,
            },
        )
        if created:
            try:
                result = campaign_activate(campaign=vip_campaign, now=now)
            except CampaignValidationError as exc:
                self.stdout.write(f"demo campaign not activated: {'; '.join(exc.messages)}")
            else:
                self.stdout.write(f"activated {vip_campaign}: {result.recipients_added} recipients")
                # The worker picks this up as soon as it starts: the operator sees sends and webhooks at once.
                send_batch_task.delay()
        self._link_campaign(vip, now)
        Campaign.objects.get_or_create(
            name="Welcome — everyone (draft: activate me)",
            defaults={"template": hello, "parameters": [], "audience": everyone, "priority": 1, "start_at": now},
        )

    def _link_campaign(self, audience: Audience, now) -> None:
        template = MessageTemplate.objects.approved().filter(name="spring_sale_link").first()
        if template is None:
            return
        campaign, created = Campaign.objects.get_or_create(
            name="Spring sale — tracked link",
            defaults={
                "template": template,
                "parameters": ["{{contact.first_name|there}}"],
                "link_url": "https://shop.example/spring?utm_source=whatsapp&utm_medium=message&utm_campaign=spring",
                "audience": audience,
                "priority": 2,
                "start_at": now,
            },
        )
        if not created:
            return
        try:
            result = campaign_activate(campaign=campaign, now=now)
        except CampaignValidationError as exc:
            self.stdout.write(f"demo campaign not activated: {'; '.join(exc.messages)}")
            return
        self.stdout.write(f"activated {campaign}: {result.recipients_added} recipients")
        send_batch_task.delay()
        # The demo shop orders once people have clicked (it waits for them).
        demo_orders_task.apply_async((campaign.pk,), countdown=20)
