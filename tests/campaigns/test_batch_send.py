"""The send batch: quota-bound, fair, claim-before-send, every error kind, never stranded, completion."""

import datetime as dt
import json

import pytest
from django.core.management import call_command

from audiences.models import Contact
from audiences.services import contact_unsubscribe
from campaigns import lifecycle
from campaigns.batch import batch_send
from campaigns.models import Campaign, QuotaReservation, Recipient
from campaigns.services import campaign_resend_unknown
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign, statuses
from tests.factories.campaigns import CampaignFactory, RecipientFactory
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import WhatsAppError

pytestmark = pytest.mark.django_db
R = Recipient.Status
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.WHATSAPP_DAILY_LIMIT = 10
    settings.WHATSAPP_MAX_MPS = 0
    settings.SEND_MAX_ATTEMPTS = 3


def test_batch_sends_in_position_order_with_the_recipient_id_as_tracker(outbox):
    campaign = running_campaign(3)
    result = batch_send(now=START)
    assert result.sent == 3
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("position"))
    assert [m["to"] for m in outbox] == [r.phone for r in rows]
    assert [m["tracker"] for m in outbox] == [str(r.pk) for r in rows]
    assert all(r.status == R.SENT and r.message_id and r.sent_at == START for r in rows)
    assert [m["components"][-1]["parameters"][1]["text"] for m in outbox] == ["20%"] * 3
    assert_counters_match_recount(campaign)


def test_parameters_are_resolved_per_recipient_at_send_time(outbox):
    running_campaign(1)
    Contact.objects.update(attributes={"city": "Lisbon"}, first_name="Ana")
    batch_send(now=START)
    header, body = outbox[0]["components"]
    assert header == {"type": "header", "parameters": [{"type": "text", "text": "Ana"}]}
    assert body["parameters"][0]["text"] == "Lisbon"


def test_claim_and_quota_are_committed_before_the_api_call(monkeypatch):
    campaign = running_campaign(2)
    seen = []
    real = LocmemBackend.send_template

    def spy(self, to, *args, **kwargs):
        row = Recipient.objects.get(campaign=campaign, phone=to)
        seen.append((row.status, QuotaReservation.objects.filter(recipient=row).count()))
        return real(self, to, *args, **kwargs)

    monkeypatch.setattr(LocmemBackend, "send_template", spy)
    batch_send(now=START)
    assert seen == [(R.QUEUED, 1), (R.QUEUED, 1)]


def test_never_more_than_the_limit_in_a_window_or_a_day(outbox):
    running_campaign(25)
    assert batch_send(now=START).sent == 10
    assert batch_send(now=START + HOUR).sent == 0
    assert batch_send(now=START + DAY - dt.timedelta(seconds=1)).sent == 0
    # a send at exactly now - 24 h no longer counts
    result = batch_send(now=START + DAY)
    assert (result.sent, result.used_24h, result.left) == (10, 10, 0)


def test_a_new_calendar_day_does_not_reset_the_moving_window(outbox):
    running_campaign(25, now=START - 2 * DAY)
    late = START.replace(hour=23, minute=30) - DAY  # yesterday 23:30
    assert batch_send(now=late).sent == 10
    assert batch_send(now=START.replace(hour=0, minute=10)).sent == 0  # a new day, but the window is full
    assert batch_send(now=late + DAY + dt.timedelta(minutes=10)).sent == 10  # the window has room again
    assert batch_send(now=late + DAY + dt.timedelta(minutes=20)).sent == 0  # and the day is full


def test_equal_priorities_share_the_limit_and_a_daily_cap_is_honoured(outbox):
    a = running_campaign(20)
    b = running_campaign(20)
    c = running_campaign(20, daily_cap=2)
    result = batch_send(now=START)
    assert result.campaigns == {a.pk: 4, b.pk: 4, c.pk: 2}


def test_recipients_whose_estimated_date_passed_stay_eligible(outbox):
    campaign = running_campaign(3)
    Recipient.objects.filter(campaign=campaign).update(estimated_send_date=dt.date(2020, 1, 1))
    assert batch_send(now=START + 30 * DAY).sent == 3


