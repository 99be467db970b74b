"""Claims that know their batch is alive (Promise 9), and any API answer recorded per row (Promise 1).

Sends are counted at a real local HTTP server (the sandbox), so a duplicate
cannot hide behind our own records; batches run as separate OS processes
where the promise is about several.
"""

import datetime as dt
import threading
import time
from collections import Counter

import pytest

from campaigns.batch import batch_send
from campaigns.leases import Lease, recipients_expire_leases
from campaigns.models import QuotaReservation, Recipient, SendLease
from campaigns.services import campaign_resend_unknown
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign, statuses
from tests.campaigns.test_concurrency import batch_env, finish, start_batches
from whatsapp.backends import reset_backend
from whatsapp.sandbox import SandboxServer

R = Recipient.Status


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- The lease itself ---------------------------------------------------------


@pytest.mark.django_db
def test_a_lease_is_renewed_every_tenth_and_held_only_while_renewals_succeed(settings):
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    clock = FakeClock()
    lease = Lease(now=START, monotonic=clock)
    clock.now = 59
    lease.renew_if_due()
    assert SendLease.objects.get(pk=lease.pk).renewed_at == START  # not due yet
    clock.now = 61
    lease.renew_if_due()
    assert SendLease.objects.get(pk=lease.pk).renewed_at == START + dt.timedelta(seconds=61)
    assert lease.held()
    clock.now = 61 + 299
    assert lease.held()
    clock.now = 61 + 300  # half the lease without a renewal: stop before anyone may sweep it
    assert not lease.held()


@pytest.mark.django_db
def test_a_lease_taken_back_by_the_sweep_is_lost_for_good(settings):
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    clock = FakeClock()
    lease = Lease(now=START, monotonic=clock)
    recipients_expire_leases(now=START + dt.timedelta(minutes=11))  # its holder looked dead
    clock.now = 61
    lease.renew_if_due()
    assert not lease.held()
    clock.now = 200
    lease.renew_if_due()
    assert not lease.held()


# --- A live batch keeps its claims ------------------------------------------------


def sweep_while(process, *, started: float) -> list[dict]:
    """Run the sweep every 0.2 s, on the batch's clock, until the batch process ends."""
    results = []
    while process.poll() is None:
        results.append(recipients_expire_leases(now=START + dt.timedelta(seconds=time.monotonic() - started)))
        time.sleep(0.2)
    return results


@pytest.mark.postgres
def test_a_batch_slower_than_its_lease_keeps_every_claim_and_resend_unknown_sends_no_phone_twice(
    transactional_db, settings
):
    settings.WHATSAPP_DAILY_LIMIT = 1000
    settings.SEND_CLAIM_LEASE_MINUTES = 0.05  # 3 s; the batch needs about 6
    campaign = running_campaign(40)
    with SandboxServer(webhook_url=None, app_secret="x", latency_ms=300) as slow:
        env = batch_env(slow, WHATSAPP_SEND_THREADS=2, SEND_CLAIM_LEASE_MINUTES=0.05)
        started = time.monotonic()
        (process,) = start_batches(1, as_of=START, env=env)
        sweeps = sweep_while(process, started=started)
        result = finish(process)
        elapsed = time.monotonic() - started
        assert elapsed > 2 * 3, "the batch must outlast its lease for this test to mean anything"
        assert len(sweeps) > 10 and all(s == {"pending": 0, "unknown": 0} for s in sweeps)
        assert result["sent"] == 40 and result["unknown"] == 0

        assert campaign_resend_unknown(campaign=campaign, now=START + dt.timedelta(minutes=1)) == 0
        (process,) = start_batches(1, as_of=START + dt.timedelta(minutes=1), env=env)
        assert finish(process)["sent"] == 0
    trackers = Counter(m["tracker"] for m in slow.accepted)
    assert len(trackers) == 40 and max(trackers.values()) == 1
    assert statuses(campaign) == {R.SENT: 40}
    assert_counters_match_recount(campaign)


