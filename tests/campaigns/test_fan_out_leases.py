"""Fan-out keeps the lease rules (Promise 9): chunk leases made by the batch, taken by the send tasks.

The tasks are captured instead of queued, then run here (the locmem backend
behind the asynchronous sender), so each rule is checked step by step; the
real workers are in test_fan_out.py.
"""

import datetime as dt

import pytest

from campaigns import tasks
from campaigns.batch import batch_send
from campaigns.leases import recipients_expire_leases
from campaigns.models import QuotaReservation, Recipient, SendLease
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign, statuses

R = Recipient.Status
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch, settings):
    """The send tasks the batch queued, as (args) lists, not run."""
    settings.SEND_CHUNK_SIZE = 10
    settings.SEND_FAN_OUT_BACKLOG = 100
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    settings.WHATSAPP_MAX_MPS = 0
    captured = []
    monkeypatch.setattr(tasks.send_chunk_task, "apply_async", lambda args: captured.append(args) or None)
    return captured


def test_the_batch_hands_each_chunk_its_own_lease_and_its_own_end_returns_none_of_them(queued, outbox):
    campaign = running_campaign(25)
    result = batch_send(now=START, fan_out=True, wait=False)
    assert [len(args[3]) for args in queued] == [10, 10, 5]
    assert result.sent == 0 and not outbox
    assert statuses(campaign) == {R.QUEUED: 25}  # the batch ended: its chunks' rows stay theirs
    chunk_ids = {args[0] for args in queued}
    assert set(Recipient.objects.values_list("lease_id", flat=True)) == chunk_ids
    assert set(SendLease.objects.values_list("pk", flat=True)) == chunk_ids  # the batch's own lease is gone
    assert_counters_match_recount(campaign)


def test_tasks_lost_before_a_worker_took_them_give_their_rows_back_with_their_quota(queued, outbox):
    campaign = running_campaign(25)
    batch_send(now=START, fan_out=True, wait=False)
    swept = recipients_expire_leases(now=START + dt.timedelta(minutes=11))
    assert swept == {"pending": 25, "unknown": 0}
    assert statuses(campaign) == {R.PENDING: 25} and not QuotaReservation.objects.exists()
    assert_counters_match_recount(campaign)


def test_a_send_task_sends_its_chunk_once_and_a_redelivered_one_sends_nothing(queued, outbox):
    campaign = running_campaign(25)
    batch_send(now=START, fan_out=True, wait=False)
    results = [tasks.send_chunk_task(*args) for args in queued]
    assert [r["sent"] for r in results] == [10, 10, 5]
    assert tasks.send_chunk_task(*queued[0])["sent"] == 0  # the same message again: its lease is gone
    assert sorted(int(m["tracker"]) for m in outbox) == sorted(campaign.recipients.values_list("pk", flat=True))
    assert statuses(campaign) == {R.SENT: 25} and QuotaReservation.objects.count() == 25
    assert not SendLease.objects.exists()
    assert_counters_match_recount(campaign)


def test_a_chunk_that_waited_half_a_lease_in_the_queue_is_given_back_not_sent(queued, outbox):
    campaign = running_campaign(10)
    batch_send(now=START, fan_out=True, wait=False)
    (args,) = queued
    args = [args[0], (START + dt.timedelta(minutes=6)).isoformat(), args[2], args[3]]  # lease: 10 min
    assert tasks.send_chunk_task(*args)["sent"] == 0
    assert not outbox
    assert statuses(campaign) == {R.PENDING: 10} and not QuotaReservation.objects.exists()
    assert_counters_match_recount(campaign)


def test_the_task_looks_again_while_the_workers_backlog_is_full(queued, settings, outbox):
    settings.SEND_FAN_OUT_BACKLOG = 2
    running_campaign(50)
    result = batch_send(now=START, fan_out=True, wait=False)
    assert len(queued) == 2  # two chunks waiting for a worker: no more claims
    assert result.continue_at == START + dt.timedelta(seconds=10)
