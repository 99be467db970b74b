"""Delivery by a real Celery worker over real HTTP: retries with backoff, attempts logged and shown, never blocking."""

import time

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services import campaign_pause
from outbound.models import Attempt, Delivery, Endpoint, EventType
from outbound.services import delivery_attempt, endpoint_ping, retry_delay
from tests.campaigns.helpers import START
from tests.factories.campaigns import CampaignFactory
from tests.factories.users import UserFactory
from tests.outbound.conftest import Answer, wait_until

C = Campaign.Status
D = Delivery.Status
BASE = 0.4  # OUTBOUND_RETRY_BASE_SECONDS in these tests: delays 0.2-0.4 s, then 0.8-1.6 s


@pytest.fixture
def fast_retries(settings):
    settings.OUTBOUND_RETRY_BASE_SECONDS = BASE
    settings.OUTBOUND_TIMEOUT = 2
    settings.OUTBOUND_CONNECT_TIMEOUT = 1


def pause_with_endpoint(receiver) -> Endpoint:
    hook = Endpoint.objects.create(url=receiver.url, event_types=[EventType.CAMPAIGN_PAUSED])
    campaign_pause(campaign=CampaignFactory(status=C.RUNNING), reason="by hand", now=START)
    return hook


def finished(delivery_status: str):
    def check():
        """the delivery is finished"""
        return Delivery.objects.filter(status=delivery_status).first()

    return check


def test_a_failing_endpoint_is_retried_with_backoff_and_its_attempts_are_shown(
    live_celery_worker, fast_retries, receiver, client
):
    receiver.answer(Answer(500, body=b"database is down"), Answer(200, body=b"thanks"))
    pause_with_endpoint(receiver)

    first, second = receiver.wait_for(2)
    delivery = wait_until(finished(D.SUCCEEDED))

    assert second.at - first.at >= BASE / 2  # the backoff's floor (half of it is jitter)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # one event, whatever the attempt
    assert first.body == second.body
    attempts = list(delivery.attempt_log.values_list("status_code", "response"))
    assert attempts == [(500, "database is down"), (200, "thanks")]
    # An operator sees each attempt on the delivery's page.
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:outbound_delivery_change", args=[delivery.pk])).content.decode()
    assert "database is down" in page and "thanks" in page and "500" in page


def test_an_endpoint_that_always_fails_is_given_up_after_the_last_attempt(
    live_celery_worker, fast_retries, receiver, settings
):
    settings.OUTBOUND_MAX_ATTEMPTS = 3
    receiver.answer(Answer(503))
    pause_with_endpoint(receiver)

    requests = receiver.wait_for(3)
    delivery = wait_until(finished(D.FAILED))

    gaps = [later.at - earlier.at for earlier, later in zip(requests, requests[1:], strict=False)]
    assert gaps[0] >= BASE / 2 and gaps[1] >= 4 * BASE / 2  # exponential: x4 per attempt, half jittered
    assert (delivery.attempts, delivery.last_status_code, delivery.next_attempt_at) == (3, 503, None)
    assert Attempt.objects.filter(delivery=delivery).count() == 3
    time.sleep(4 * 4 * BASE)  # longer than a fourth attempt's backoff: none comes
    assert len(receiver.requests) == 3


def test_a_slow_endpoint_does_not_block_the_caller(live_celery_worker, receiver, settings):
    settings.OUTBOUND_TIMEOUT = 10
    receiver.answer(Answer(200, delay=3))
    Endpoint.objects.create(url=receiver.url, event_types=[EventType.CAMPAIGN_PAUSED])
    campaign = CampaignFactory(status=C.RUNNING)

    started = time.monotonic()
    campaign_pause(campaign=campaign, reason="by hand", now=START)
    took = time.monotonic() - started

    assert took < 1
    receiver.wait_for(1)
    wait_until(finished(D.SUCCEEDED))


@pytest.mark.django_db
def test_client_errors_are_final_and_408_429_5xx_timeouts_are_retried(receiver, settings):
    settings.OUTBOUND_TIMEOUT = 0.5
    hook = Endpoint.objects.create(url=receiver.url, event_types=[])
    for answer, retried in [
        (Answer(400), False), (Answer(404), False), (Answer(410), False), (Answer(301), False),
        (Answer(408), True), (Answer(429), True), (Answer(502), True), (Answer(200, delay=1.5), True),
    ]:  # fmt: skip
        receiver.answer(answer)
        event = endpoint_ping(endpoint=hook, now=START)
        delivery = Delivery.objects.get(event=event)
        delay = delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
        delivery.refresh_from_db()
        assert (delay is not None, delivery.status) == (retried, D.PENDING if retried else D.FAILED), answer


