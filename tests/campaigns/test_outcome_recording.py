"""Accepted sends are recorded many per transaction, by the batch's own thread, with the rules of one at a time."""

import datetime as dt

import pytest

from campaigns import lifecycle
from campaigns.batch import batch_send
from campaigns.models import CampaignDay, QuotaReservation, Recipient
from campaigns.quota import local_day
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign, statuses

R = Recipient.Status
LATER = START + dt.timedelta(seconds=30)


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.WHATSAPP_DAILY_LIMIT = 1000
    settings.WHATSAPP_MAX_MPS = 0


@pytest.mark.django_db
def test_many_accepted_sends_follow_the_precedence_rule_like_one_at_a_time():
    campaign = running_campaign(5)
    queued, unknown, delivered, pending, sent = Recipient.objects.filter(campaign=campaign).order_by("position")
    lifecycle.recipients_move(campaign_id=campaign.pk, ids=[queued.pk, unknown.pk, delivered.pk, sent.pk],
                              old=R.PENDING, new=R.QUEUED)  # fmt: skip
    lifecycle.recipient_advance(recipient_id=unknown.pk, status=R.UNKNOWN, at=START)
    # The webhook was faster than the batch's writer: delivered (by tracker), no message id yet.
    lifecycle.recipient_advance(recipient_id=delivered.pk, status=R.DELIVERED, at=START)
    lifecycle.recipient_advance(recipient_id=sent.pk, status=R.SENT, at=START, message_id="wamid.first")

    moved = lifecycle.recipients_advance(
        message_ids={queued.pk: "wamid.q", unknown.pk: "wamid.u", delivered.pk: "wamid.d", sent.pk: "wamid.again",
                     pending.pk: "wamid.p", 10**9: "wamid.gone"},
        status=R.SENT,
        at=LATER,
    )  # fmt: skip

    assert moved == 3  # queued, unknown and pending move; delivered ranks higher; sent already was
    rows = {r.pk: r for r in Recipient.objects.filter(campaign=campaign)}
    assert (rows[queued.pk].status, rows[queued.pk].message_id, rows[queued.pk].sent_at) == (R.SENT, "wamid.q", LATER)
    assert (rows[unknown.pk].status, rows[unknown.pk].message_id) == (R.SENT, "wamid.u")
    assert (rows[delivered.pk].status, rows[delivered.pk].message_id) == (R.DELIVERED, "wamid.d")
    assert rows[delivered.pk].sent_at == START  # the earliest timestamp wins
    assert (rows[sent.pk].message_id, rows[sent.pk].sent_at) == ("wamid.first", START)  # never overwritten
    # One attempt each, counted when the row left queued, whichever outcome came first.
    assert {pk: row.attempts for pk, row in rows.items()} == {
        queued.pk: 1, unknown.pk: 1, delivered.pk: 1, sent.pk: 1, pending.pk: 0,
    }  # fmt: skip
    assert_counters_match_recount(campaign)
    day = CampaignDay.objects.get(campaign=campaign, day=local_day(LATER))
    assert day.sent == 2 + 3  # the delivered one and the first send, then the three that moved now


@pytest.mark.django_db(transaction=True)
def test_a_threaded_batch_records_every_accepted_send_with_its_message_id(settings, outbox, monkeypatch):
    settings.WHATSAPP_SEND_THREADS = 8
    calls = []

    def counting(original):
        def record(**kwargs):
            calls.append(len(kwargs["message_ids"]))
            return original(**kwargs)

        return record

    # queued -> sent many rows per statement, anything else by the precedence rule: each send counted once.
    for name in ("recipients_advance", "recipients_record_accepted"):
        monkeypatch.setattr(lifecycle, name, counting(getattr(lifecycle, name)))
    campaign = running_campaign(150)
    result = batch_send(now=START)

    assert result.sent == 150 == len(outbox)
    assert statuses(campaign) == {R.SENT: 150}
    rows = Recipient.objects.filter(campaign=campaign)
    by_tracker = {m["tracker"]: m for m in outbox}
    assert all(r.message_id and r.sent_at == START and str(r.pk) in by_tracker for r in rows)
    assert len(set(rows.values_list("message_id", flat=True))) == 150
    assert sum(calls) == 150  # each accepted send recorded once, by the batch's thread
    assert_counters_match_recount(campaign)
    assert CampaignDay.objects.get(campaign=campaign, day=local_day(START)).sent == 150


@pytest.mark.django_db(transaction=True)
def test_when_recording_fails_the_round_stops_only_in_flight_rows_stay_claimed_and_nothing_is_sent_twice(
    settings, outbox, monkeypatch
):
    settings.WHATSAPP_SEND_THREADS = 4
    settings.WHATSAPP_MAX_MPS = 100  # 0.4 s for the 40: the writer fails long before
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    campaign = running_campaign(40)

    def database_gone(**kwargs):
        raise RuntimeError("database gone")

    for name in ("recipients_advance", "recipients_record_accepted"):  # every way an answer is recorded
        monkeypatch.setattr(lifecycle, name, database_gone)
    with pytest.raises(RuntimeError, match="database gone"):
        batch_send(now=START)
    monkeypatch.undo()

    sent_once = len(outbox)
    assert 1 <= sent_once < 40  # the senders stopped taking claims
    counts = statuses(campaign)
    # Only what was handed to the network stays queued (one sub-chunk per thread, at most two in a row);
    # the rest never left and is pending again at once, with its quota.
    assert sent_once <= counts[R.QUEUED] <= 2 * settings.WHATSAPP_SEND_THREADS
    assert counts[R.PENDING] == 40 - counts[R.QUEUED]
    assert QuotaReservation.objects.count() == counts[R.QUEUED]
    in_flight = set(Recipient.objects.filter(status=R.QUEUED).values_list("pk", flat=True))
    later = START + dt.timedelta(minutes=11)
    result = batch_send(now=later)  # the lease ran out: in flight -> unknown, never resent
    assert result.sent == 40 - len(in_flight)
    trackers = [int(message["tracker"]) for message in outbox]
    assert len(trackers) == len(set(trackers))  # nothing sent twice
    assert not in_flight & set(trackers[sent_once:])
    assert statuses(campaign) == {R.UNKNOWN: len(in_flight), R.SENT: 40 - len(in_flight)}
    assert_counters_match_recount(campaign)
