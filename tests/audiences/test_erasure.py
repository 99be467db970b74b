"""Promise 11: contacts are erased (anonymised, suppression kept), never cascaded away; counters equal a recount.

The tests marked `postgres` reproduce issue 12's finding 2 against a real
HTTP server (the Cloud API sandbox) that counts every send.
"""

import datetime as dt
import io
from collections import Counter

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.urls import reverse

from audiences.erasure import contact_erase, erased_phone, erased_phone_sql
from audiences.models import Contact, Suppression
from audiences.services import contact_resubscribe, contact_unsubscribe, contacts_import
from campaigns.batch import batch_send
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_activate, campaign_retry_failed, campaign_top_up
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.users import UserFactory
from whatsapp.backends.locmem import LocmemBackend

pytestmark = pytest.mark.django_db
R = Recipient.Status
Reason = Contact.SubscriptionReason
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.WHATSAPP_DAILY_LIMIT = 2
    settings.WHATSAPP_MAX_MPS = 0
    LocmemBackend.reset()
    yield
    LocmemBackend.reset()


def sent_to(sandbox) -> Counter:
    return Counter("+" + message["to"] for message in sandbox.accepted)


def reimport(*phones: str, tag: str = "spring") -> None:
    rows = "".join(f"{phone},Someone,yes,{tag}\n" for phone in phones)
    result = contacts_import(file=io.BytesIO(f"phone,name,subscribed,tags\n{rows}".encode()), now=START + DAY)
    assert result.invalid == []


def in_position_order(campaign: Campaign) -> list[Recipient]:
    return list(Recipient.objects.filter(campaign=campaign).order_by("position"))


# --- The service ------------------------------------------------------------------------------------------------


def test_erasure_anonymises_the_rows_cancels_the_unsent_and_keeps_the_counters_equal_to_a_recount():
    campaign = running_campaign(4)
    batch_send(now=START)  # positions 0 and 1 sent
    sent, _, pending, _ = in_position_order(campaign)
    for row in (sent, pending):
        contact_erase(contact=row.contact, now=START + DAY, by=None)

    sent_row, pending_row = Recipient.objects.get(pk=sent.pk), Recipient.objects.get(pk=pending.pk)
    assert (sent_row.status, pending_row.status) == (R.SENT, R.CANCELLED)
    assert (sent_row.phone, pending_row.phone) == (erased_phone(sent.phone), erased_phone(pending.phone))
    assert len(sent_row.phone) == 65 and sent_row.phone.startswith("#")
    assert (sent_row.contact_id, pending_row.contact_id) == (None, None)
    assert (sent_row.message_id, pending_row.message_id) == (f"erased:{sent.pk}", None)
    assert sent_row.sent_at == sent.sent_at  # what happened, and when, is kept
    assert not Contact.objects.filter(phone__in=[sent.phone, pending.phone]).exists()
    assert set(Suppression.objects.values_list("phone", "reason")) == {
        (sent.phone, Reason.ERASURE),
        (pending.phone, Reason.ERASURE),
    }
    assert_counters_match_recount(campaign)


def test_erasure_hashes_the_quota_ledgers_phones_and_the_limit_still_counts_them_once():
    from campaigns.models import QuotaReservation
    from campaigns.quota import quota_usage
    from whatsapp.models import LastInbound
    from whatsapp.services import last_inbound_record

    campaign = running_campaign(3)
    batch_send(now=START)  # positions 0 and 1 sent
    sent = in_position_order(campaign)[0]
    last_inbound_record(phone=sent.phone, at=START)
    contact_erase(contact=sent.contact, now=START + dt.timedelta(hours=1), by=None)
    assert not QuotaReservation.objects.filter(phone=sent.phone).exists()
    assert QuotaReservation.objects.filter(phone=erased_phone(sent.phone)).count() == 1
    assert not LastInbound.objects.filter(phone=sent.phone).exists()
    assert quota_usage(now=START + dt.timedelta(hours=1)).used_24h == 2


def test_an_erased_number_opting_in_and_imported_again_is_never_added_twice_to_a_campaign():
    campaign = running_campaign(2, tag="spring")
    batch_send(now=START)
    first = in_position_order(campaign)[0]
    contact_erase(contact=first.contact, now=START, by=None)
    reimport(first.phone)
    assert Contact.objects.get(phone=first.phone).subscription == Contact.Subscription.UNSUBSCRIBED
    assert contact_resubscribe(phone=first.phone, reason=Reason.KEYWORD, at=START + DAY)  # START from that number
    assert Contact.objects.get(phone=first.phone).is_subscribed

    assert campaign_top_up(campaign=campaign, now=START + DAY).recipients_added == 0
    fresh = CampaignFactory(audience=campaign.audience, start_at=START)
    assert campaign_activate(campaign=fresh, now=START + DAY).recipients_added == 2  # another campaign may


def test_erasure_is_logged_without_naming_the_person(admin_client):
    operator = UserFactory()
    ann = ContactFactory(name="Ann Lee", phone="+14155550123")
    admin_client.post(
        reverse("admin:audiences_contact_changelist"),
        {"action": "unsubscribe_selected", ACTION_CHECKBOX_NAME: [ann.pk], "confirm": "yes"},
    )
    contact_erase(contact=ann, now=START, by=operator)
    entries = LogEntry.objects.filter(object_id=str(ann.pk)).order_by("action_time")
    assert [e.object_repr for e in entries] == [f"erased contact #{ann.pk}"] * 2
    erasure = entries.get(user=operator)
    assert erasure.is_deletion() and erasure.action_time == START
    assert not any("Ann" in e.object_repr or "555" in e.object_repr for e in LogEntry.objects.all())