@pytest.mark.django_db
def test_retry_after_is_respected(receiver):
    hook = Endpoint.objects.create(url=receiver.url, event_types=[])
    receiver.answer(Answer(429, headers={"Retry-After": "120"}))
    event = endpoint_ping(endpoint=hook, now=START)
    delivery = Delivery.objects.get(event=event)

    delay = delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)

    assert delay >= 120
    assert retry_delay(1) < 120  # without the header it would have come back sooner


@pytest.mark.django_db
def test_a_claimed_delivery_is_not_posted_twice(receiver):
    hook = Endpoint.objects.create(url=receiver.url, event_types=[])
    delivery = Delivery.objects.get(event=endpoint_ping(endpoint=hook, now=START))
    due = delivery.next_attempt_at

    delivery_attempt(delivery_id=delivery.pk, now=due)
    assert delivery_attempt(delivery_id=delivery.pk, now=due) is None  # succeeded: a duplicate task does nothing

    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_delivery_is_sent_again_from_the_admin(receiver, deliver_inline, admin_client):
    receiver.answer(Answer(404), Answer(200))
    hook = Endpoint.objects.create(url=receiver.url, event_types=[])
    endpoint_ping(endpoint=hook, now=START)
    delivery = wait_until(finished(D.FAILED))

    answer = admin_client.post(
        reverse("admin:outbound_delivery_changelist"), {"action": "resend", "_selected_action": [delivery.pk]}
    )

    assert answer.status_code == 302
    receiver.wait_for(2)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (D.SUCCEEDED, 1)
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [404, 200]


@pytest.mark.django_db(transaction=True)
def test_the_secret_never_appears_in_logs(receiver, deliver_inline, admin_client, caplog, client):
    caplog.set_level("DEBUG")
    receiver.answer(Answer(500), Answer(200))
    hook = Endpoint.objects.create(url=receiver.url, event_types=[EventType.CAMPAIGN_PAUSED])
    campaign_pause(campaign=CampaignFactory(status=C.RUNNING), reason="by hand", now=START)
    delivery = Delivery.objects.get()
    delivery_attempt(delivery_id=delivery.pk, now=time_after_retry(delivery))
    admin_client.post(
        reverse("admin:outbound_endpoint_changelist"), {"action": "send_ping", "_selected_action": [hook.pk]}
    )
    admin_client.post(
        reverse("admin:outbound_endpoint_change", args=[hook.pk]),
        {"url": receiver.url, "description": "CRM", "event_types": [EventType.CAMPAIGN_COMPLETED], "active": "on"},
    )
    admin_client.post(
        reverse("admin:outbound_endpoint_changelist"), {"action": "rotate_secret", "_selected_action": [hook.pk]}
    )
    rotated = Endpoint.objects.get().secret

    assert len(receiver.requests) == 3 and caplog.records
    for secret in (hook.secret, rotated):
        assert secret not in caplog.text
        assert secret.removeprefix("whsec_") not in caplog.text
        assert not LogEntry.objects.filter(change_message__contains=secret.removeprefix("whsec_")).exists()
    # Only a superuser sees it on the endpoint's page.
    assert rotated in admin_client.get(reverse("admin:outbound_endpoint_change", args=[hook.pk])).content.decode()
    staff = UserFactory(username="staff", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="outbound"))
    client.force_login(staff)
    page = client.get(reverse("admin:outbound_endpoint_change", args=[hook.pk]))
    assert page.status_code == 200 and rotated not in page.content.decode()


def time_after_retry(delivery: Delivery):
    delivery.refresh_from_db()
    return delivery.next_attempt_at


@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_a_delivery_whose_message_was_lost(receiver, deliver_inline, monkeypatch):
    import datetime as dt

    from django.utils import timezone

    from outbound import services
    from outbound.tasks import deliver_due_task

    hook = Endpoint.objects.create(url=receiver.url, event_types=[])
    with monkeypatch.context() as lost:
        lost.setattr(services, "deliveries_enqueue", lambda **kwargs: None)  # the broker loses the message
        endpoint_ping(endpoint=hook, now=START)
    assert receiver.requests == []
    Delivery.objects.update(next_attempt_at=timezone.now() - dt.timedelta(minutes=3))

    assert deliver_due_task.apply().get() == 1

    receiver.wait_for(1)
    assert Delivery.objects.get().status == D.SUCCEEDED
