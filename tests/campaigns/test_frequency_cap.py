"""The frequency cap across campaigns: marketing messages per phone per D days; the rest deferred, never dropped.

What was sent is counted at the sandbox, over real HTTP.
"""

import datetime as dt
from collections import Counter

import pytest

from campaigns.batch import batch_send
from campaigns.frequency import frequency_capped, frequency_frees_on
from campaigns.models import Campaign, Recipient
from campaigns.plans import activation_plan
from campaigns.preflight import campaign_preflight
from campaigns.services import campaign_activate
from campaigns.today import today_overview
from tests.campaigns.helpers import START, assert_counters_match_recount, overlapping_campaigns, statuses
from tests.factories.audiences import AudienceFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.whatsapp import MessageTemplateFactory

pytestmark = pytest.mark.django_db
R = Recipient.Status
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _cap(settings):
    settings.WHATSAPP_DAILY_LIMIT = 1000
    settings.CAMPAIGN_FREQUENCY_CAP = 1
    settings.CAMPAIGN_FREQUENCY_CAP_DAYS = 2
    settings.TIME_ZONE = "UTC"


def sent_to(sandbox, since: int = 0) -> Counter:
    return Counter("+" + m["to"] for m in list(sandbox.accepted)[since:])


def test_the_claim_defers_phones_at_the_cap_and_sends_them_on_a_later_day(http_sandbox):
    contacts, (first, second) = overlapping_campaigns(range(0, 6), range(3, 9), pool=9)
    shared = {c.phone for c in contacts[3:6]}
    result = batch_send(now=START)
    assert result.sent == 9  # the first campaign's six, the second's three people nobody messaged
    assert max(sent_to(http_sandbox).values()) == 1  # one marketing message per person, though two campaigns
    waiting = Recipient.objects.filter(campaign=second, status=R.PENDING)
    assert set(waiting.values_list("phone", flat=True)) == shared  # deferred, not dropped
    assert frequency_capped(campaign=second, now=START) == 3
    assert frequency_capped(campaign=first, now=START) == 0
    assert Campaign.objects.get(pk=second.pk).status == Campaign.Status.RUNNING  # not completed: they wait
    # The next day is still inside the cap's two days: nothing for them.
    assert batch_send(now=START + DAY).sent == 0
    # The day after, the first message left the two days: the deferred go out.
    seen = len(http_sandbox.accepted)
    assert batch_send(now=START + 2 * DAY).sent == 3
    assert set(sent_to(http_sandbox, seen)) == shared
    assert statuses(second) == {R.SENT: 6}
    for campaign in (first, second):
        assert_counters_match_recount(campaign)
    assert Campaign.objects.get(pk=second.pk).status == Campaign.Status.COMPLETED


def test_the_cap_counts_and_holds_back_only_marketing_templates(http_sandbox):
    contacts, (marketing,) = overlapping_campaigns(range(0, 4), pool=4)
    utility = CampaignFactory(
        audience=AudienceFactory(rules={"include_tags": ["part0"]}),
        template=MessageTemplateFactory(category="UTILITY"),
        start_at=START,
    )
    campaign_activate(campaign=utility, now=START)
    assert batch_send(now=START).sent == 8  # the utility messages neither count nor wait
    assert statuses(utility) == {R.SENT: 4}
    assert frequency_capped(campaign=utility, now=START) == 0
    # A second marketing campaign waits for them, however many utility messages they had.
    again = CampaignFactory(audience=AudienceFactory(rules={"include_tags": ["part0"]}), start_at=START)
    campaign_activate(campaign=again, now=START + dt.timedelta(hours=1))
    assert batch_send(now=START + dt.timedelta(hours=1)).sent == 0
    assert frequency_capped(campaign=again, now=START + dt.timedelta(hours=1)) == 4


def test_the_cap_is_off_by_default(settings, outbox):
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    overlapping_campaigns(range(0, 3), range(0, 3), pool=3)
    assert batch_send(now=START).sent == 6


def test_the_plan_and_the_estimated_completion_wait_for_the_held_back(http_sandbox):
    contacts, (first,) = overlapping_campaigns(range(0, 5), pool=5)
    batch_send(now=START)
    now = START + dt.timedelta(hours=2)
    draft = CampaignFactory(audience=AudienceFactory(rules={"include_tags": ["part0"]}), start_at=None)
    assert frequency_capped(campaign=draft, now=now) == 5  # the pre-flight's figure: all of them wait
    frees_on = frequency_frees_on(campaign=draft, now=now)
    assert frees_on == (START + 2 * DAY).date()
    plan = activation_plan(campaign=draft, now=now)
    assert any("5 recipients already had 1 marketing message(s)" in line for line in plan.lines)
    # The activation's pre-flight (admin and `activate_campaign --dry-run`) reports them, held back, not skipped.
    [capped] = [e for e in campaign_preflight(campaign=draft, now=now).exclusions if e.key == "frequency_capped"]
    assert (capped.count, capped.skipped) == (5, False)
    assert frees_on.isoformat() in capped.action
    assert campaign_preflight(campaign=draft, now=now).estimated_completion == frees_on
    assert f"Estimated completion: {frees_on.isoformat()}." in plan.lines
    campaign_activate(campaign=draft, now=now)
    draft.refresh_from_db()
    assert draft.estimated_completion_date == frees_on  # not today, though the limit has room for all five
    row = next(c for c in today_overview(now=now).campaigns if c.id == draft.pk)
    assert row.held_back == 5
    # And they do go on that day.
    assert batch_send(now=START + 2 * DAY).sent == 5
    assert statuses(draft) == {R.SENT: 5}
