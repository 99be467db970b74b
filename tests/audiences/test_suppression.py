"""Promise 8: an opt-out belongs to the phone number, kept in a suppression list and checked at claim time.

It survives contact edits, deletion and re-import; only an explicit opt-in
lifts it. The tests marked `postgres` reproduce issue 12's findings 1 and 2
against a real HTTP server (the Cloud API sandbox) that counts every send.
"""

import datetime as dt
import io
import urllib.request
from collections import Counter

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from audiences.models import Contact, Suppression
from audiences.services import (
    contact_resubscribe,
    contact_save,
    contact_unsubscribe,
    contacts_import,
    contacts_set_subscription,
)
from campaigns.batch import batch_send
from campaigns.models import Recipient
from campaigns.services import TestSendError as SendTestError
from campaigns.services import campaign_retry_failed, campaign_send_test, campaign_top_up
from tests.campaigns.helpers import START, assert_counters_match_recount, running_campaign
from tests.factories.audiences import ContactFactory, TagFactory
from tests.whatsapp import payloads as p
from whatsapp.backends.locmem import LocmemBackend

pytestmark = pytest.mark.django_db
R = Recipient.Status
Reason = Contact.SubscriptionReason
HOUR = dt.timedelta(hours=1)
NEW_PHONE = "+14155550999"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.WHATSAPP_DAILY_LIMIT = 100
    settings.WHATSAPP_MAX_MPS = 0
    LocmemBackend.reset()
    yield
    LocmemBackend.reset()


def suppressed(phone: str) -> bool:
    return Suppression.objects.filter(phone=phone).exists()


def subscription(phone: str) -> str:
    return Contact.objects.get(phone=phone).subscription


def sent_to(sandbox) -> Counter:
    """Every send the sandbox accepted, by E.164 phone."""
    return Counter("+" + message["to"] for message in sandbox.accepted)


