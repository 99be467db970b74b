"""One place per state machine: campaign moves in campaigns/states.py, recipient moves in campaigns/lifecycle.py."""

import datetime as dt
import re
from pathlib import Path

import pytest

from campaigns import lifecycle, states
from campaigns.models import Campaign, Recipient
from campaigns.services import CampaignStateError, campaign_cancel, campaign_pause, campaign_resume
from tests.campaigns.helpers import START, running_campaign
from tests.factories.campaigns import CampaignFactory

C = Campaign.Status
R = Recipient.Status
ROOT = Path(__file__).resolve().parents[2]
# Campaigns, recipients, and test sends (which follow the recipients' precedence, lifecycle.RANK).
STATE_MODULES = {ROOT / "campaigns" / f for f in ("states.py", "lifecycle.py", "testsends.py")}


def test_every_status_has_its_row_in_the_tables():
    assert set(states.MOVES) == set(C.values)
    assert set(lifecycle.MOVES) == set(R.values)
    assert set(lifecycle.RANK) == set(R.values)


def test_nothing_else_writes_a_status_column():
    """A raw `.update(status=...)` outside the two state modules would bypass the tables (and the counters)."""
    raw_write = re.compile(r"\.update\([^)]*\bstatus\s*=", re.S)
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("campaigns", "audiences")
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and path not in STATE_MODULES and raw_write.search(path.read_text())
    ]
    assert offenders == []


def test_a_move_the_table_does_not_allow_is_a_programming_error():
    with pytest.raises(states.IllegalMove):
        states.sources(C.DRAFT, {C.RUNNING})  # nothing goes back to draft
    with pytest.raises(lifecycle.IllegalMove):
        lifecycle.recipients_move(campaign_id=0, ids=[], old=R.SENT, new=R.PENDING)


@pytest.mark.django_db
def test_campaign_moves_are_conditional_and_say_whether_they_happened():
    campaign = CampaignFactory(status=C.RUNNING)
    assert states.campaign_move(campaign_id=campaign.pk, to=C.PAUSED, now=START, pause_reason="x")
    assert not states.campaign_move(campaign_id=campaign.pk, to=C.PAUSED, now=START)  # already paused
    assert not states.campaign_move(campaign_id=campaign.pk, to=C.COMPLETED, now=START)  # paused cannot complete
    campaign.refresh_from_db()
    assert (campaign.status, campaign.pause_reason) == (C.PAUSED, "x")


@pytest.mark.django_db
def test_lifecycle_services_refuse_what_the_table_refuses():
    campaign = running_campaign(2)
    campaign_cancel(campaign=campaign, now=START)
    with pytest.raises(CampaignStateError):
        campaign_resume(campaign=campaign, now=START)
    with pytest.raises(CampaignStateError):
        campaign_pause(campaign=campaign, reason="late", now=START + dt.timedelta(minutes=1))
    campaign.refresh_from_db()
    assert campaign.status == C.CANCELLED
