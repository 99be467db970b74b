"""Real HTTP end to end: CloudAPIBackend -> the sandbox on a free port -> signed webhooks -> the live server."""

import time

import pytest
from django.urls import reverse

from whatsapp.models import WebhookEvent


def wait_for(predicate, timeout=15.0):
    """Poll the database (or anything) with a deadline, instead of sleeping a guessed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.django_db(transaction=True)
def test_a_send_through_the_sandbox_comes_back_as_signed_status_webhooks(live_server, sandbox, cloud_backend, received):
    server = sandbox(webhook_url=live_server.url + reverse("whatsapp:webhook"), read_rate=1.0, status_delay_ms=0)
    backend = cloud_backend(server)

    results = [
        backend.send_template(f"+1415555{n:04d}", "hello_world", "en_US", [], tracker=f"recipient:{n}")
        for n in range(3)
    ]
    assert server.wait_idle(timeout=15)
    assert all(status == 200 for status, _ in server.webhook_posts)

    statuses = received.of("status")
    by_message = {r.message_id: [e.status for e in statuses if e.message_id == r.message_id] for r in results}
    assert by_message == {r.message_id: ["sent", "delivered", "read"] for r in results}
    assert {e.tracker for e in statuses} == {"recipient:0", "recipient:1", "recipient:2"}
    assert {e.recipient for e in statuses} == {"14155550000", "14155550001", "14155550002"}
    stored = WebhookEvent.objects.all()
    assert stored.count() == len(server.webhook_posts)
    assert {event.status for event in stored} == {WebhookEvent.Status.PROCESSED}
    assert sum(event.event_count for event in stored) == 9


@pytest.mark.django_db(transaction=True)
def test_statuses_that_pile_up_arrive_several_per_post(live_server, sandbox, cloud_backend, received):
    server = sandbox(webhook_url=live_server.url + reverse("whatsapp:webhook"), read_rate=0.0, batch_wait_ms=100)
    backend = cloud_backend(server)
    for n in range(10):
        backend.send_template(f"+1415555{n:04d}", "hello_world", "en_US", [])
    assert server.wait_idle(timeout=15)
    assert len(received.of("status")) == 20
    assert max(count for _, count in server.webhook_posts) > 1


@pytest.mark.django_db(transaction=True)
def test_duplicated_and_shuffled_statuses_are_delivered_as_asked(live_server, sandbox, cloud_backend, received):
    server = sandbox(
        webhook_url=live_server.url + reverse("whatsapp:webhook"),
        read_rate=1.0,
        duplicate_rate=1.0,
        shuffle_rate=1.0,
        batch_wait_ms=100,
    )
    backend = cloud_backend(server)
    for n in range(5):
        backend.send_template(f"+1415555{n:04d}", "hello_world", "en_US", [])
    assert server.wait_idle(timeout=15)
    assert len(received.of("status")) == 30  # 5 messages x 3 statuses, each duplicated


@pytest.mark.django_db(transaction=True)
def test_a_timed_out_send_still_produces_its_webhooks(live_server, sandbox, cloud_backend, received):
    from whatsapp.errors import ErrorKind, WhatsAppError

    server = sandbox(webhook_url=live_server.url + reverse("whatsapp:webhook"), timeout_rate=1.0, hang_seconds=10)
    backend = cloud_backend(server, WHATSAPP_READ_TIMEOUT=0.3)
    with pytest.raises(WhatsAppError) as caught:
        backend.send_template("+14155550123", "hello_world", "en_US", [], tracker="recipient:9")
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert wait_for(lambda: any(e.status == "delivered" for e in received.of("status")))
    assert {e.tracker for e in received.of("status")} == {"recipient:9"}


@pytest.mark.django_db(transaction=True)
def test_inbound_text_from_the_sandbox_reaches_the_webhook(live_server, sandbox, received):
    server = sandbox(webhook_url=live_server.url + reverse("whatsapp:webhook"))
    assert server.post_inbound_text("+14155550123", "hello") == 200
    (event,) = received.of("message")
    assert (event.sender, event.text, event.type) == ("14155550123", "hello", "text")


@pytest.mark.django_db(transaction=True)
def test_failed_status_webhooks_carry_real_error_codes(live_server, sandbox, cloud_backend, received):
    server = sandbox(webhook_url=live_server.url + reverse("whatsapp:webhook"), fail_rate=1.0, seed=11)
    backend = cloud_backend(server)
    accepted = 0
    for n in range(40):
        try:
            backend.send_template(f"+1415555{n:04d}", "hello_world", "en_US", [])
            accepted += 1
        except Exception:  # noqa: S112 (the synchronous half of the failure mix)
            continue
    assert server.wait_idle(timeout=15)
    failed = [e for e in received.of("status") if e.status == "failed"]
    assert len(failed) == accepted > 0
    assert {e.errors[0].code for e in failed} <= {131026, 131049, 130472, 131050}
    assert all(e.errors[0].reason.startswith(f"Error {e.errors[0].code}: ") for e in failed)
