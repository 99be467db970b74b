"""Shared builders for the campaigns tests."""

import datetime as dt

from django.conf import settings

from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_activate, campaign_recount
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.campaigns import CampaignFactory

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def running_campaign(contacts: int = 0, *, tag: str | None = None, now=START, **kwargs) -> Campaign:
    """An activated campaign over `contacts` new contacts (tagged so audiences do not overlap)."""
    tag = tag or f"t{Campaign.objects.count()}-{contacts}"
    ContactFactory.create_batch(contacts, tags=[tag])
    audience = AudienceFactory(rules={"include_tags": [tag]})
    campaign = CampaignFactory(audience=audience, start_at=kwargs.pop("start_at", now), **kwargs)
    campaign_activate(campaign=campaign, now=now)
    campaign.refresh_from_db()
    return campaign


def assert_counters_match_recount(campaign: Campaign) -> None:
    campaign.refresh_from_db()
    fields = ["total", "pending", "queued", "sent", "delivered", "read", "failed", "skipped", "unknown", "cancelled"]
    fields += ["clicked", "clickers", "replied", "converted"]
    before = {f: getattr(campaign, f) for f in fields}
    assert before == campaign_recount(campaign=campaign)


def statuses(campaign: Campaign) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(Recipient.objects.filter(campaign=campaign).values_list("status", flat=True)))


def database_url() -> str:
    """The test database as a DATABASE_URL, for subprocesses that must use it."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def overlapping_campaigns(*parts: range, pool: int = 20, prefix: str = "part", **kwargs):
    """One running campaign per part of a pool of contacts (the parts may overlap), in that order."""
    tags = [f"{prefix}{i}" for i in range(len(parts))]
    contacts = [
        ContactFactory(tags=[tag for tag, part in zip(tags, parts, strict=True) if i in part]) for i in range(pool)
    ]
    campaigns = []
    for tag in tags:
        campaign = CampaignFactory(audience=AudienceFactory(rules={"include_tags": [tag]}), start_at=START, **kwargs)
        campaign_activate(campaign=campaign, now=START)
        campaigns.append(campaign)
    return contacts, campaigns
