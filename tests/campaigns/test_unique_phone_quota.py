"""Promise 2, counted as Meta counts it: unique phones in the moving 24 hours, free inside a service window.

Sends are counted at the sandbox, over real HTTP: what reached "WhatsApp" is
what the limit is about.
"""

import datetime as dt
from collections import Counter

import pytest
from django.urls import reverse

from campaigns.batch import _claim_round, batch_send
from campaigns.leases import Lease, recipients_expire_leases
from campaigns.models import QuotaReservation, Recipient
from campaigns.quota import quota_usage
from tests.campaigns.helpers import START, assert_counters_match_recount, overlapping_campaigns
from tests.factories.audiences import ContactFactory
from tests.whatsapp import payloads
from whatsapp.models import LastInbound
from whatsapp.sandbox import SandboxServer

pytestmark = pytest.mark.django_db
R = Recipient.Status
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def inbound(client, settings, django_capture_on_commit_callbacks):
    """Post a signed inbound text from a phone at an instant, through the real webhook view, and process it."""
    settings.WHATSAPP_APP_SECRET = payloads.TEST_APP_SECRET

    def post(phone: str, at: dt.datetime) -> None:
        message = payloads.text_message(
            phone.lstrip("+"), "hello", message_id=f"wamid.in-{phone}-{at.timestamp():.0f}",
            timestamp=str(int(at.timestamp())),
        )  # fmt: skip
        raw = payloads.body(message)
        headers = {"X-Hub-Signature-256": payloads.signature(raw)}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST", reverse("whatsapp:webhook"), raw, content_type="application/json", headers=headers
            )
        assert response.status_code == 200

    return post


def test_two_campaigns_over_overlapping_audiences_reach_the_limit_in_phones_and_send_more_messages(
    settings, http_sandbox
):
    sandbox = http_sandbox
    settings.WHATSAPP_DAILY_LIMIT = 10
    contacts, (first, second) = overlapping_campaigns(range(0, 15), range(2, 17))
    result = batch_send(now=START)
    sent_to = Counter(m["to"] for m in sandbox.accepted)
    assert len(sent_to) == 10  # the limit, in unique people
    assert sum(sent_to.values()) == result.sent > 10  # the second campaign's messages to them cost nothing
    assert max(sent_to.values()) == 2
    usage = quota_usage(now=START)
    assert (usage.used_24h, usage.used_today, usage.left, usage.messages_24h) == (10, 10, 0, result.sent)
    # Nobody new later in the window; the people reached already can still get the other campaign's message.
    assert batch_send(now=START + 5 * HOUR).sent == 0
    # A day later the window is empty again: ten more people.
    later = batch_send(now=START + 24 * HOUR)
    reached = {m["to"] for m in sandbox.accepted}
    assert len(reached) == 17 and quota_usage(now=START + 24 * HOUR).used_24h <= 10
    assert later.sent > 0
    for campaign in (first, second):
        assert_counters_match_recount(campaign)
        pairs = Counter(Recipient.objects.filter(campaign=campaign).values_list("phone", flat=True))
        assert max(pairs.values()) == 1


def test_people_in_an_open_customer_service_window_are_not_counted(settings, http_sandbox, inbound):
    sandbox = http_sandbox
    settings.WHATSAPP_DAILY_LIMIT = 3
    contacts, (campaign,) = overlapping_campaigns(range(0, 8), pool=8)
    wrote_recently = [contacts[0].phone, contacts[5].phone]
    for phone in wrote_recently:
        inbound(phone, START - 3 * HOUR)
    inbound(contacts[1].phone, START - 23 * HOUR)  # its window closes within the margin: counted
    inbound(contacts[2].phone, START + HOUR)  # after the batch's `now`: not trusted, counted
    assert LastInbound.objects.count() == 4
    batch_send(now=START)
    sent_to = ["+" + m["to"] for m in sandbox.accepted]
    # Three counted people (1, 2 and 3: the first in order) plus the two inside their window (0 and 5).
    assert sorted(sent_to) == sorted(c.phone for c in (contacts[0], contacts[1], contacts[2], contacts[3], contacts[5]))
    assert quota_usage(now=START).used_24h == 3
    assert set(QuotaReservation.objects.filter(counted=False).values_list("phone", flat=True)) == set(wrote_recently)


def test_a_replayed_or_older_inbound_message_never_moves_the_window_back(inbound):
    phone = ContactFactory().phone
    inbound(phone, START)
    inbound(phone, START - 5 * HOUR)
    inbound(phone, START)
    assert LastInbound.objects.get(phone=phone).at == START