def test_an_unsubscribed_contact_is_skipped_never_sent(outbox):
    campaign = running_campaign(3)
    victim = Recipient.objects.filter(campaign=campaign).order_by("position").first()
    contact_unsubscribe(phone=victim.phone, reason="keyword", at=START)
    result = batch_send(now=START)
    assert result.sent == 2 and result.skipped == 1
    assert victim.phone not in [m["to"] for m in outbox]
    assert Recipient.objects.get(pk=victim.pk).status == R.SKIPPED
    assert_counters_match_recount(campaign)


def test_a_scheduled_campaign_starts_when_its_start_comes(outbox):
    campaign = running_campaign(2, now=START - DAY, start_at=START)
    assert campaign.status == Campaign.Status.SCHEDULED
    assert batch_send(now=START - HOUR).sent == 0
    assert batch_send(now=START).sent == 2
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_a_campaign_completes_when_nothing_is_pending_and_expires_at_its_end(outbox, settings):
    settings.WHATSAPP_DAILY_LIMIT = 2
    done = running_campaign(2)
    ending = running_campaign(6, end_at=START + DAY)
    batch_send(now=START)
    done.refresh_from_db()
    assert done.status == Campaign.Status.RUNNING  # shared the limit: one each
    batch_send(now=START + DAY)
    done.refresh_from_db()
    ending.refresh_from_db()
    assert done.status == Campaign.Status.COMPLETED
    assert ending.status == Campaign.Status.COMPLETED
    assert statuses(ending) == {R.SENT: 1, R.CANCELLED: 5}
    assert_counters_match_recount(ending)


# --- error kinds -------------------------------------------------------------


def error(code, http_status=400, **kw):
    return WhatsAppError("boom", code=code, title="Title", details="details", http_status=http_status, **kw)


def only_recipient(campaign):
    return Recipient.objects.get(campaign=campaign)


def test_transient_errors_back_off_then_fail_at_max_attempts():
    campaign = running_campaign(1)
    LocmemBackend.script_errors({only_recipient(campaign).phone: error(130429, 429)})
    result = batch_send(now=START)
    assert result.retry_later == 1
    row = only_recipient(campaign)
    assert (row.status, row.attempts, row.next_attempt_at) == (R.PENDING, 1, START + dt.timedelta(minutes=1))
    assert row.error_code == 130429
    assert QuotaReservation.objects.count() == 0  # refused before accepting: quota given back
    assert result.continue_at == START + dt.timedelta(minutes=1)
    assert batch_send(now=START + dt.timedelta(seconds=30)).retry_later == 0  # not due yet
    batch_send(now=START + dt.timedelta(minutes=1))
    assert only_recipient(campaign).attempts == 2
    result = batch_send(now=START + dt.timedelta(minutes=3))
    row = only_recipient(campaign)
    assert (result.failed, row.status, row.attempts) == (1, R.FAILED, 3)
    assert_counters_match_recount(campaign)


def test_131049_retries_no_sooner_than_24_hours():
    campaign = running_campaign(1)
    LocmemBackend.script_errors({only_recipient(campaign).phone: error(131049)})
    batch_send(now=START)
    row = only_recipient(campaign)
    assert (row.status, row.next_attempt_at) == (R.PENDING, START + DAY)


def test_stop_campaign_errors_pause_the_campaign_and_release_the_rest_of_its_claim(outbox):
    campaign = running_campaign(4)
    other = running_campaign(2)
    LocmemBackend.queue_errors(error(131031, 403))
    result = batch_send(now=START)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "Error 131031" in campaign.pause_reason
    assert statuses(campaign) == {R.PENDING: 4}
    assert result.paused == {campaign.pk: campaign.pause_reason}
    assert QuotaReservation.objects.filter(campaign=campaign).count() == 0
    assert statuses(other) == {R.SENT: 2}
    assert_counters_match_recount(campaign)


