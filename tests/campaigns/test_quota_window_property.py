"""Promise 2 as a property: no moving 24-hour window ever holds more unique counted phones than the limit.

Hypothesis drives batches at random times over several campaigns with
overlapping audiences, inbound messages (customer-service windows), refused
sends and batches that die after claiming (their lease expires). What went
out is taken from the backend's outbox, and which phones Meta counts is
decided here from the inbound times, independently of campaigns/quota.py.
"""

import datetime as dt
from collections import defaultdict

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from campaigns.batch import _claim_round, batch_send
from campaigns.leases import Lease, recipients_dispatch
from campaigns.models import QuotaReservation, Recipient
from campaigns.quota import quota_usage
from campaigns.services import campaign_activate
from tests.campaigns.helpers import START
from tests.factories.audiences import AudienceFactory, ContactFactory, TagFactory
from tests.factories.campaigns import CampaignFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import WhatsAppError
from whatsapp.services import last_inbound_record

R = Recipient.Status
LIMIT = 4
PEOPLE = 10
DAY = dt.timedelta(hours=24)
ANSWERS = st.sampled_from([None, None, None, 130429, 131026])  # accepted, transient, permanent for the recipient


class QuotaWindow(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()  # each example in a savepoint rolled back at its end
        LocmemBackend.reset()
        self.now = START
        self.sends: list[tuple[dt.datetime, str]] = []  # what may have reached WhatsApp, and when
        self.inbound: dict[str, list[dt.datetime]] = defaultdict(list)  # when each person wrote (Meta's truth)
        self.campaigns = 0

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        LocmemBackend.reset()

    @initialize()
    def people(self):
        self.contacts = [ContactFactory() for _ in range(PEOPLE)]

    @precondition(lambda self: self.campaigns < 4)
    @rule(members=st.sets(st.integers(0, PEOPLE - 1), min_size=1), priority=st.integers(1, 3))
    def activate(self, members, priority):
        tag = TagFactory(name=f"c{self.campaigns}")
        self.campaigns += 1
        for i in members:
            self.contacts[i].tags.add(tag)
        audience = AudienceFactory(rules={"include_tags": [tag.name]})
        campaign = CampaignFactory(audience=audience, priority=priority, start_at=self.now)
        campaign_activate(campaign=campaign, now=self.now)

    @rule(minutes=st.integers(1, 30 * 60))
    def time_passes(self, minutes):
        self.now += dt.timedelta(minutes=minutes)

    @rule(person=st.integers(0, PEOPLE - 1), minutes_ago=st.integers(-60, 30 * 60))
    def person_writes(self, person, minutes_ago):
        at = self.now - dt.timedelta(minutes=minutes_ago)  # up to an hour ahead, as a skewed timestamp can be
        phone = self.contacts[person].phone
        self.inbound[phone].append(at)
        last_inbound_record(phone=phone, at=at)

    @rule(answers=st.lists(ANSWERS, max_size=6))
    def batch(self, answers):
        LocmemBackend.queue_errors(*[None if code is None else WhatsAppError("x", code=code) for code in answers])
        batch_send(now=self.now)
        self.sends += [(self.now, message["to"]) for message in LocmemBackend.outbox]
        LocmemBackend.reset()

    @rule(dispatched=st.integers(0, 5))
    def batch_dies_after_claiming(self, dispatched):
        """Claims one round, hands some to the network, and dies: the sweep takes them back after the lease."""
        lease = Lease(now=self.now)
        claims = _claim_round(now=self.now, size=100, lease=lease)
        gone = recipients_dispatch(lease=lease, ids=[claim.recipient_id for claim in claims[:dispatched]])
        self.sends += [(self.now, claim.phone) for claim in claims if claim.recipient_id in gone]

    def counted(self, at: dt.datetime, phone: str) -> bool:
        """Meta counts a template outside the person's customer-service window (they wrote in the 24 h before)."""
        return not any(at - DAY < wrote <= at for wrote in self.inbound[phone])

    @invariant()
    def no_window_holds_more_people_than_the_limit(self):
        counted = [(at, phone) for at, phone in self.sends if self.counted(at, phone)]
        for end in {at for at, _ in counted}:
            people = {phone for at, phone in counted if end - DAY < at <= end}
            assert len(people) <= LIMIT, (end, sorted(people))
        assert quota_usage(now=self.now).used_24h <= LIMIT

    @invariant()
    def the_ledger_holds_exactly_the_claims_that_may_have_gone_out(self):
        if not hasattr(self, "contacts"):
            return
        ledger = QuotaReservation.objects.filter(recipient__isnull=False)
        reserved = set(ledger.values_list("recipient_id", "reserved_at"))
        out = set(Recipient.objects.filter(status__in=[R.QUEUED, R.SENT, R.UNKNOWN]).values_list("id", "claimed_at"))
        assert out <= reserved  # every claim that may have gone out is counted
        given_back = Recipient.objects.filter(status__in=[R.PENDING, R.SKIPPED, R.CANCELLED])
        back = set(given_back.values_list("id", flat=True))
        assert not back & {rid for rid, _ in reserved}  # a claim given back gave its reservation back


@pytest.mark.django_db
def test_no_moving_window_ever_holds_more_unique_counted_phones_than_the_limit(settings_fixture):
    run_state_machine_as_test(
        QuotaWindow,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.fixture
def settings_fixture(settings):
    settings.WHATSAPP_DAILY_LIMIT = LIMIT
    settings.WHATSAPP_MAX_MPS = 0
    settings.WHATSAPP_SEND_THREADS = 1
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    settings.SEND_MAX_ATTEMPTS = 3
    settings.TIME_ZONE = "America/New_York"  # START's week crosses the spring switch: a 23-hour day
    settings.WHATSAPP_BACKEND = "whatsapp.backends.locmem.LocmemBackend"
    return settings