def test_a_delete_that_bypasses_the_erasure_no_longer_cascades(settings):
    campaign = running_campaign(2)
    row = in_position_order(campaign)[0]
    Contact.objects.filter(pk=row.contact_id).delete()
    orphan = Recipient.objects.get(pk=row.pk)
    assert orphan.contact_id is None and orphan.phone == row.phone
    result = batch_send(now=START)  # nobody to send to: skipped, the campaign completes
    assert (result.sent, result.skipped) == (1, 1)
    assert_counters_match_recount(campaign)


def test_an_erased_row_brought_back_to_pending_is_skipped_never_sent():
    from campaigns import lifecycle

    campaign = running_campaign(1)
    row = Recipient.objects.get(campaign=campaign)
    lifecycle.recipients_move(campaign_id=campaign.pk, ids=[row.pk], old=R.PENDING, new=R.QUEUED)
    lifecycle.recipients_move(campaign_id=campaign.pk, ids=[row.pk], old=R.QUEUED, new=R.FAILED, failed_at=START)
    contact_erase(contact=row.contact, now=START, by=None)
    campaign_retry_failed(campaign=campaign, now=START)
    assert (batch_send(now=START).sent, LocmemBackend.outbox) == (0, [])
    assert Recipient.objects.get(pk=row.pk).status == R.SKIPPED
    assert_counters_match_recount(campaign)


# --- The admin: delete is erasure, with a confirmation page that says what is kept ----------------------------------


def test_the_delete_confirmation_says_what_is_kept_and_what_is_removed(admin_client):
    ann = ContactFactory()
    single = admin_client.get(reverse("admin:audiences_contact_delete", args=[ann.pk])).content.decode()
    bulk = admin_client.post(
        reverse("admin:audiences_contact_changelist"), {"action": "delete_selected", ACTION_CHECKBOX_NAME: [ann.pk]}
    ).content.decode()
    for page in (single, bulk):
        assert "Deleting a contact erases it" in page
        assert "suppression list" in page and "keyed hash" in page and "counters" in page
        assert "Removed:" in page and "Kept:" in page
    assert Contact.objects.filter(pk=ann.pk).exists()  # nothing happens until confirmed


# --- Finding 2 on PostgreSQL, sends counted at the sandbox ----------------------------------------------------------


@pytest.mark.postgres
def test_erased_phone_is_computed_alike_in_sql_and_python():
    expression, params = erased_phone_sql("%s")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {expression}", [*params, "+14155550123"])  # noqa: S608 (the code's own expression)
        assert cursor.fetchone()[0] == erased_phone("+14155550123")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_erasure_keeps_counters_equal_to_a_recount_and_the_phone_is_never_sent_again(cloud_sandbox, admin_client):
    campaign = running_campaign(4, tag="spring")
    assert batch_send(now=START).sent == 2
    assert cloud_sandbox.wait_idle(timeout=30)
    sent, _, pending, last = in_position_order(campaign)
    url = reverse("admin:audiences_contact_changelist")
    data = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [sent.contact_id, pending.contact_id]}
    response = admin_client.post(url, {**data, "post": "yes"}, follow=True)
    assert "2 contact(s) erased: 2 recipient row(s) anonymised (1 unsent one(s) cancelled)" in response.content.decode()
    assert_counters_match_recount(campaign)
    assert Suppression.objects.filter(phone__in=[sent.phone, pending.phone], reason=Reason.ERASURE).count() == 2

    # The numbers come back in a file, one even opts in again: the campaign still never messages them twice.
    reimport(sent.phone, pending.phone)
    assert set(
        Contact.objects.filter(phone__in=[sent.phone, pending.phone]).values_list("subscription", flat=True)
    ) == {Contact.Subscription.UNSUBSCRIBED}
    contact_resubscribe(phone=sent.phone, reason=Reason.KEYWORD, at=START + DAY)
    assert campaign_top_up(campaign=campaign, now=START + DAY).recipients_added == 0
    batch_send(now=START + DAY)
    sends = sent_to(cloud_sandbox)
    assert (sends[sent.phone], sends[pending.phone], sends[last.phone]) == (1, 0, 1)
    assert cloud_sandbox.wait_idle(timeout=30)
    assert_counters_match_recount(campaign)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_deleting_an_unsubscribed_contact_and_reimporting_the_phone_keeps_it_unsubscribed(cloud_sandbox, admin_client):
    campaign = running_campaign(2, tag="spring")
    ann = Contact.objects.order_by("pk").first()
    contact_unsubscribe(phone=ann.phone, reason=Reason.KEYWORD, at=START)
    response = admin_client.post(reverse("admin:audiences_contact_delete", args=[ann.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=ann.pk).exists()
    assert Suppression.objects.get(phone=ann.phone).reason == Reason.KEYWORD  # the first opt-out stands

    reimport(ann.phone)
    again = Contact.objects.get(phone=ann.phone)
    assert (again.subscription, again.subscription_reason) == (Contact.Subscription.UNSUBSCRIBED, Reason.KEYWORD)
    assert campaign_top_up(campaign=campaign, now=START).recipients_added == 0
    other = CampaignFactory(audience=AudienceFactory(rules={"include_tags": ["spring"]}), start_at=START)
    campaign_activate(campaign=other, now=START)
    batch_send(now=START)
    assert sent_to(cloud_sandbox)[ann.phone] == 0 and len(cloud_sandbox.accepted) == 2
    assert cloud_sandbox.wait_idle(timeout=30)
    assert_counters_match_recount(campaign)
    assert_counters_match_recount(other)
