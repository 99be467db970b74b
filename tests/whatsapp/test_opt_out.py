"""Opt-out and opt-in from WhatsApp: keywords, the marketing-stop button, user_preferences, error 131050."""

import pytest

from audiences.models import Contact
from campaigns.batch import batch_send
from campaigns.models import Recipient
from campaigns.services import campaign_activate
from tests.factories.audiences import AudienceFactory, ContactFactory
from tests.factories.campaigns import CampaignFactory
from tests.whatsapp import payloads as p
from whatsapp.backends.locmem import LocmemBackend
from whatsapp.keywords import normalise_keyword

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


# --- keywords as people type them (whatsapp/keywords.py) ---------------------

INVISIBLE = "\u200b"  # a zero-width space, as some keyboards and copy-pastes add


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("Stop.", "stop"),
        (f"STOP{INVISIBLE}", "stop"),
        ("stop!!", "stop"),
        ("Arrêt", "arret"),
        ("ＳＴＯＰ", "stop"),  # full-width letters
        ("S.T.O.P", "stop"),
        ("\ufeffst\u200dop\u2060", "stop"),  # BOM, zero-width joiner, word joiner
        ("stop 🛑", "stop"),
        ("¡Baja!", "baja"),
        ("stop-promotions", "stop promotions"),
        ("  Stop \n\t Promotions  ", "stop promotions"),
        ("Dar   de baja", "dar de baja"),
        ("DÉSABONNER", "desabonner"),
        ("Отписаться", "отписаться"),
        ("", ""),
        (None, ""),
    ],
)
def test_keywords_are_compared_after_unicode_normalisation(typed, normalised):
    assert normalise_keyword(typed) == normalised


@pytest.mark.parametrize(
    "text",
    [
        "Stop.",
        f"STOP{INVISIBLE}",
        "stop!!",
        "Arrêt",
        "arret",
        "ＳＴＯＰ",
        "Stop promotions",
        "Cancel",
        "PARAR",
        "Pare",
        "baja",
        "Dar de baja",
        "¡Alto!",
        "Cancelar",
        "Sair",
        "Descadastrar",
        "STOPP",
        "Abmelden",
        "Berhenti",
        "СТОП",
    ],
)
def test_stop_in_the_main_markets_languages_unsubscribes(post_webhook, text):
    ContactFactory(phone=PHONE)
    post_webhook(p.body(p.text_message(WA_ID, text)))
    assert (contact().subscription, contact().subscription_reason) == (Contact.Subscription.UNSUBSCRIBED, "keyword")


@pytest.mark.parametrize(
    "text",
    [
        "stop sending me the wrong size please",
        "Quiero dar de baja mi pedido",  # a keyword inside a sentence is a customer talking
        "El precio es muy alto",
        "Não pare de mandar ofertas!",
        "Can I cancel my order?",
        "No",
        "Yes",
        "OK 👍",
        "🛑",
        "...",
    ],
)
def test_a_keyword_inside_a_sentence_or_an_ordinary_reply_changes_nothing(post_webhook, text):
    ContactFactory(phone=PHONE)
    post_webhook(p.body(p.text_message(WA_ID, text)))
    assert contact().subscription == Contact.Subscription.SUBSCRIBED


@pytest.mark.parametrize("text", ["Start!", "ＳＴＡＲＴ", "subscribe.", "Alta", f"start{INVISIBLE}"])
def test_start_variants_resubscribe(post_webhook, text):
    ContactFactory(phone=PHONE, subscription=Contact.Subscription.UNSUBSCRIBED)
    post_webhook(p.body(p.text_message(WA_ID, text)))
    assert contact().subscription == Contact.Subscription.SUBSCRIBED


def test_the_keyword_lists_come_from_settings(post_webhook, settings):
    settings.WHATSAPP_OPT_OUT_KEYWORDS = ["Halt", "Nicht mehr"]
    ContactFactory(phone=PHONE)
    post_webhook(p.body(p.text_message(WA_ID, "STOP", message_id="wamid.1")))
    assert contact().subscription == Contact.Subscription.SUBSCRIBED
    post_webhook(p.body(p.text_message(WA_ID, "nicht  mehr!", message_id="wamid.2")))
    assert contact().subscription == Contact.Subscription.UNSUBSCRIBED


@pytest.mark.parametrize("text", ["Stop.", f"STOP{INVISIBLE}"])
def test_a_stop_with_punctuation_or_an_invisible_character_is_never_messaged_again(post_webhook, text):
    """The finding: these two once left the contact subscribed, and the next batch messaged it."""
    ContactFactory(phone=PHONE, tags=["stop-test"])
    other = ContactFactory(tags=["stop-test"])
    campaign = CampaignFactory(audience=AudienceFactory(rules={"include_tags": ["stop-test"]}))
    campaign_activate(campaign=campaign, now=campaign.start_at)

    assert post_webhook(p.body(p.text_message(WA_ID, text))).status_code == 200
    result = batch_send(now=campaign.start_at)

    assert contact().subscription == Contact.Subscription.UNSUBSCRIBED
    assert [message["to"] for message in LocmemBackend.outbox] == [other.phone]
    assert (result.sent, result.skipped) == (1, 1)
    assert Recipient.objects.get(campaign=campaign, phone=PHONE).status == Recipient.Status.SKIPPED


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
