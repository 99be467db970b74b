"""Opt-out and opt-in from WhatsApp: keywords, the marketing-stop button, user_preferences, error 131050."""

import pytest

from audiences.models import Contact
from tests.factories.audiences import ContactFactory
from tests.whatsapp import payloads as p

pytestmark = pytest.mark.django_db

PHONE = "+14155550123"
WA_ID = "14155550123"


def contact():
    return Contact.objects.get(phone=PHONE)


@pytest.mark.parametrize("text", ["STOP", "  stop ", "Stop   Promotions", "unsubscribe"])
def test_stop_keyword_unsubscribes_the_contact(post_webhook, text):
    ContactFactory(phone=PHONE)
    assert post_webhook(p.body(p.text_message(WA_ID, text))).status_code == 200
    assert contact().subscription == Contact.Subscription.UNSUBSCRIBED
    assert contact().subscription_reason == "keyword"


def test_ordinary_text_changes_only_the_last_inbound_time(post_webhook):
    ContactFactory(phone=PHONE)
    post_webhook(p.body(p.text_message(WA_ID, "stop sending me the wrong size please")))
    assert contact().subscription == Contact.Subscription.SUBSCRIBED
    assert contact().last_inbound_at is not None
    assert contact().last_inbound_at.timestamp() == 1751800100


def test_last_inbound_time_never_moves_backwards(post_webhook):
    ContactFactory(phone=PHONE)
    post_webhook(p.body(p.text_message(WA_ID, "later", timestamp="1751800500", message_id="wamid.2")))
    post_webhook(p.body(p.text_message(WA_ID, "earlier", timestamp="1751800100", message_id="wamid.1")))
    assert contact().last_inbound_at.timestamp() == 1751800500


def test_the_marketing_stop_button_unsubscribes(post_webhook):
    ContactFactory(phone=PHONE)
    post_webhook(p.body(p.button_message(WA_ID, "Stop promotions", "Stop promotions")))
    assert contact().subscription == Contact.Subscription.UNSUBSCRIBED


def test_start_keyword_resubscribes(post_webhook):
    ContactFactory(phone=PHONE, subscription=Contact.Subscription.UNSUBSCRIBED)
    post_webhook(p.body(p.text_message(WA_ID, "start")))
    assert contact().subscription == Contact.Subscription.SUBSCRIBED


def test_user_preferences_stop_and_resume(post_webhook):
    ContactFactory(phone=PHONE)
    post_webhook(p.body(p.user_preferences_value(WA_ID, "stop"), field="user_preferences"))
    assert (contact().subscription, contact().subscription_reason) == (
        Contact.Subscription.UNSUBSCRIBED,
        "user_preferences",
    )
    post_webhook(p.body(p.user_preferences_value(WA_ID, "resume", timestamp="1751800900"), field="user_preferences"))
    assert contact().subscription == Contact.Subscription.SUBSCRIBED


def test_error_131050_unsubscribes_even_an_unknown_phone(post_webhook):
    failed = p.status("wamid.F", "failed", recipient=WA_ID, errors=[p.error(131050, "Unable to deliver")])
    post_webhook(p.body(p.statuses_value(failed)))
    assert (contact().subscription, contact().subscription_reason) == (
        Contact.Subscription.UNSUBSCRIBED,
        "api_error_131050",
    )


def test_a_replayed_stop_changes_nothing_more(post_webhook):
    ContactFactory(phone=PHONE)
    raw = p.body(p.text_message(WA_ID, "STOP"))
    post_webhook(raw)
    changed_at = contact().subscription_changed_at
    post_webhook(raw)
    assert contact().subscription_changed_at == changed_at
