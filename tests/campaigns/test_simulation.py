"""45 days of a daily 09:00 batch driven by `send_batch --as-of`: the limit, the fair split, completion."""

import datetime as dt
import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from audiences.models import Audience, Contact
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_activate
from tests.campaigns.helpers import START, assert_counters_match_recount
from tests.factories.campaigns import CampaignFactory

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def make_contacts(groups: dict[str, int]) -> None:
    rows, n = [], 0
    for group, count in groups.items():
        for _ in range(count):
            rows.append(
                Contact(phone=f"+1415{3000000 + n:07d}", name=f"C {n}", first_name="C", attributes={"g": group})
            )
            n += 1
    Contact.objects.bulk_create(rows, batch_size=2000)


def test_45_days_never_over_the_limit_fair_while_both_run_all_sent_by_day_32(settings, outbox):
    settings.WHATSAPP_DAILY_LIMIT = 250
    settings.WHATSAPP_MAX_MPS = 0
    make_contacts({"a": 5000, "b": 3000, "c": 2000})
    big, small = (
        CampaignFactory(
            name=f"group {g}",
            audience=Audience.objects.create(name=g, rules={"conditions": [{"key": "g", "op": "eq", "value": g}]}),
            start_at=START,
        )
        for g in ("a", "b")
    )
    for campaign in (big, small):
        campaign_activate(campaign=campaign, now=START - DAY)
    assert (Recipient.objects.filter(campaign=big).count(), Recipient.objects.filter(campaign=small).count()) == (
        5000,
        3000,
    )

    daily = []
    for day in range(45):
        out = StringIO()
        call_command("send_batch", "--as-of", (START + day * DAY).isoformat(), "--json", stdout=out)
        result = json.loads(out.getvalue())
        daily.append({int(k): v for k, v in result["campaigns"].items()})
        assert result["sent"] <= 250

    totals = [sum(d.values()) for d in daily]
    assert max(totals) == 250
    assert all(d == {big.pk: 125, small.pk: 125} for d in daily[:24])  # 3,000 / 125 = 24 days
    assert all(d == {big.pk: 250} for d in daily[24:32])  # the survivor takes the whole limit
    assert sum(totals[:32]) == 8000 and sum(totals[32:]) == 0  # all sent by day 32

    per_campaign = Counter((m["tracker"], m["to"]) for m in outbox)
    assert max(per_campaign.values()) == 1
    pairs = Counter(Recipient.objects.filter(pk__in=[int(t) for t, _ in per_campaign]).values_list("campaign", "phone"))
    assert len(pairs) == 8000 and max(pairs.values()) == 1  # zero duplicates
    for campaign in (big, small):
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.COMPLETED
        assert_counters_match_recount(campaign)