def test_permanent_errors_fail_the_recipient_for_good():
    campaign = running_campaign(1)
    LocmemBackend.script_errors({only_recipient(campaign).phone: error(131026)})
    assert batch_send(now=START).failed == 1
    row = only_recipient(campaign)
    assert row.status == R.FAILED and row.error_reason == "Error 131026: Title - boom (details)"
    LocmemBackend.reset()
    assert batch_send(now=START + DAY).sent == 0


def test_131050_fails_and_unsubscribes_the_contact():
    campaign = running_campaign(1)
    row = only_recipient(campaign)
    LocmemBackend.script_errors({row.phone: error(131050)})
    batch_send(now=START)
    assert only_recipient(campaign).status == R.FAILED
    contact = Contact.objects.get(phone=row.phone)
    assert contact.subscription == Contact.Subscription.UNSUBSCRIBED
    assert contact.subscription_reason == "api_error_131050"


def test_an_unknown_outcome_is_never_resent_automatically_only_on_purpose(outbox):
    from whatsapp.errors import ErrorKind

    campaign = running_campaign(1)
    LocmemBackend.script_errors({only_recipient(campaign).phone: error(None, None, kind=ErrorKind.UNKNOWN_OUTCOME)})
    assert batch_send(now=START).unknown == 1
    LocmemBackend.reset()
    for day in range(1, 4):
        assert batch_send(now=START + day * DAY).sent == 0
    assert only_recipient(campaign).status == R.UNKNOWN
    assert QuotaReservation.objects.count() == 1  # it may have gone out: its quota stays spent
    assert campaign_resend_unknown(campaign=campaign, now=START + 4 * DAY) == 1
    assert batch_send(now=START + 4 * DAY).sent == 1
    assert len(outbox) == 1
    assert_counters_match_recount(campaign)


def test_claims_of_a_batch_that_died_in_flight_become_unknown_and_the_never_sent_pending_again(settings, outbox):
    settings.SEND_CLAIM_LEASE_MINUTES = 10
    campaign = running_campaign(2)
    in_flight = RecipientFactory(campaign=campaign, status=R.QUEUED, claimed_at=START, dispatched_at=START, position=98)
    never_sent = RecipientFactory(campaign=campaign, status=R.QUEUED, claimed_at=START, position=99)
    QuotaReservation.objects.create(recipient=in_flight, campaign=campaign, reserved_at=START, day=START.date())
    QuotaReservation.objects.create(recipient=never_sent, campaign=campaign, reserved_at=START, day=START.date())
    Campaign.objects.filter(pk=campaign.pk).update(total=4, queued=2)
    batch_send(now=START + dt.timedelta(minutes=5))
    assert Recipient.objects.get(pk=in_flight.pk).status == R.QUEUED  # the lease has not run out
    assert Recipient.objects.get(pk=never_sent.pk).status == R.QUEUED
    batch_send(now=START + dt.timedelta(minutes=11))
    assert Recipient.objects.get(pk=in_flight.pk).status == R.UNKNOWN  # may have gone out: never resent
    assert Recipient.objects.get(pk=never_sent.pk).status == R.SENT  # never left: pending again, then sent
    assert in_flight.phone not in [message["to"] for message in outbox]
    # The in-flight claim keeps its quota; the never-sent one gave its claim's back and reserved anew.
    assert QuotaReservation.objects.filter(recipient=in_flight).count() == 1
    assert list(QuotaReservation.objects.filter(recipient=never_sent).values_list("reserved_at", flat=True)) == [
        START + dt.timedelta(minutes=11)
    ]
    assert_counters_match_recount(campaign)


