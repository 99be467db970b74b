"""The signed webhook: Meta's GET check, POST validation (Promise 7), storage before processing (Promise 6), events."""

import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from tests.whatsapp import payloads as p
from whatsapp import signals
from whatsapp.errors import ErrorKind
from whatsapp.models import WebhookEvent
from whatsapp.services import webhook_event_replay
from whatsapp.webhooks import WhatsAppWebhookView

pytestmark = pytest.mark.django_db


# --- GET: subscription verification -----------------------------------------------------------------------------
def test_verify_echoes_the_challenge_for_the_right_token(client):
    response = client.get(
        reverse("whatsapp:webhook"),
        {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_verify_refuses_anything_else_with_403(client, params):
    response = client.get(reverse("whatsapp:webhook"), params)
    assert response.status_code == 403
    assert b"1" not in response.content


# --- POST: bad input is refused and changes nothing ------------------------------------------------------------
def test_missing_signature_is_401_and_nothing_is_stored(post_webhook, received):
    response = post_webhook(p.body(p.statuses_value(p.status("wamid.A", "sent"))), signature=False)
    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0
    assert received.events == []


@pytest.mark.parametrize("secret", ["another-secret", ""])
def test_wrong_signature_is_403_and_nothing_is_stored(post_webhook, received, secret):
    response = post_webhook(p.body(p.statuses_value(p.status("wamid.A", "sent"))), secret=secret)
    assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0
    assert received.events == []


def test_signature_of_another_body_is_403(post_webhook):
    raw = p.body(p.statuses_value(p.status("wamid.A", "sent")))
    response = post_webhook(raw, signature=p.signature(raw + b" "))
    assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0


def test_bad_json_is_400_and_nothing_is_stored(post_webhook, received):
    response = post_webhook(b'{"object": "whatsapp_business_account", "entry": [')
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0
    assert received.events == []


def test_json_that_is_not_an_object_is_400(post_webhook):
    assert post_webhook(b"[1, 2]").status_code == 400


def test_oversized_body_is_413_and_nothing_is_stored(post_webhook, received, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 200
    raw = p.body(*[p.statuses_value(p.status(f"wamid.{i}", "sent")) for i in range(5)])
    assert len(raw) > 200
    response = post_webhook(raw)
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0
    assert received.events == []


def test_declared_length_over_the_limit_is_413_before_reading(post_webhook, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 1000
    raw = p.body(p.statuses_value(p.status("wamid.A", "sent")))
    response = post_webhook(raw, CONTENT_LENGTH="5000000")
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_body_at_the_limit_is_accepted(post_webhook, settings):
    raw = p.body(p.statuses_value(p.status("wamid.A", "sent")))
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = len(raw)
    assert post_webhook(raw).status_code == 200


def test_a_thousand_statuses_fit_in_the_default_limit(post_webhook, received, settings):
    statuses = [p.status(f"wamid.{i:040d}", "delivered", tracker=f"r:{i}") for i in range(1000)]
    raw = p.body(p.statuses_value(*statuses))
    assert len(raw) < settings.WHATSAPP_WEBHOOK_MAX_BYTES
    assert post_webhook(raw).status_code == 200
    assert len(received.of("status")) == 1000


def test_get_and_post_only(client):
    assert client.put(reverse("whatsapp:webhook"), b"{}").status_code == 405


# --- POST: stored first, then normalised --------------------------------------------------------------------------
def test_every_status_of_every_entry_and_change_becomes_one_event(post_webhook, received):
    raw = p.body(
        entries=[
            [
                p.statuses_value(p.status("wamid.A", "sent", tracker="r:1"), p.status("wamid.B", "delivered")),
                p.statuses_value(p.status("wamid.C", "read", timestamp="1751800999")),
            ],
            [p.statuses_value(p.status("wamid.A", "delivered", tracker="r:1"))],
        ]
    )
    response = post_webhook(raw)

    assert response.status_code == 200
    statuses = received.of("status")
    assert [(e.message_id, e.status) for e in statuses] == [
        ("wamid.A", "sent"),
        ("wamid.B", "delivered"),
        ("wamid.C", "read"),
        ("wamid.A", "delivered"),
    ]
    first = statuses[0]
    assert first.tracker == "r:1"
    assert first.recipient == "14155550123"
    assert first.timestamp == datetime(2025, 7, 6, 11, 6, 40, tzinfo=UTC)
    assert first.phone_number_id == p.PHONE_NUMBER_ID
    assert (first.pricing.category, first.pricing.type, first.pricing.pricing_model) == ("marketing", "regular", "PMP")
    assert first.raw["id"] == "wamid.A"
    assert statuses[1].tracker is None
    assert set(received.senders) == {WhatsAppWebhookView}

    event = WebhookEvent.objects.get()
    assert bytes(event.body) == raw
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.processed_at is not None
    assert event.event_count == 4
    assert event.error == ""


def test_failed_status_carries_its_errors_and_the_operator_reason(post_webhook, received):
    failed = p.status(
        "wamid.F",
        "failed",
        errors=[p.error(131026, "Message undeliverable", "Message undeliverable", "Receiver is incapable")],
    )
    post_webhook(p.body(p.statuses_value(failed)))
    (event,) = received.of("status")
    assert event.status == "failed"
    assert event.errors[0].code == 131026
    assert event.errors[0].kind == ErrorKind.PERMANENT
    assert event.errors[0].reason == (
        "Error 131026: Message undeliverable - Message undeliverable (Receiver is incapable)"
    )


def test_failed_status_without_its_own_errors_takes_the_value_errors(post_webhook, received):
    value = p.statuses_value(
        p.status("wamid.F", "failed"), errors=[p.error(131049, "This message was not delivered", details="ecosystem")]
    )
    post_webhook(p.body(value))
    (event,) = received.of("status")
    assert [e.code for e in event.errors] == [131049]
    assert event.error.kind == ErrorKind.LATER


def test_missing_optional_fields_are_tolerated(post_webhook, received):
    bare = {"id": "wamid.M", "status": "delivered"}  # no timestamp, recipient, conversation, pricing, tracker
    no_id = {"status": "sent", "timestamp": "1751800000"}  # unusable: skipped, the rest still applies
    value = {"messaging_product": "whatsapp", "statuses": [bare, no_id]}  # no metadata either
    response = post_webhook(p.body(value, {"messaging_product": "whatsapp"}))
    assert response.status_code == 200
    (event,) = received.of("status")
    assert event.recipient == ""
    assert event.tracker is None
    assert event.errors == []
    assert event.timestamp == WebhookEvent.objects.get().received_at


def test_inbound_text_button_and_interactive_messages(post_webhook, received):
    raw = p.body(
        p.text_message("14155550123", "Hi there"),
        p.button_message("14155550124", "Stop promotions", "STOP_PROMOTIONS"),
        p.interactive_message("14155550125", "yes-please", "Yes please"),
    )
    assert post_webhook(raw).status_code == 200
    text, button, interactive = received.of("message")
    assert (text.type, text.sender, text.text, text.profile_name) == ("text", "14155550123", "Hi there", "Ana")
    assert (button.type, button.text, button.payload, button.context_message_id) == (
        "button",
        "Stop promotions",
        "STOP_PROMOTIONS",
        "wamid.OUT1",
    )
    assert (interactive.type, interactive.text, interactive.payload) == ("interactive", "Yes please", "yes-please")


def test_contact_known_only_by_user_id(post_webhook, received):
    value = {
        "messaging_product": "whatsapp",
        "metadata": p.METADATA,
        "contacts": [{"profile": {"name": "Bo"}, "user_id": "US.13491208655302741918"}],
        "messages": [
            {
                "from_user_id": "US.13491208655302741918",
                "id": "wamid.U1",
                "timestamp": "1751800000",
                "type": "text",
                "text": {"body": "hello"},
            }
        ],
    }
    assert post_webhook(p.body(value)).status_code == 200
    (event,) = received.of("message")
    assert event.sender == ""
    assert event.user_id == "US.13491208655302741918"
    assert event.profile_name == "Bo"
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_user_preferences_become_preference_events(post_webhook, received):
    raw = p.body(p.user_preferences_value("14155550123", "stop"), field="user_preferences")
    assert post_webhook(raw).status_code == 200
    (event,) = received.of("preference")
    assert (event.wa_id, event.category, event.value, event.is_stop) == (
        "14155550123",
        "marketing_messages",
        "stop",
        True,
    )


def test_other_objects_and_fields_produce_no_events_but_are_stored(post_webhook, received):
    raw = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_name": "x"}}
    ]}]}).encode()  # fmt: skip
    assert post_webhook(raw).status_code == 200
    assert received.events == []
    assert WebhookEvent.objects.get().event_count == 0


