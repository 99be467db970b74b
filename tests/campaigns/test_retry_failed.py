"""Retry failed (issue 13): only failures a resend can fix, attempts kept, closed campaigns only when reopened."""

import datetime as dt

import pytest

from audiences.models import Contact
from campaigns.models import Campaign, Recipient
from campaigns.retry import RetryRefused, campaign_retry_failed, retry_failed_any, retry_failed_plan
from campaigns.services import CampaignStateError, batch_send, campaign_cancel, campaign_resend_unknown
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.errors import WhatsAppError

pytestmark = pytest.mark.django_db
C = Campaign.Status
R = Recipient.Status
NOW = START + dt.timedelta(days=2)

# error code -> whether "Retry failed" requeues it
CODES = {
    130429: True,  # transient: throughput
    131049: True,  # later: no sooner than 24 h
    132015: True,  # paused the campaign (template paused), fixed since by the operator
    999_999: True,  # a code the table does not know
    None: True,  # a failure reported without a code
    131026: False,  # permanent: undeliverable
    130472: False,  # permanent: experiment
    131050: False,  # opt-out
}


def failed_campaign(*, unsubscribed_transient: bool = True, attempts: int = 5) -> Campaign:
    """A running campaign whose recipients all failed: one per code of CODES, plus an unsubscribed one (130429)."""
    campaign = running_campaign(len(CODES) + 1)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("position"))
    for row, code in zip(rows, [*CODES, 130429], strict=True):
        Recipient.objects.filter(pk=row.pk).update(
            status=R.FAILED, error_code=code, attempts=attempts, failed_at=NOW - dt.timedelta(hours=1)
        )
    if unsubscribed_transient:
        Contact.objects.filter(pk=rows[-1].contact_id).update(subscription=Contact.Subscription.UNSUBSCRIBED)
    Campaign.objects.filter(pk=campaign.pk).update(pending=0, failed=len(rows))
    campaign.refresh_from_db()
    return campaign


def test_only_failures_a_resend_can_fix_are_requeued_and_the_others_are_counted_by_reason():
    campaign = failed_campaign()
    plan = retry_failed_plan(campaign=campaign)
    assert (plan.failed, plan.retryable) == (9, 5)
    assert plan.not_retried == {"permanent": 2, "opt_out": 1, "unsubscribed": 1}
    assert plan.summary.startswith("Retry 5 of 9 failed: 4 will not be retried, because ")
    assert "131026" in plan.summary and "130472" in plan.summary and "131050" in plan.summary
    assert "unsubscribed" in plan.summary

    outcome = campaign_retry_failed(campaign=campaign, now=NOW)

    assert outcome.requeued == 5 and not outcome.reopened
    requeued = dict(Recipient.objects.filter(status=R.PENDING).values_list("error_code", "attempts"))
    assert set(requeued) == {code for code, retried in CODES.items() if retried}
    assert set(requeued.values()) == {5}  # attempts are kept, not reset to 0
    still_failed = Recipient.objects.filter(status=R.FAILED)
    assert sorted(still_failed.values_list("error_code", flat=True)) == [130429, 130472, 131026, 131050]
    assert still_failed.get(error_code=130429).contact.subscription == Contact.Subscription.UNSUBSCRIBED
    assert_counters_match_recount(campaign)


@pytest.mark.parametrize("code", list(CODES))
def test_the_button_check_agrees_with_the_plan_for_each_code_and_an_unsubscribed_contact(code):
    """retry_failed_any (the lifecycle button's one EXISTS) is retry_failed_plan(...).retryable > 0."""
    campaign = failed_campaign(unsubscribed_transient=False)
    Recipient.objects.filter(campaign=campaign).exclude(error_code=code).update(status=R.SENT)
    assert retry_failed_any(campaign=campaign) is CODES[code] is (retry_failed_plan(campaign=campaign).retryable > 0)
    Contact.objects.filter(campaign_recipients__campaign=campaign).update(
        subscription=Contact.Subscription.UNSUBSCRIBED
    )
    assert retry_failed_any(campaign=campaign) is False
    assert retry_failed_plan(campaign=campaign).retryable == 0


def test_a_131049_failure_comes_back_no_sooner_than_24_hours_after_it_failed():
    campaign = failed_campaign()
    campaign_retry_failed(campaign=campaign, now=NOW)
    later = Recipient.objects.get(error_code=131049)
    assert later.next_attempt_at == NOW - dt.timedelta(hours=1) + dt.timedelta(hours=24)
    assert Recipient.objects.get(error_code=130429, status=R.PENDING).next_attempt_at is None


def test_a_requeued_recipient_out_of_attempts_still_gets_exactly_one_more_send(settings, outbox):
    settings.SEND_MAX_ATTEMPTS = 5
    campaign = running_campaign(2)
    first, second = Recipient.objects.filter(campaign=campaign).order_by("position")
    Recipient.objects.filter(campaign=campaign).update(status=R.FAILED, error_code=130429, attempts=5)
    Campaign.objects.filter(pk=campaign.pk).update(pending=0, failed=2)
    campaign_retry_failed(campaign=campaign, now=NOW)
    LocmemBackend.script_errors({second.phone: WhatsAppError("busy", code=130429)})

    batch_send(now=NOW)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts) == (R.SENT, 6)
    # Refused again: it fails at once (no new back-off series), its 6th attempt counted.
    assert (second.status, second.attempts) == (R.FAILED, 6)
    assert [m["to"] for m in outbox].count(first.phone) == 1
    assert_counters_match_recount(campaign)


@pytest.mark.parametrize("closed", [C.COMPLETED, C.CANCELLED])
def test_a_closed_campaign_is_refused_unless_reopened_explicitly(closed):
    campaign = failed_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status=closed)
    assert retry_failed_plan(campaign=campaign).needs_reopen
    with pytest.raises(RetryRefused, match="reopened explicitly"):
        campaign_retry_failed(campaign=campaign, now=NOW)
    assert not Recipient.objects.filter(status=R.PENDING).exists()

    outcome = campaign_retry_failed(campaign=campaign, now=NOW, reopen=True)

    campaign.refresh_from_db()
    assert (outcome.requeued, outcome.reopened, campaign.status) == (5, True, C.RUNNING)
    # Sent for real, not stranded: the next batch claims them.
    batch_send(now=NOW + dt.timedelta(days=1))
    assert Recipient.objects.filter(status=R.SENT).count() == 5
    assert_counters_match_recount(campaign)


def test_a_cancelled_campaign_whose_end_has_passed_is_not_reopened():
    campaign = failed_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status=C.CANCELLED, end_at=NOW - dt.timedelta(minutes=1))
    with pytest.raises(RetryRefused, match="later end date"):
        campaign_retry_failed(campaign=campaign, now=NOW, reopen=True)
    campaign.refresh_from_db()
    assert campaign.status == C.CANCELLED and not Recipient.objects.filter(status=R.PENDING).exists()


def test_resend_unknown_is_refused_on_a_cancelled_campaign_instead_of_stranding_rows():
    campaign = running_campaign(2)
    Recipient.objects.filter(campaign=campaign).update(status=R.UNKNOWN)
    Campaign.objects.filter(pk=campaign.pk).update(pending=0, unknown=2)
    campaign_cancel(campaign=campaign, now=NOW)
    with pytest.raises(CampaignStateError, match="cancelled"):
        campaign_resend_unknown(campaign=campaign, now=NOW)
    assert not Recipient.objects.filter(status=R.PENDING).exists()