def test_every_send_attempt_counts_once_whatever_its_outcome(settings, outbox):
    """`attempts` is what the failures export and the recipient list show: how many sends were tried."""
    from whatsapp.errors import ErrorKind

    settings.SEND_CLAIM_LEASE_MINUTES = 10
    campaign = running_campaign(4)
    ok, retried, unanswered, failed_later = Recipient.objects.filter(campaign=campaign).order_by("position")
    died = RecipientFactory(campaign=campaign, status=R.QUEUED, claimed_at=START, dispatched_at=START, position=99)
    Campaign.objects.filter(pk=campaign.pk).update(total=5, queued=1)
    LocmemBackend.script_errors(
        {retried.phone: error(130429, 429), unanswered.phone: error(None, None, kind=ErrorKind.UNKNOWN_OUTCOME)}
    )
    batch_send(now=START)
    LocmemBackend.reset()
    batch_send(now=START + dt.timedelta(minutes=11))  # the retry is due; the dead batch's lease is over
    lifecycle.recipient_advance(
        recipient_id=failed_later.pk, status=R.FAILED, at=START + HOUR, error={"error_code": 131026}
    )  # the webhook's "failed" after the send was accepted

    rows = Recipient.objects.filter(campaign=campaign)
    assert {r.pk: (r.status, r.attempts) for r in rows} == {
        ok.pk: (R.SENT, 1),
        retried.pk: (R.SENT, 2),
        unanswered.pk: (R.UNKNOWN, 1),
        failed_later.pk: (R.FAILED, 1),
        died.pk: (R.UNKNOWN, 1),
    }
    assert_counters_match_recount(campaign)


def test_the_migration_counts_the_sends_made_before_attempts_counted_them():
    from importlib import import_module

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    backfill = import_module("campaigns.migrations.0008_recipient_attempts_backfill").backfill
    campaign = CampaignFactory()
    before = {  # (status, attempts, message id) as the old code left them -> attempts now
        (R.SENT, 0, "wamid.1"): 1,
        (R.READ, 0, "wamid.2"): 1,
        (R.SENT, 2, "wamid.3"): 3,  # two refusals, then accepted
        (R.UNKNOWN, 0, None): 1,
        (R.FAILED, 0, "wamid.4"): 1,  # failed by the webhook after it was accepted
        (R.FAILED, 3, None): 3,  # refused three times: each counted already
        (R.PENDING, 1, None): 1,
        (R.SKIPPED, 0, None): 0,
    }
    rows = {
        RecipientFactory(campaign=campaign, status=status, attempts=attempts, message_id=message_id).pk: expected
        for (status, attempts, message_id), expected in before.items()
    }
    state = MigrationExecutor(connection).loader.project_state(("campaigns", "0008_recipient_attempts_backfill"))
    backfill(state.apps, None)
    assert dict(Recipient.objects.values_list("pk", "attempts")) == rows


def test_send_batch_command_prints_one_json_object_as_of_an_instant(capsys, outbox):
    campaign = running_campaign(3)
    call_command("send_batch", "--as-of", "2026-03-02T09:00:00+00:00", "--json")
    data = json.loads(capsys.readouterr().out)
    assert {
        k: data[k] for k in ("sent", "failed", "retry_later", "unknown", "skipped", "limit", "used_24h", "left")
    } == {
        "sent": 3,
        "failed": 0,
        "retry_later": 0,
        "unknown": 0,
        "skipped": 0,
        "limit": 10,
        "used_24h": 3,
        "left": 7,
    }
    assert data["campaigns"] == {str(campaign.pk): 3}
    assert Recipient.objects.filter(sent_at=START).count() == 3


def test_continuation_when_the_window_is_full_but_the_days_plan_is_not(outbox):
    running_campaign(30, now=START - 2 * DAY)
    assert batch_send(now=START + dt.timedelta(minutes=4) - DAY).sent == 10  # yesterday 09:04
    result = batch_send(now=START)  # today 09:00: yesterday's 10 are still in the window
    assert (result.sent, result.left) == (0, 0)
    assert result.continue_at == START + dt.timedelta(minutes=4)
    assert batch_send(now=result.continue_at).sent == 10


def test_a_contact_unsubscribing_mid_campaign_is_skipped_never_sent(outbox, settings):
    settings.WHATSAPP_DAILY_LIMIT = 2
    campaign = running_campaign(4)
    assert batch_send(now=START).sent == 2
    later = Recipient.objects.filter(campaign=campaign, status=R.PENDING).order_by("position").first()
    contact_unsubscribe(phone=later.phone, reason="keyword", at=START + HOUR)
    result = batch_send(now=START + DAY)
    assert (result.sent, result.skipped) == (1, 1)
    assert later.phone not in [m["to"] for m in outbox]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert_counters_match_recount(campaign)