# --- handler errors: recorded on the stored body, replayable --------------------------------------------------
def test_handler_error_is_recorded_and_replay_applies_it(post_webhook, received):
    calls = []

    def flaky(sender, event, **kwargs):
        calls.append(event.message_id)
        if len(calls) == 1:
            raise RuntimeError("database went away")

    signals.status_received.connect(flaky, weak=False, dispatch_uid="test-flaky")
    try:
        raw = p.body(p.statuses_value(p.status("wamid.A", "sent"), p.status("wamid.B", "sent")))
        response = post_webhook(raw)
        assert response.status_code == 200  # answered once stored: processing is the task's, not Meta's retry
        stored = WebhookEvent.objects.get()
        assert stored.status == WebhookEvent.Status.FAILED
        assert "RuntimeError: database went away" in stored.error
        assert "wamid.A" in stored.error
        assert calls == ["wamid.A", "wamid.B"]  # the other event still applied

        assert webhook_event_replay(webhook_event=stored) is True
        stored.refresh_from_db()
        assert stored.status == WebhookEvent.Status.PROCESSED
        assert stored.error == ""
        assert stored.replay_count == 1
        assert calls == ["wamid.A", "wamid.B", "wamid.A", "wamid.B"]
    finally:
        signals.status_received.disconnect(dispatch_uid="test-flaky")