@pytest.mark.postgres
def test_a_batch_whose_lease_was_taken_back_never_sends_a_row_it_no_longer_holds(transactional_db, settings):
    """The sweep takes the claims of a batch it believes dead (its clock says so); the batch is alive.

    What the sweep put back to pending is sent once, by the next batch; what
    it found in flight is unknown until the late answer records it as sent,
    so "Resend unknown" afterwards sends only what never went out.
    """
    settings.WHATSAPP_DAILY_LIMIT = 1000
    settings.SEND_CLAIM_LEASE_MINUTES = 0.05
    campaign = running_campaign(40)
    first_sends = threading.Event()
    with SandboxServer(webhook_url=None, app_secret="x", latency_ms=300) as slow:
        handle_send = slow.handle_send

        def counting(payload):
            answer = handle_send(payload)
            if len(slow.accepted) >= 4:
                first_sends.set()
            return answer

        slow.handle_send = counting
        env = batch_env(slow, WHATSAPP_SEND_THREADS=2, SEND_CLAIM_LEASE_MINUTES=0.05)
        (process,) = start_batches(1, as_of=START, env=env)
        assert first_sends.wait(timeout=60)
        taken = recipients_expire_leases(now=START + dt.timedelta(hours=1))
        returned = set(Recipient.objects.filter(status=R.PENDING).values_list("pk", flat=True))
        finish(process)
        assert taken["pending"] == len(returned) > 20
        first_run = {int(m["tracker"]) for m in slow.accepted}
        assert not returned & first_run  # not one row it no longer held
        # Late answers for rows the sweep had turned unknown recorded them as sent.
        assert set(Recipient.objects.filter(status=R.SENT).values_list("pk", flat=True)) == first_run

        campaign_resend_unknown(campaign=campaign, now=START + dt.timedelta(hours=1))
        (process,) = start_batches(1, as_of=START + dt.timedelta(hours=1), env=env)
        finish(process)
    trackers = Counter(int(m["tracker"]) for m in slow.accepted)
    assert len(trackers) == 40 and max(trackers.values()) == 1
    assert statuses(campaign) == {R.SENT: 40}
    assert QuotaReservation.objects.count() == 40
    assert_counters_match_recount(campaign)


# --- Any API answer is recorded per row ------------------------------------------


@pytest.fixture
def answering_sandbox(settings):
    """The Cloud API backend sending over HTTP to a sandbox whose message ids a test can replace."""
    with SandboxServer(webhook_url=None, app_secret="x") as server:
        settings.WHATSAPP_BACKEND = "whatsapp.backends.cloud.CloudAPIBackend"
        settings.WHATSAPP_API_BASE_URL = server.url
        settings.WHATSAPP_PHONE_NUMBER_ID = server.phone_number_id
        settings.WHATSAPP_SEND_THREADS = 4
        settings.WHATSAPP_MAX_MPS = 0
        reset_backend()
        yield server
    reset_backend()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "odd_id",
    [pytest.param(lambda n: "wamid.taken", id="one id for every send"), pytest.param(lambda n: "w" * 300, id="300")],
)
def test_odd_message_ids_make_their_rows_unknown_and_the_batch_completes(transactional_db, answering_sandbox, odd_id):
    campaign = running_campaign(12)
    new_message_id = answering_sandbox.new_message_id
    count = iter(range(1000))

    def every_third_odd(to: str) -> str:
        n = next(count)
        return odd_id(n) if n % 3 == 0 else new_message_id(to)

    answering_sandbox.new_message_id = every_third_odd
    result = batch_send(now=START)

    assert len(answering_sandbox.accepted) == 12  # every send went out once; nothing aborted
    counts = statuses(campaign)
    odd = Recipient.objects.filter(campaign=campaign, status=R.UNKNOWN)
    usable_once = 1 if odd_id(0) == "wamid.taken" else 0  # the first row answered "wamid.taken" keeps it
    assert counts == {R.SENT: 8 + usable_once, R.UNKNOWN: 4 - usable_once}
    assert result.sent == 8 + usable_once and result.unknown == 4 - usable_once
    assert all(odd_id(0)[:50] in row.error_details and row.message_id is None for row in odd)
    assert_counters_match_recount(campaign)

    assert campaign_resend_unknown(campaign=campaign, now=START) == 4 - usable_once  # the operator's call