def post_webhook_over_http(live_server, settings, value, *, field="messages") -> None:
    """A signed webhook POST to the live server, as Meta sends it."""
    raw = p.body(value, field=field)
    request = urllib.request.Request(  # noqa: S310 (the test's own live server)
        f"{live_server.url}/whatsapp/webhook/",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": p.signature(raw, settings.WHATSAPP_APP_SECRET),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def admin_edit_phone(client, contact: Contact, phone: str):
    form = {"phone": phone, "name": contact.name, "first_name": contact.first_name, "language": "en_US"}
    return client.post(reverse("admin:audiences_contact_change", args=[contact.pk]), {**form, "attributes": "{}"})


def import_csv(text: str, **kwargs):
    return contacts_import(file=io.BytesIO(text.encode()), now=START, **kwargs)


# --- Every opt-out path writes the suppression; the contact follows it --------------------------------------------


def post_webhook(client, settings, value, *, field="messages"):
    """A signed POST through the test client; its processing task (enqueued on commit) runs before returning."""
    from django.test import TestCase

    raw = p.body(value, field=field)
    headers = {"X-Hub-Signature-256": p.signature(raw, settings.WHATSAPP_APP_SECRET)}
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.generic(
            "POST", reverse("whatsapp:webhook"), raw, content_type="application/json", headers=headers
        )
    assert response.status_code == 200


def test_every_opt_out_path_suppresses_the_phone_with_reason_time_and_source(admin_client, client, settings):
    keyword, button, preference, by_admin, in_file = ContactFactory.create_batch(5)
    wa_id = {c.pk: c.phone.lstrip("+") for c in (keyword, button, preference)}
    post_webhook(client, settings, p.text_message(wa_id[keyword.pk], "STOP"))
    post_webhook(client, settings, p.button_message(wa_id[button.pk], "Stop promotions", "Stop promotions"))
    post_webhook(client, settings, p.user_preferences_value(wa_id[preference.pk], "stop"), field="user_preferences")
    failed = p.status("wamid.F", "failed", recipient="14155550777", errors=[p.error(131050, "Unable to deliver")])
    post_webhook(client, settings, p.statuses_value(failed))  # a number with no contact yet
    url = reverse("admin:audiences_contact_changelist")
    admin_client.post(url, {"action": "unsubscribe_selected", ACTION_CHECKBOX_NAME: [by_admin.pk], "confirm": "yes"})
    import_csv(f"phone,subscribed\n{in_file.phone},no\n+14155550778,no\n")

    rows = {s.phone: s for s in Suppression.objects.all()}
    assert {phone: row.reason for phone, row in rows.items()} == {
        keyword.phone: Reason.KEYWORD,
        button.phone: Reason.KEYWORD,
        preference.phone: Reason.USER_PREFERENCES,
        "+14155550777": Reason.API_ERROR_131050,
        by_admin.phone: Reason.ADMIN,
        in_file.phone: Reason.IMPORT,
        "+14155550778": Reason.IMPORT,
    }
    assert rows[keyword.phone].source == "whatsapp: inbound keyword"
    assert rows[keyword.phone].suppressed_at.timestamp() == 1751800100  # the message's own time
    assert (rows[by_admin.phone].source, rows[in_file.phone].suppressed_at) == ("admin: admin", START)
    # The contact column follows, in the same transaction.
    assert not Contact.objects.filter(phone__in=rows, subscription=Contact.Subscription.SUBSCRIBED).exists()
    assert Contact.objects.filter(phone__in=rows).count() == 7


def test_an_opt_out_in_a_file_is_recorded_even_without_update():
    ann = ContactFactory()
    result = import_csv(f"phone,subscribed\n{ann.phone},no\n")
    assert result.summary == "created=0 updated=1 unchanged=0 invalid=0"
    assert suppressed(ann.phone) and subscription(ann.phone) == Contact.Subscription.UNSUBSCRIBED


def test_a_second_opt_out_keeps_the_first_ones_time_and_reason():
    ann = ContactFactory()
    assert contact_unsubscribe(phone=ann.phone, reason=Reason.KEYWORD, at=START) is True
    assert contact_unsubscribe(phone=ann.phone, reason=Reason.API_ERROR_131050, at=START + HOUR) is False
    row = Suppression.objects.get(phone=ann.phone)
    assert (row.reason, row.suppressed_at) == (Reason.KEYWORD, START)


def test_an_import_is_not_an_opt_in():
    with pytest.raises(ValueError, match="not an explicit opt-in"):
        contact_resubscribe(phone="+14155550123", reason=Reason.IMPORT, at=START)
    with pytest.raises(ValueError, match="not an explicit opt-in"):
        contacts_set_subscription(contacts=Contact.objects.all(), subscribed=True, reason=Reason.IMPORT, at=START)


def test_a_new_contact_of_a_suppressed_phone_is_saved_unsubscribed(admin_client):
    contact_unsubscribe(phone=NEW_PHONE, reason=Reason.KEYWORD, at=START)
    Contact.objects.filter(phone=NEW_PHONE).delete()  # a raw delete: the suppression stays regardless
    response = admin_client.post(
        reverse("admin:audiences_contact_add"),
        {"phone": NEW_PHONE, "name": "Ann", "first_name": "", "language": "en_US", "attributes": "{}"},
        follow=True,
    )
    assert "is on the suppression list" in response.content.decode()
    contact = Contact.objects.get(phone=NEW_PHONE)
    assert (contact.subscription, contact.subscription_reason) == (Contact.Subscription.UNSUBSCRIBED, Reason.KEYWORD)


def test_a_test_send_refuses_a_suppressed_phone_even_without_a_contact():
    campaign = running_campaign(1)
    contact_unsubscribe(phone=NEW_PHONE, reason=Reason.KEYWORD, at=START)
    Contact.objects.filter(phone=NEW_PHONE).delete()
    with pytest.raises(SendTestError, match="has unsubscribed"):
        campaign_send_test(campaign=campaign, phone=NEW_PHONE, now=START)


def test_the_suppression_list_is_read_only_in_the_admin(admin_client):
    contact_unsubscribe(phone=NEW_PHONE, reason=Reason.KEYWORD, at=START)
    row = Suppression.objects.get()
    changelist = admin_client.get(reverse("admin:audiences_suppression_changelist"), {"q": "(415) 555-0999"})
    assert list(changelist.context["cl"].result_list) == [row]
    assert admin_client.get(reverse("admin:audiences_suppression_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:audiences_suppression_delete", args=[row.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert suppressed(NEW_PHONE)


def test_the_migration_backfills_the_suppression_list_from_unsubscribed_contacts():
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("audiences.migrations.0004_suppression")
    Contact.objects.create(phone="+14155550101", subscription="unsubscribed", subscription_reason="keyword",
                           subscription_changed_at=START)  # fmt: skip
    Contact.objects.create(phone="+14155550102")

    def execute(sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    migration.backfill(apps, SimpleNamespace(connection=connection, execute=execute))
    assert list(Suppression.objects.values_list("phone", "reason", "suppressed_at")) == [
        ("+14155550101", "keyword", START)
    ]


# --- A phone edit: unsent recipients move, the subscription follows the new phone ---------------------------------


def test_a_phone_edit_moves_pending_recipients_and_cancels_where_the_campaign_has_the_new_phone():
    first = running_campaign(1, tag="a")
    ann = Contact.objects.get()
    ann.tags.add(TagFactory(name="b"))
    other = ContactFactory(phone=NEW_PHONE, tags=["b"])
    second = running_campaign(0, tag="b")
    other.delete()  # its row stays, unlinked: the second campaign already has NEW_PHONE

    ann.phone = NEW_PHONE
    saved = contact_save(contact=ann, now=START + HOUR)
    assert (saved.moved, saved.cancelled) == (1, 1)
    assert Recipient.objects.get(campaign=first).phone == NEW_PHONE
    assert Recipient.objects.get(campaign=second, contact=ann).status == R.CANCELLED
    assert_counters_match_recount(first)
    assert_counters_match_recount(second)


def test_a_phone_edit_leaves_queued_and_sent_rows_on_the_number_they_went_to():
    campaign = running_campaign(2)
    batch_send(now=START)
    ann = Contact.objects.order_by("pk").first()
    old = ann.phone
    ann.phone = NEW_PHONE
    assert contact_save(contact=ann, now=START + HOUR).moved == 0
    assert Recipient.objects.get(campaign=campaign, contact=ann).phone == old


def test_the_subscription_follows_the_new_phones_suppression():
    ann = ContactFactory()
    contact_unsubscribe(phone=NEW_PHONE, reason=Reason.KEYWORD, at=START)
    Contact.objects.filter(phone=NEW_PHONE).delete()
    old = ann.phone
    ann.phone = NEW_PHONE
    assert contact_save(contact=ann, now=START + HOUR).followed
    assert subscription(NEW_PHONE) == Contact.Subscription.UNSUBSCRIBED
    ann.phone = "+14155550998"  # a number that never opted out
    contact_save(contact=ann, now=START + 2 * HOUR)
    ann.refresh_from_db()
    assert (ann.subscription, ann.subscription_reason) == (Contact.Subscription.SUBSCRIBED, Reason.ADMIN)
    assert suppressed(NEW_PHONE) and not suppressed(old)  # edits never move or lift a number's opt-out


def test_an_edit_never_overwrites_an_opt_out_that_arrived_meanwhile():
    ann = ContactFactory()
    form_copy = Contact.objects.get(pk=ann.pk)  # loaded by the admin's form
    contact_unsubscribe(phone=ann.phone, reason=Reason.KEYWORD, at=START)
    form_copy.name = "Ann Lee"
    contact_save(contact=form_copy, now=START + HOUR)
    assert subscription(ann.phone) == Contact.Subscription.UNSUBSCRIBED
    assert form_copy.subscription == Contact.Subscription.UNSUBSCRIBED


# --- The claim ----------------------------------------------------------------------------------------------------


def test_the_claim_leaves_out_a_suppressed_phone_whatever_its_contact_says():
    campaign = running_campaign(2)
    row = Recipient.objects.filter(campaign=campaign).order_by("position").first()
    Suppression.objects.create(phone=row.phone, reason=Reason.KEYWORD, suppressed_at=START)  # contact still subscribed
    result = batch_send(now=START)
    assert (result.sent, result.skipped) == (1, 1)
    assert row.phone not in [m["to"] for m in LocmemBackend.outbox]
    assert Recipient.objects.get(pk=row.pk).status == R.SKIPPED
    assert_counters_match_recount(campaign)


def test_a_failed_row_retried_after_a_phone_edit_is_not_sent_to_the_old_number():
    from campaigns import lifecycle

    campaign = running_campaign(1)
    ann = Contact.objects.get()
    old = ann.phone
    row = Recipient.objects.get(campaign=campaign)
    lifecycle.recipients_move(campaign_id=campaign.pk, ids=[row.pk], old=R.PENDING, new=R.QUEUED)
    lifecycle.recipients_move(campaign_id=campaign.pk, ids=[row.pk], old=R.QUEUED, new=R.FAILED, failed_at=START)
    ann.phone = NEW_PHONE
    contact_save(contact=ann, now=START)
    campaign_retry_failed(campaign=campaign, now=START)
    assert (batch_send(now=START).sent, LocmemBackend.outbox) == (0, [])
    assert Recipient.objects.get(pk=row.pk).status == R.SKIPPED and not suppressed(old)
    assert_counters_match_recount(campaign)


# --- Finding 1 on PostgreSQL, sends counted at the sandbox ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_stop_from_old_number_after_phone_edit_is_never_sent(cloud_sandbox, admin_client, live_server, settings):
    campaign = running_campaign(3)
    ann = Contact.objects.order_by("pk").first()
    old = ann.phone
    response = admin_edit_phone(admin_client, ann, NEW_PHONE)
    assert response.status_code == 302
    post_webhook_over_http(live_server, settings, p.text_message(old.lstrip("+"), "STOP"))
    assert suppressed(old)

    result = batch_send(now=START)
    sends = sent_to(cloud_sandbox)
    assert sends[old] == 0
    assert sends[NEW_PHONE] == 1 and sum(sends.values()) == result.sent == 3
    assert subscription(NEW_PHONE) == Contact.Subscription.SUBSCRIBED
    assert cloud_sandbox.wait_idle(timeout=30)
    assert_counters_match_recount(campaign)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_claim_checks_the_rows_own_phone_not_the_contacts(cloud_sandbox, live_server, settings):
    """Issue 12's finding 1 as reported: the row keeps the old phone while its contact moved on."""
    campaign = running_campaign(2)
    ann = Contact.objects.order_by("pk").first()
    old = ann.phone
    Contact.objects.filter(pk=ann.pk).update(phone=NEW_PHONE)  # an edit that bypassed contact_save
    post_webhook_over_http(live_server, settings, p.text_message(old.lstrip("+"), "STOP"))

    result = batch_send(now=START)
    assert sent_to(cloud_sandbox)[old] == 0
    assert (result.sent, result.skipped) == (1, 1)
    assert Recipient.objects.get(campaign=campaign, phone=old).status == R.SKIPPED
    assert cloud_sandbox.wait_idle(timeout=30)
    assert_counters_match_recount(campaign)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_retried_row_on_the_old_number_is_not_sent_after_its_stop(cloud_sandbox, admin_client, live_server, settings):
    """A failed row keeps the number it failed on; after a phone edit and a STOP there, "Retry failed" skips it."""
    from campaigns import lifecycle

    campaign = running_campaign(1)
    ann = Contact.objects.get()
    old = ann.phone
    row = Recipient.objects.get(campaign=campaign)
    lifecycle.recipients_move(campaign_id=campaign.pk, ids=[row.pk], old=R.PENDING, new=R.QUEUED)
    lifecycle.recipients_move(campaign_id=campaign.pk, ids=[row.pk], old=R.QUEUED, new=R.FAILED, failed_at=START)
    assert admin_edit_phone(admin_client, ann, NEW_PHONE).status_code == 302
    post_webhook_over_http(live_server, settings, p.text_message(old.lstrip("+"), "STOP"))
    campaign_retry_failed(campaign=campaign, now=START)

    assert batch_send(now=START).sent == 0
    assert not cloud_sandbox.accepted
    assert Recipient.objects.get(pk=row.pk).status == R.SKIPPED
    assert cloud_sandbox.wait_idle(timeout=30)
    assert_counters_match_recount(campaign)


# --- Re-import, import, opt-in on PostgreSQL, sends counted at the sandbox ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("update", [False, True])
def test_an_import_never_lifts_a_suppression(cloud_sandbox, live_server, settings, update):
    campaign = running_campaign(2, tag="spring")
    ann = Contact.objects.order_by("pk").first()
    post_webhook_over_http(live_server, settings, p.text_message(ann.phone.lstrip("+"), "STOP"))
    result = import_csv(f"phone,name,subscribed,tags\n{ann.phone},Ann,yes,spring\n", update=update)
    assert result.invalid == []
    assert suppressed(ann.phone) and subscription(ann.phone) == Contact.Subscription.UNSUBSCRIBED

    batch_send(now=START)
    assert sent_to(cloud_sandbox)[ann.phone] == 0 and len(cloud_sandbox.accepted) == 1
    assert cloud_sandbox.wait_idle(timeout=30)
    assert_counters_match_recount(campaign)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("opt_in", ["start", "resume", "admin"])
def test_an_explicit_opt_in_lifts_the_suppression(cloud_sandbox, admin_client, live_server, settings, opt_in):
    ann = ContactFactory(tags=["spring"])
    contact_unsubscribe(phone=ann.phone, reason=Reason.KEYWORD, at=START - HOUR)
    campaign = running_campaign(1, tag="spring")
    assert not Recipient.objects.filter(phone=ann.phone).exists()  # not in any audience while suppressed

    wa_id = ann.phone.lstrip("+")
    if opt_in == "start":
        post_webhook_over_http(live_server, settings, p.text_message(wa_id, "START"))
    elif opt_in == "resume":
        value = p.user_preferences_value(wa_id, "resume")
        post_webhook_over_http(live_server, settings, value, field="user_preferences")
    else:
        url = reverse("admin:audiences_contact_changelist")
        data = {"action": "resubscribe_selected", ACTION_CHECKBOX_NAME: [ann.pk], "confirm": "yes"}
        admin_client.post(url, data)
        entry = LogEntry.objects.get(object_id=str(ann.pk))
        assert entry.get_change_message() == "Resubscribed (admin action)"  # an operator's logged action
    assert not suppressed(ann.phone)
    assert subscription(ann.phone) == Contact.Subscription.SUBSCRIBED

    assert campaign_top_up(campaign=campaign, now=START).recipients_added == 1
    batch_send(now=START)
    assert sent_to(cloud_sandbox)[ann.phone] == 1
    assert cloud_sandbox.wait_idle(timeout=30)
    assert_counters_match_recount(campaign)