def test_a_phone_counted_in_the_window_costs_nothing_on_a_new_calendar_day_either(settings, outbox):
    from campaigns.models import Campaign

    settings.WHATSAPP_DAILY_LIMIT = 2
    settings.WHATSAPP_MAX_MPS = 0
    settings.TIME_ZONE = "UTC"
    contacts, (first, second) = overlapping_campaigns(range(0, 2), range(0, 4), pool=4)
    Campaign.objects.filter(pk=second.pk).update(status=Campaign.Status.PAUSED)
    assert batch_send(now=START).sent == 2  # people 0 and 1, by the first campaign
    Campaign.objects.filter(pk=second.pk).update(status=Campaign.Status.RUNNING)
    at = START + 20 * HOUR  # the next calendar day, the same 24-hour window
    assert batch_send(now=at).sent == 2  # the second campaign's messages to 0 and 1: free
    assert sorted(m["to"] for m in outbox[2:]) == sorted(c.phone for c in contacts[:2])
    usage = quota_usage(now=at)
    assert (usage.used_24h, usage.used_today) == (2, 0)
    # Reached again at START + 20 h, people 0 and 1 stay in the window until START + 44 h, as Meta counts them.
    assert batch_send(now=START + 24 * HOUR + dt.timedelta(minutes=1)).sent == 0
    later = START + 44 * HOUR + dt.timedelta(minutes=1)
    assert batch_send(now=later).sent == 2  # people 2 and 3, counted on that day
    assert (quota_usage(now=later).used_24h, quota_usage(now=later).used_today) == (2, 2)


def test_a_lease_sweep_gives_back_exactly_the_reservations_of_its_claims(settings):
    settings.WHATSAPP_DAILY_LIMIT = 6
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    contacts, (first, second) = overlapping_campaigns(range(0, 6), range(3, 9), pool=9)
    before = list(QuotaReservation.objects.values_list("phone", "counted", "reserved_at"))
    # A batch that dies before sending. One round: each campaign's share of new people (0-2 and 3-5), then what
    # became free meanwhile (the first campaign's 3-5).
    claims = _claim_round(now=START, size=100, lease=Lease(now=START))
    assert len(claims) == 9 and quota_usage(now=START).used_24h == 6
    assert QuotaReservation.objects.count() == 9
    swept = recipients_expire_leases(now=START + dt.timedelta(minutes=11))
    assert swept == {"pending": 9, "unknown": 0}
    assert list(QuotaReservation.objects.values_list("phone", "counted", "reserved_at")) == before
    assert quota_usage(now=START).used_24h == 0


@pytest.mark.postgres
def test_concurrent_batch_processes_count_unique_phones_and_never_pass_the_limit(transactional_db, settings):
    """Four processes race over three overlapping campaigns; some people wrote to us. Counted at the sandbox."""
    from tests.campaigns.test_concurrency import batch_env, finish, start_batches
    from whatsapp.services import last_inbound_record

    settings.WHATSAPP_DAILY_LIMIT = 50
    contacts, campaigns = overlapping_campaigns(range(0, 80), range(40, 120), range(0, 120, 3), pool=120)
    wrote = {c.phone for c in contacts[::10]}  # in their customer-service window: never counted
    for phone in wrote:
        last_inbound_record(phone=phone, at=START - 3 * HOUR)
    with SandboxServer(webhook_url=None, app_secret="x", latency_ms=5) as sandbox:
        processes = start_batches(4, as_of=START, env=batch_env(sandbox))
        results = [finish(process) for process in processes]
    sent_to = Counter("+" + m["to"] for m in sandbox.accepted)
    counted = set(sent_to) - wrote
    assert len(counted) == 50  # the limit, in unique people, reached by the racing processes together
    assert sum(results[i]["sent"] for i in range(4)) == len(sandbox.accepted) > len(sent_to)
    assert max(Counter(m["tracker"] for m in sandbox.accepted).values()) == 1
    # Every message to a person already counted (or in their window) went out, in every campaign that has them.
    reachable = counted | wrote
    for campaign in campaigns:
        rows = Recipient.objects.filter(campaign=campaign)
        assert set(rows.filter(status=R.SENT).values_list("phone", flat=True)) == set(
            rows.filter(phone__in=reachable).values_list("phone", flat=True)
        )
        assert_counters_match_recount(campaign)
    assert quota_usage(now=START).used_24h == 50
    assert QuotaReservation.objects.count() == len(sandbox.accepted)
